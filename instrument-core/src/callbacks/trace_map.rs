//! `TraceMap`: which events of a trace started inside which.

use std::collections::BTreeMap;

/// The parent id of events started while no other (non-leaf) event of their trace is open.
pub const ROOT_EVENT_ID: &str = "root";

/// The shape of one trace: each parent event id with the ids of its children in start order, rooted
/// at [`ROOT_EVENT_ID`]. Handlers receive it in [`CallbackHandler::end_trace`].
///
/// [`CallbackHandler::end_trace`]: super::CallbackHandler::end_trace
///
/// ```
/// use instrument::callbacks::{TraceMap, ROOT_EVENT_ID};
///
/// let mut map = TraceMap::new();
/// map.push(ROOT_EVENT_ID, "query");
/// map.push("query", "retrieve");
/// map.push("query", "llm");
/// assert_eq!(map.roots(), ["query"]);
/// assert_eq!(map.children("query"), ["retrieve", "llm"]);
/// let walk: Vec<_> = map.depth_first().collect();
/// assert_eq!(walk, [(0, "query"), (1, "retrieve"), (1, "llm")]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct TraceMap(BTreeMap<String, Vec<String>>);

impl TraceMap {
    /// An empty map.
    #[must_use]
    pub const fn new() -> Self {
        Self(BTreeMap::new())
    }

    /// Records `child` as the last child of `parent`.
    pub fn push(&mut self, parent: &str, child: impl Into<String>) {
        let child = child.into();
        match self.0.get_mut(parent) {
            Some(children) => children.push(child),
            None => {
                self.0.insert(parent.to_owned(), vec![child]);
            }
        }
    }

    /// The ids of `parent`'s children, in start order; empty if it has none.
    #[must_use]
    pub fn children(&self, parent: &str) -> &[String] {
        self.0.get(parent).map_or(&[], Vec::as_slice)
    }

    /// The ids of the trace's top-level events, the children of [`ROOT_EVENT_ID`].
    #[must_use]
    pub fn roots(&self) -> &[String] {
        self.children(ROOT_EVENT_ID)
    }

    /// The parent of `child`, if the map holds it.
    #[must_use]
    pub fn parent_of(&self, child: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(_, children)| children.iter().any(|c| c == child))
            .map(|(parent, _)| parent.as_str())
    }

    /// Every parent with its children, in parent-id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0.iter().map(|(p, c)| (p.as_str(), c.as_slice()))
    }

    /// How many event ids the map holds as children.
    #[must_use]
    pub fn event_count(&self) -> usize {
        self.0.values().map(Vec::len).sum()
    }

    /// Whether the map holds no event.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.values().all(Vec::is_empty)
    }

    /// The events below [`ROOT_EVENT_ID`], depth first in start order, each with its depth (0 for
    /// top-level events): the order in which a trace printout lists them.
    pub fn depth_first(&self) -> impl Iterator<Item = (usize, &str)> {
        let mut stack: Vec<(usize, &str)> = self
            .roots()
            .iter()
            .rev()
            .map(|id| (0, id.as_str()))
            .collect();
        std::iter::from_fn(move || {
            let (depth, id) = stack.pop()?;
            stack.extend(
                self.children(id)
                    .iter()
                    .rev()
                    .map(|child| (depth + 1, child.as_str())),
            );
            Some((depth, id))
        })
    }
}
