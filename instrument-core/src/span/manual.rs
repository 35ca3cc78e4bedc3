//! The manual span API, for code that cannot use `#[span]`: a guard, a closure form, and the by-id
//! calls that mirror LlamaIndex's `span_enter` / `span_exit` / `span_drop`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use crate::context::current;
use crate::context::tags::Tags;
use crate::dispatch::dispatcher::Dispatcher;
use crate::span::id::{BuildSpanIdHasher, SpanId};
use crate::span::{BoxedState, SpanState};
use crate::values::args::Arg;

/// Errors of the by-id span API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpanError {
    /// No span with this id is open (never entered, already ended, or ended by shutdown).
    #[error("no open span with id {0}")]
    UnknownSpan(SpanId),
    /// A span with this id is already open.
    #[error("a span with id {0} is already open")]
    DuplicateSpan(SpanId),
}

/// An open span made by [`Dispatcher::enter_span`]. It ends when you call [`SpanGuard::exit`] or
/// [`SpanGuard::drop_with`], or, if you do neither, normally when it is dropped.
///
/// ```
/// use instrument::{get_dispatcher, Arg};
///
/// let dispatcher = get_dispatcher("doc::guard");
/// let top_k = 3usize;
/// let mut guard = dispatcher.enter_span("retrieve", &[Arg::new("top_k", &top_k)]);
/// let hits = guard.in_scope(|| vec!["a", "b"]);
/// guard.exit(Some(Arg::new("return", &hits)));
/// ```
#[must_use = "the span ends when the guard is dropped"]
pub struct SpanGuard {
    state: Option<BoxedState>,
}

impl fmt::Debug for SpanGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanGuard").field("id", &self.id()).finish()
    }
}

impl SpanGuard {
    /// The span's id; `None` when nothing records (no handler, inside a handler, or a trace a
    /// sampler left out).
    #[must_use]
    pub fn id(&self) -> Option<SpanId> {
        self.state
            .as_ref()
            .filter(|state| !state.is_sampled_out())
            .map(|state| state.id())
    }

    /// Runs `f` with this span current, so spans and events inside are its children and
    /// [`crate::CurrentSpan::record`] records into it. A panic in `f` drops the span with the panic's
    /// message and resumes unwinding.
    pub fn in_scope<R>(&mut self, f: impl FnOnce() -> R) -> R {
        match &mut self.state {
            Some(state) => state.as_mut().run(f),
            None => f(),
        }
    }

    /// Ends the span normally with `result`.
    pub fn exit(mut self, result: Option<Arg<'_>>) {
        if let Some(state) = self.state.take() {
            let mut state = state;
            state.as_mut().exit(result);
        }
    }

    /// Ends the span as dropped with `error`'s text.
    pub fn drop_with(mut self, error: &dyn fmt::Display) {
        if let Some(state) = self.state.take() {
            let mut state = state;
            state.as_mut().drop_with(&error.to_string());
        }
    }
}

impl Drop for SpanGuard {
    fn drop(&mut self) {
        if let Some(mut state) = self.state.take() {
            state.as_mut().exit(None);
        }
    }
}

fn open_by_id() -> &'static Mutex<HashMap<SpanId, BoxedState, BuildSpanIdHasher>> {
    static OPEN: std::sync::OnceLock<Mutex<HashMap<SpanId, BoxedState, BuildSpanIdHasher>>> =
        std::sync::OnceLock::new();
    OPEN.get_or_init(Default::default)
}

/// Shutdown ends by-id spans through the open-span registry; their entries are dropped here so
/// that a later `span_exit` reports them as unknown.
pub(crate) fn forget_open_by_id() {
    let drained: Vec<BoxedState> = open_by_id()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .drain()
        .map(|(_, state)| state)
        .collect();
    drop(drained);
}

impl Dispatcher {
    /// Opens a span called `name` as a child of the current span, with `args`; see [`SpanGuard`].
    pub fn enter_span(&'static self, name: &'static str, args: &[Arg<'_>]) -> SpanGuard {
        let chain = self.chain();
        let state = if chain.is_empty() {
            None
        } else {
            SpanState::start(chain, name, self.name(), None, args)
        };
        SpanGuard {
            state: state.map(|state| {
                let mut state = Box::pin(state);
                state.as_mut().register();
                state
            }),
        }
    }

    /// Runs `f` inside a span called `name`: the closure form of [`Dispatcher::enter_span`].
    pub fn in_span<R>(&'static self, name: &'static str, f: impl FnOnce() -> R) -> R {
        let mut guard = self.enter_span(name, &[]);
        let value = guard.in_scope(f);
        guard.exit(None);
        value
    }

    /// Opens span `id` with `args`, `parent` and `tags`, without making it current: the by-id API
    /// for code that drives spans the way LlamaIndex's `span_enter` does.
    ///
    /// # Errors
    /// [`SpanError::DuplicateSpan`] if a span with this id is already open.
    ///
    /// ```
    /// use instrument::{get_dispatcher, SpanId, Tags};
    ///
    /// let dispatcher = get_dispatcher("doc::by_id");
    /// let id = SpanId::new("query");
    /// dispatcher.span_enter(id, &[], None, Tags::new()).unwrap();
    /// dispatcher.span_exit(id, None).unwrap();
    /// assert!(dispatcher.span_exit(id, None).is_err()); // already ended
    /// ```
    pub fn span_enter(
        &'static self,
        id: SpanId,
        args: &[Arg<'_>],
        parent: Option<SpanId>,
        tags: Tags,
    ) -> Result<(), SpanError> {
        let duplicate = || SpanError::DuplicateSpan(id);
        if open_by_id()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&id)
        {
            return Err(duplicate());
        }
        if current::in_handler() {
            return Ok(());
        }
        // The parent's trace: an open by-id span's, the current span's, or (zero) worked out from
        // the parent's own id.
        let trace = match parent {
            Some(parent) if current::current_id() == Some(parent) => current::current_trace(),
            Some(parent) => open_by_id()
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&parent)
                .map_or(0, |state| state.trace()),
            None => 0,
        };
        // Handlers' `new_span` runs without the map's lock held, so that a handler may itself use
        // the by-id calls.
        let mut state = Box::pin(SpanState::start_detached(
            self.chain(),
            id,
            parent,
            trace,
            tags,
            self.name(),
            args,
        ));
        state.as_mut().register();
        let mut open = open_by_id().lock().unwrap_or_else(PoisonError::into_inner);
        if open.contains_key(&id) {
            drop(open);
            state
                .as_mut()
                .drop_with("a span with this id was entered twice at once");
            return Err(duplicate());
        }
        open.insert(id, state);
        Ok(())
    }

    /// Ends span `id` normally with `result`.
    ///
    /// # Errors
    /// [`SpanError::UnknownSpan`] if no span with this id is open.
    pub fn span_exit(&self, id: SpanId, result: Option<Arg<'_>>) -> Result<(), SpanError> {
        let mut state = take_open(id)?;
        state.as_mut().exit(result);
        Ok(())
    }

    /// Ends span `id` as dropped with `error`.
    ///
    /// # Errors
    /// [`SpanError::UnknownSpan`] if no span with this id is open.
    pub fn span_drop(&self, id: SpanId, error: &dyn fmt::Display) -> Result<(), SpanError> {
        let mut state = take_open(id)?;
        state.as_mut().drop_with(&error.to_string());
        Ok(())
    }
}

fn take_open(id: SpanId) -> Result<BoxedState, SpanError> {
    open_by_id()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&id)
        .ok_or(SpanError::UnknownSpan(id))
}
