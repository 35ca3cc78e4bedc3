//! Trace trees: spans drawn as box-drawing trees, one per root, the way LlamaIndex prints them with
//! `treelib`.
//!
//! ```text
//! query-6f1c0b9e-2d4a-4c1e-9a51-3c2b7e0d8f10 (0.412345)
//! ├── retrieve-0b6e5a57-7d7c-4f39-8f0e-1e2d3c4b5a69 (0.101234)
//! │   └── embed-2a9d4c1b-5e6f-4a7b-8c9d-0e1f2a3b4c5d (0.090001)
//! └── synthesize-9c8b7a6f-5e4d-4c3b-a2a1-0f9e8d7c6b5a (0.300456)
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use instrument_core::{BuildSpanIdHasher, SpanId};

use crate::simple::{SimpleSpan, SimpleSpanHandler};

const BRANCH: &str = "├── ";
const LAST: &str = "└── ";
const PIPE: &str = "│   ";
const SPACE: &str = "    ";

/// Draws `spans` as trace trees, one per root, each followed by an empty line.
///
/// Each span is one line, `"{id} ({duration})"`, with the duration in seconds to six decimals;
/// children sit under their parent, ordered by start time, joined by `├── `, `└── ` and `│   `.
/// A span whose parent is not in `spans` hangs under a placeholder root line `"{parent_id}-MISSING"`
/// (one per distinct missing parent). Trees come in order of their first start time. Spans
/// that no root reaches (only possible with hand-made cyclic input) are drawn as roots of their own.
///
/// ```
/// use instrument::handlers::{SimpleSpanHandler, format_span_trees};
///
/// let dispatcher = instrument::get_dispatcher("doc::tree");
/// let handler = dispatcher.add_span_handler(SimpleSpanHandler::default());
/// dispatcher.in_span("outer", || dispatcher.in_span("inner", || ()));
///
/// let spans = handler.completed();
/// let text = format_span_trees(&spans);
/// let lines: Vec<&str> = text.lines().collect();
/// assert!(lines[0].starts_with("outer-"));
/// assert!(lines[1].starts_with("└── inner-"));
/// assert_eq!(lines[2], "");
/// ```
#[must_use]
pub fn format_span_trees(spans: &[SimpleSpan]) -> String {
    Forest::new(spans).render()
}

/// Prints [`format_span_trees`] of `spans` to standard output.
pub fn print_span_trees(spans: &[SimpleSpan]) {
    print!("{}", format_span_trees(spans));
}

impl SimpleSpanHandler {
    /// The trace trees of every span kept, as [`format_span_trees`] draws them.
    #[must_use]
    pub fn format_trace_trees(&self) -> String {
        format_span_trees(&self.completed())
    }

    /// Prints the trace trees of every span kept to standard output (LlamaIndex's
    /// `print_trace_trees`).
    pub fn print_trace_trees(&self) {
        print!("{}", self.format_trace_trees());
    }
}

/// The top of one tree: a recorded span, or a placeholder for a missing parent.
enum Top {
    Span(usize),
    Missing(SpanId, Vec<usize>),
}

struct Forest<'a> {
    spans: &'a [SimpleSpan],
    /// Children of each recorded id, ordered by start time.
    children: HashMap<SpanId, Vec<usize>, BuildSpanIdHasher>,
    /// Trees with the start time that orders them.
    tops: Vec<(DateTime<Utc>, Top)>,
    visited: HashSet<usize>,
}

impl<'a> Forest<'a> {
    fn new(spans: &'a [SimpleSpan]) -> Self {
        let present: HashSet<SpanId, BuildSpanIdHasher> = spans.iter().map(|s| s.id).collect();
        let mut children: HashMap<SpanId, Vec<usize>, BuildSpanIdHasher> = HashMap::default();
        let mut missing: Vec<(SpanId, Vec<usize>)> = Vec::new();
        let mut tops = Vec::new();
        for (index, span) in spans.iter().enumerate() {
            match span.parent_id {
                None => tops.push((span.start_time, Top::Span(index))),
                Some(parent) if present.contains(&parent) => {
                    children.entry(parent).or_default().push(index);
                }
                Some(parent) => match missing.iter_mut().find(|(id, _)| *id == parent) {
                    Some((_, group)) => group.push(index),
                    None => missing.push((parent, vec![index])),
                },
            }
        }
        let by_start = |list: &mut Vec<usize>| list.sort_by_key(|&i| spans[i].start_time);
        children.values_mut().for_each(by_start);
        for (parent, mut group) in missing {
            by_start(&mut group);
            let start = spans[group[0]].start_time;
            tops.push((start, Top::Missing(parent, group)));
        }
        tops.sort_by_key(|(start, _)| *start);
        Self {
            spans,
            children,
            tops,
            visited: HashSet::new(),
        }
    }

    fn render(mut self) -> String {
        let mut out = String::new();
        for (_, top) in std::mem::take(&mut self.tops) {
            match top {
                Top::Span(index) => self.draw_from(&mut out, index),
                Top::Missing(parent, group) => {
                    let _ = writeln!(out, "{parent}-MISSING");
                    self.draw_children(&mut out, &group);
                    out.push('\n');
                }
            }
        }
        // Spans in a cycle are reached from no root; draw them rather than lose them.
        let mut unreached: Vec<usize> = (0..self.spans.len())
            .filter(|i| !self.visited.contains(i))
            .collect();
        unreached.sort_by_key(|&i| self.spans[i].start_time);
        for index in unreached {
            if !self.visited.contains(&index) {
                self.draw_from(&mut out, index);
            }
        }
        out
    }

    /// Draws the tree whose root line is span `index`, then an empty line.
    fn draw_from(&mut self, out: &mut String, index: usize) {
        self.visited.insert(index);
        self.label(out, index);
        let kids = self
            .children
            .get(&self.spans[index].id)
            .cloned()
            .unwrap_or_default();
        self.draw_children(out, &kids);
        out.push('\n');
    }

    /// Draws `kids` and their descendants below a root line, depth first, without recursion.
    fn draw_children(&mut self, out: &mut String, kids: &[usize]) {
        // (span, the prefix of its line, whether it is its parent's last child)
        let mut stack: Vec<(usize, String, bool)> = Vec::new();
        push_children(&mut stack, kids, "");
        while let Some((index, prefix, last)) = stack.pop() {
            if !self.visited.insert(index) {
                continue;
            }
            out.push_str(&prefix);
            out.push_str(if last { LAST } else { BRANCH });
            self.label(out, index);
            let below = format!("{prefix}{}", if last { SPACE } else { PIPE });
            if let Some(grandkids) = self.children.get(&self.spans[index].id) {
                push_children(&mut stack, grandkids, &below);
            }
        }
    }

    fn label(&self, out: &mut String, index: usize) {
        let span = &self.spans[index];
        let _ = writeln!(out, "{} ({:.6})", span.id, span.duration);
    }
}

/// Pushes `kids` so that the first is popped first.
fn push_children(stack: &mut Vec<(usize, String, bool)>, kids: &[usize], prefix: &str) {
    for (position, &kid) in kids.iter().enumerate().rev() {
        stack.push((kid, prefix.to_owned(), position + 1 == kids.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use serde_json::Map;

    fn span(name: &'static str, parent: Option<SpanId>, start_ms: i64, secs: f64) -> SimpleSpan {
        let base = DateTime::<Utc>::UNIX_EPOCH;
        let start_time = base + TimeDelta::milliseconds(start_ms);
        SimpleSpan {
            id: SpanId::new(name),
            parent_id: parent,
            name,
            start_time,
            end_time: start_time + TimeDelta::milliseconds(1),
            duration: secs,
            metadata: Map::new(),
            dropped: false,
        }
    }

    #[test]
    fn empty_input_draws_nothing() {
        assert_eq!(format_span_trees(&[]), "");
    }

    #[test]
    fn nested_tree_uses_treelib_connectors() {
        let root = span("root", None, 0, 1.0);
        let a = span("a", Some(root.id), 1, 0.5);
        let a1 = span("a1", Some(a.id), 2, 0.25);
        let a2 = span("a2", Some(a.id), 3, 0.125);
        let b = span("b", Some(root.id), 4, 1.6e-6);
        let b1 = span("b1", Some(b.id), 5, 2.0);
        // Given out of order: children are ordered by start time.
        let spans = [
            b1.clone(),
            a2.clone(),
            root.clone(),
            b.clone(),
            a1.clone(),
            a.clone(),
        ];
        let expected = format!(
            "{} (1.000000)\n\
             ├── {} (0.500000)\n\
             │   ├── {} (0.250000)\n\
             │   └── {} (0.125000)\n\
             └── {} (0.000002)\n\
             \x20   └── {} (2.000000)\n\n",
            root.id, a.id, a1.id, a2.id, b.id, b1.id
        );
        assert_eq!(format_span_trees(&spans), expected);
    }

    #[test]
    fn missing_parents_get_one_placeholder_each() {
        let gone = SpanId::new("gone");
        let other = SpanId::new("other");
        let x = span("x", Some(gone), 10, 0.1);
        let y = span("y", Some(gone), 5, 0.2);
        let z = span("z", Some(other), 20, 0.3);
        let root = span("root", None, 0, 1.0);
        let text = format_span_trees(&[x.clone(), z.clone(), y.clone(), root.clone()]);
        let expected = format!(
            "{} (1.000000)\n\n\
             {gone}-MISSING\n├── {} (0.200000)\n└── {} (0.100000)\n\n\
             {other}-MISSING\n└── {} (0.300000)\n\n",
            root.id, y.id, x.id, z.id
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn cycles_are_drawn_not_lost() {
        let mut a = span("a", None, 0, 0.0);
        let mut b = span("b", Some(a.id), 1, 0.0);
        a.parent_id = Some(b.id);
        b.parent_id = Some(a.id);
        let text = format_span_trees(&[a.clone(), b.clone()]);
        assert_eq!(
            text,
            format!("{} (0.000000)\n└── {} (0.000000)\n\n", a.id, b.id)
        );
    }
}
