//! The current span and tags of each thread, and the means to carry them into other threads and tasks.
//!
//! The current span is a `Cell` in a thread-local: entering a span is one `replace`, leaving it one
//! `set`. Futures made by `#[span]` enter their span on every poll, so the parent survives `.await` and
//! a work-stealing executor moving the task between threads.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use serde_json::Value;

use crate::context::tags::Tags;
use crate::context::traceparent::TraceParent;
use crate::span::id::SpanId;
use crate::values::sensitive::REDACTED;
use crate::values::sensitive::is_sensitive_key;
use crate::values::value_guard::to_json_noting_cut;

/// What the current-span cell holds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Current {
    pub(crate) id: SpanId,
    /// Set by a span's own scope; false for a context carried in from elsewhere, where
    /// [`CurrentSpan::record`] has no span to record into.
    pub(crate) recording: bool,
}

type Recorded = (SpanId, Cow<'static, str>, Value);

thread_local! {
    /// The current span, its trace and whether it records: one cell of whole words, so that
    /// entering and leaving a span is one thread-local access copying words, which the CPU
    /// forwards from store to load without stalling.
    static CURRENT: Cell<Saved> = const {
        Cell::new(Saved {
            id: None,
            recording: 0,
            trace: 0,
        })
    };
    static TAGS: RefCell<Tags> = const { RefCell::new(Tags::new()) };
    static IN_HANDLER: Cell<bool> = const { Cell::new(false) };
    /// Metadata recorded by code inside a span, collected by the span's scope when it is left.
    static RECORDED: RefCell<Vec<Recorded>> = const { RefCell::new(Vec::new()) };
    /// `RECORDED`'s length, and whether `TAGS` is non-empty: plain cells without destructors, which a
    /// span reads on its hot path instead of touching the lazily registered `RefCell`s above.
    static RECORDED_LEN: Cell<usize> = const { Cell::new(0) };
    static HAS_TAGS: Cell<bool> = const { Cell::new(false) };
    /// The W3C trace the current context continues (`Context::trace`: the remote caller's flags
    /// and trace state); set only by attaching a context, never by a span, so it costs spans
    /// nothing.
    static TRACE: Cell<Option<Arc<TraceParent>>> = const { Cell::new(None) };
    /// The spans entered on this thread whose chains have handlers that follow scopes, with those
    /// handlers, innermost last: pushed and popped only for such spans (scopes nest, so the top is
    /// the one to leave), so that a context captured in one ([`Context::current`]) tells them when
    /// it is attached elsewhere. Spans of other chains never touch it, and keep their scope small.
    static FOLLOWERS: RefCell<Vec<Followed>> = const { RefCell::new(Vec::new()) };
}

/// The span handlers that follow a span's scopes ([`crate::SpanHandler::FOLLOWS_SCOPE`]), as the
/// current span's scope and attached contexts tell them: a chain of handlers, seen from here
/// without depending on how dispatchers keep it.
pub(crate) trait ScopeFollowers: Sync {
    /// Span `id` is entered on this thread.
    fn enter(&self, id: SpanId);
    /// Span `id` is left on this thread: the matching call to an `enter`.
    fn leave(&self, id: SpanId);
}

/// A span and the handlers that follow its scopes.
type Followed = (SpanId, &'static dyn ScopeFollowers);

/// Enters `id` for `followers`, making them the current span's.
#[cold]
#[inline(never)]
fn follow(id: SpanId, followers: &'static dyn ScopeFollowers) {
    followers.enter(id);
    let _ = FOLLOWERS.try_with(|f| f.borrow_mut().push((id, followers)));
}

/// Leaves the innermost followed span `id` (the last one with that id, so that a context guard
/// dropped out of order still leaves its own), then the followers of the span around it are the
/// current span's again.
#[cold]
#[inline(never)]
fn unfollow(id: SpanId) {
    let left = FOLLOWERS
        .try_with(|f| {
            let mut stack = f.borrow_mut();
            let at = stack.iter().rposition(|(followed, _)| *followed == id)?;
            Some(stack.remove(at))
        })
        .ok()
        .flatten();
    if let Some((id, followers)) = left {
        followers.leave(id);
    }
}

/// The followers of the current span, if it has any.
fn current_followers(span: Option<SpanId>) -> Option<&'static dyn ScopeFollowers> {
    let (id, followers) = FOLLOWERS
        .try_with(|f| f.borrow().last().copied())
        .ok()
        .flatten()?;
    (Some(id) == span).then_some(followers)
}

/// [`Saved::recording`]: the current span was carried in by a context (nothing records into it
/// here).
pub(crate) const CARRIED: usize = 0;
/// [`Saved::recording`]: the current span is a span's own scope, which collects what is recorded.
pub(crate) const RECORDING: usize = 1;
/// [`Saved::recording`]: the current scope is a span its sampler left out, or a context taken in
/// one: no span starts under it.
pub(crate) const UNSAMPLED: usize = 2;

/// The current span as code inside it sees it; `None` outside any span and in a left-out trace.
#[inline]
pub(crate) fn current() -> Option<Current> {
    let saved = CURRENT.with(Cell::get);
    if saved.recording == UNSAMPLED {
        return None;
    }
    Some(Current {
        id: saved.id?,
        recording: saved.recording == RECORDING,
    })
}

/// What was current before a span or context was entered, for [`restore`]. Word-sized fields only:
/// it is written on entering and read back on leaving, and a byte-sized flag beside wide loads would
/// stall the CPU's store-to-load forwarding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Saved {
    pub(crate) id: Option<SpanId>,
    /// [`CARRIED`], [`RECORDING`] or [`UNSAMPLED`].
    pub(crate) recording: usize,
    /// The trace-id of the current span's trace, as a `u128` (zero outside any trace): fixed when
    /// a root span starts (its UUID, or the trace its context carries) and set with the current
    /// span, so that every descendant, on any thread or task, names the same trace.
    pub(crate) trace: u128,
}

/// Makes `id` the current span, in trace `trace`; returns what was current, for [`restore`].
#[inline]
fn replace(id: Option<SpanId>, recording: usize, trace: u128) -> Saved {
    CURRENT.with(|c| {
        c.replace(Saved {
            id,
            recording,
            trace,
        })
    })
}

/// Whether this code runs in a trace a sampler left out, where no span starts.
#[inline]
pub(crate) fn sampled_out_here() -> bool {
    CURRENT.with(Cell::get).recording == UNSAMPLED
}

/// What is current on this thread: one read for a span that is starting.
#[inline]
pub(crate) fn current_saved() -> Saved {
    CURRENT.with(Cell::get)
}

#[inline]
fn restore(saved: Saved) {
    CURRENT.with(|c| c.set(saved));
}

/// The current trace's id, zero outside any trace.
#[inline]
pub(crate) fn current_trace() -> u128 {
    CURRENT.with(Cell::get).trace
}

#[inline]
pub(crate) fn current_id() -> Option<SpanId> {
    CURRENT.with(Cell::get).id
}

/// The current context's W3C trace.
pub(crate) fn trace() -> Option<Arc<TraceParent>> {
    TRACE
        .try_with(|t| {
            let trace = t.take();
            t.set(trace.clone());
            trace
        })
        .ok()
        .flatten()
}

#[inline]
pub(crate) fn tags() -> Tags {
    if HAS_TAGS.with(Cell::get) {
        TAGS.try_with(|t| t.borrow().clone()).unwrap_or_default()
    } else {
        Tags::new()
    }
}

/// Whether this thread is inside a handler call; dispatching from there is skipped so that a handler
/// which emits events or opens spans cannot recurse forever.
#[inline]
pub(crate) fn in_handler() -> bool {
    IN_HANDLER.with(Cell::get)
}

/// Marks this thread as inside handler calls until dropped.
pub(crate) struct HandlerGuard(bool);

impl HandlerGuard {
    #[inline]
    pub(crate) fn enter() -> Self {
        Self(IN_HANDLER.with(|flag| flag.replace(true)))
    }
}

impl Drop for HandlerGuard {
    #[inline]
    fn drop(&mut self) {
        IN_HANDLER.with(|flag| flag.set(self.0));
    }
}

/// A span's scope on this thread: makes the span current, and on leaving restores the previous one
/// and collects what code inside recorded.
pub(crate) struct Scope {
    prev: Saved,
    mark: usize,
    /// Whether handlers were told of this scope: a flag, so that a scope stays a few words.
    followed: bool,
}

impl Scope {
    /// Enters span `id`'s scope: [`RECORDING`], or [`UNSAMPLED`] for a span its sampler left out.
    #[inline]
    pub(crate) fn enter(id: SpanId, trace: u128, recording: usize) -> Self {
        let prev = replace(Some(id), recording, trace);
        let mark = RECORDED_LEN.with(Cell::get);
        Self {
            prev,
            mark,
            followed: false,
        }
    }

    /// Tells `followers` that span `id`, just entered, runs here; they are told it left when the
    /// scope is left.
    pub(crate) fn follow(&mut self, id: SpanId, followers: &'static dyn ScopeFollowers) {
        follow(id, followers);
        self.followed = true;
    }

    /// Leaves a scope nothing records into and no handler follows (a span its sampler left
    /// out): what was current is current again.
    #[inline]
    pub(crate) fn leave_unrecorded(self) {
        debug_assert!(!self.followed, "a left-out span is followed by no handler");
        restore(self.prev);
    }

    #[inline]
    pub(crate) fn leave(self, id: SpanId, metadata: &mut Vec<(Cow<'static, str>, Value)>) {
        if self.followed {
            unfollow(id);
        }
        restore(self.prev);
        if RECORDED_LEN.with(Cell::get) > self.mark {
            let _ = RECORDED.try_with(|r| {
                let mut recorded = r.borrow_mut();
                collect(&mut recorded, self.mark, id, metadata);
                RECORDED_LEN.with(|len| len.set(recorded.len()));
            });
        }
    }
}

#[cold]
fn collect(
    recorded: &mut Vec<Recorded>,
    mark: usize,
    id: SpanId,
    metadata: &mut Vec<(Cow<'static, str>, Value)>,
) {
    metadata.extend(
        recorded
            .drain(mark..)
            .filter(|(owner, _, _)| *owner == id)
            .map(|(_, key, value)| (key, value)),
    );
}

/// Restores the previous tags when dropped.
pub(crate) struct TagsGuard(Option<Tags>);

impl TagsGuard {
    pub(crate) fn set(tags: Tags) -> Self {
        let has_tags = !tags.is_empty();
        // During thread teardown the tags may be gone already; then there is nothing to set.
        let prev = TAGS.try_with(|t| t.replace(tags)).ok();
        if prev.is_some() {
            HAS_TAGS.with(|flag| flag.set(has_tags));
        }
        Self(prev)
    }
}

impl Drop for TagsGuard {
    fn drop(&mut self) {
        if let Some(prev) = self.0.take() {
            HAS_TAGS.with(|flag| flag.set(!prev.is_empty()));
            let _ = TAGS.try_with(|t| *t.borrow_mut() = prev);
        }
    }
}

/// The span the current code runs in, as [`current_span`] returns it.
#[derive(Debug, Clone, Copy)]
pub struct CurrentSpan(Option<Current>);

/// The span the calling code runs in, if any.
///
/// ```
/// // Outside any span there is nothing to record into, and recording is harmless.
/// let span = instrument::current_span();
/// assert!(span.id().is_none());
/// span.record("retrieved", 3);
/// ```
#[must_use]
pub fn current_span() -> CurrentSpan {
    CurrentSpan(current())
}

impl CurrentSpan {
    /// The span's id.
    #[must_use]
    pub fn id(&self) -> Option<SpanId> {
        self.0.map(|c| c.id)
    }

    /// Whether [`CurrentSpan::record`] reaches a span here.
    #[must_use]
    pub fn is_recording(&self) -> bool {
        self.0.is_some_and(|c| c.recording)
    }

    /// Adds `key = value` to the span's metadata, which its handlers receive when it ends
    /// ([`crate::SpanEnd::metadata`]). Outside a span, or in a thread or task that only carries a
    /// span's context, this does nothing.
    ///
    /// The value is serialised at once, as [`crate::to_json_guarded`] does: a `key` named like a
    /// secret ([`crate::is_sensitive_key`]) records `"[REDACTED]"`, secrets nested in the value are
    /// redacted, what lies deeper than [`crate::MAX_DEPTH`] becomes `"<too deep>"`, and a
    /// `Serialize` impl that fails or panics records `"<unserializable: ...>"` instead of
    /// unwinding into the caller. A value found nested deeper than [`crate::MAX_DEPTH`] is not
    /// dropped but leaked, as its own drop may recurse as deep and overflow the stack: pass such
    /// values by reference.
    ///
    /// ```
    /// use instrument::{current_span, get_dispatcher};
    ///
    /// get_dispatcher("doc::record").in_span("login", || {
    ///     current_span().record("user", "ada");
    ///     current_span().record("password", "hunter2"); // kept as "[REDACTED]"
    /// });
    /// ```
    pub fn record(&self, key: impl Into<Cow<'static, str>>, value: impl serde::Serialize) {
        // Only into the span this code runs in now: a `CurrentSpan` kept past its span, or taken to
        // another thread, has no scope left to collect what it records.
        let Some(current) = self.0.filter(|c| c.recording && current_id() == Some(c.id)) else {
            return;
        };
        let key = key.into();
        let value = if is_sensitive_key(&key) {
            Value::String(REDACTED.to_owned())
        } else {
            let (json, cut) = to_json_noting_cut(&value);
            if cut {
                std::mem::forget(value);
            }
            json
        };
        let _ = RECORDED.try_with(|r| {
            let mut recorded = r.borrow_mut();
            recorded.push((current.id, key, value));
            RECORDED_LEN.with(|len| len.set(recorded.len()));
        });
    }
}

/// A snapshot of the current span and tags, to carry into another thread or task.
///
/// ```
/// use instrument::{Context, Tags, instrument_tags, current_tags};
///
/// let cx = instrument_tags(Tags::from([("request", "42")]), Context::current);
/// std::thread::spawn(move || {
///     cx.scope(|| assert_eq!(current_tags().get("request"), Some(&serde_json::json!("42"))));
/// })
/// .join()
/// .unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub(crate) span: Option<SpanId>,
    pub(crate) tags: Tags,
    /// The W3C trace this context continues: its trace-id, `sampled` flag and `tracestate`, which
    /// `inject_traceparent` sends on (its parent-id is not used: the span above is the parent).
    /// Set by `extract_traceparent` and `Context::with_new_trace` (see `traceparent.rs`), and carried
    /// like the tags; `None` for a trace begun in this process.
    pub(crate) trace: Option<Arc<TraceParent>>,
    /// The trace-id of the span's trace (zero when unknown): the local root's UUID, or the remote
    /// trace's id.
    pub(crate) trace_id: u128,
    /// The span handlers that follow the span's scopes, when the context was captured inside it:
    /// attaching the context enters the span for them too.
    pub(crate) followers: Option<&'static dyn ScopeFollowers>,
    /// Taken inside a span its sampler left out: no span starts under it, and a `traceparent`
    /// injected from it says "not sampled".
    pub(crate) sampled_out: bool,
}

impl std::fmt::Debug for dyn ScopeFollowers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScopeFollowers")
    }
}

impl Context {
    /// The current span and tags of this thread or task.
    #[must_use]
    pub fn current() -> Self {
        let saved = current_saved();
        let trace_id = saved.trace;
        let span = saved.id;
        Self {
            sampled_out: saved.recording == UNSAMPLED,
            span,
            followers: current_followers(span),
            tags: tags(),
            // The remote caller's flags and state belong to its trace only: a span of another
            // trace entered while that context is attached does not take them.
            trace: trace().filter(|trace| u128::from_be_bytes(trace.trace_id) == trace_id),
            trace_id,
        }
    }

    /// A context with `span` as parent and `tags`.
    #[must_use]
    pub fn new(span: Option<SpanId>, tags: Tags) -> Self {
        Self {
            span,
            tags,
            trace: None,
            trace_id: 0,
            followers: None,
            sampled_out: false,
        }
    }

    /// This context with `tags` instead of its own: the same span, trace and remote state.
    ///
    /// ```
    /// use instrument::{Context, Tags};
    ///
    /// let cx = Context::current().with_tags(Tags::from([("request", "42")]));
    /// assert_eq!(cx.tags().len(), 1);
    /// ```
    #[must_use]
    pub fn with_tags(mut self, tags: Tags) -> Self {
        self.tags = tags;
        self
    }

    /// The span that new spans made in this context get as parent.
    #[must_use]
    pub fn span_id(&self) -> Option<SpanId> {
        self.span
    }

    /// The tags of this context.
    #[must_use]
    pub fn tags(&self) -> &Tags {
        &self.tags
    }

    /// Runs `f` in this context, then restores the one before.
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.attach();
        f()
    }

    /// Makes this context current until the guard is dropped.
    #[must_use = "the context is restored when the guard is dropped"]
    pub fn attach(&self) -> ContextGuard {
        let recording = if self.sampled_out { UNSAMPLED } else { CARRIED };
        let prev_span = replace(self.span, recording, self.effective_trace());
        let prev_tags = TagsGuard::set(self.tags.clone());
        let followed = match (self.span, self.followers) {
            (Some(id), Some(followers)) => {
                follow(id, followers);
                Some(id)
            }
            _ => None,
        };
        ContextGuard {
            prev_span,
            _tags: prev_tags,
            prev_trace: TRACE.try_with(|t| t.replace(self.trace.clone())).ok(),
            followed,
            _not_send: std::marker::PhantomData,
        }
    }

    /// The trace-id spans made in this context belong to, as a `u128` (zero: none yet, a span made
    /// here starts one): the one it carries (`Context::continuing` sets it with the remote
    /// trace), else its span's own UUID (a context made by hand from a span id alone).
    pub(crate) fn effective_trace(&self) -> u128 {
        if self.trace_id != 0 {
            self.trace_id
        } else {
            self.span.map_or(0, |span| span.uuid().as_u128())
        }
    }

    /// Wraps `future` so that every poll runs in this context.
    pub fn wrap<F: Future>(self, future: F) -> WithContext<F> {
        WithContext { cx: self, future }
    }
}

/// Restores the previous context when dropped; see [`Context::attach`].
#[derive(Debug)]
pub struct ContextGuard {
    prev_span: Saved,
    _tags: TagsGuard,
    /// `None` when the thread was being torn down and nothing was set.
    prev_trace: Option<Option<Arc<TraceParent>>>,
    /// The span entered for the context's scope followers.
    followed: Option<SpanId>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl std::fmt::Debug for TagsGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TagsGuard")
    }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        if let Some(id) = self.followed.take() {
            unfollow(id);
        }
        restore(self.prev_span);
        if let Some(prev) = self.prev_trace.take() {
            let _ = TRACE.try_with(|t| t.set(prev));
        }
    }
}

/// A future that runs in a captured [`Context`]; see [`FutureExt::in_current_span`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct WithContext<F> {
    cx: Context,
    future: F,
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: never moved out, and `WithContext` has no Drop impl.
        let this = unsafe { self.get_unchecked_mut() };
        let _guard = this.cx.attach();
        unsafe { Pin::new_unchecked(&mut this.future) }.poll(task)
    }
}

/// Carries the current span and tags into a future that will run elsewhere.
///
/// ```
/// use instrument::FutureExt;
///
/// async fn work() {}
/// let carried = work().in_current_span(); // spawn this on any executor
/// # drop(carried);
/// ```
pub trait FutureExt: Future + Sized {
    /// This future, polled in the context current now.
    fn in_current_span(self) -> WithContext<Self> {
        Context::current().wrap(self)
    }

    /// This future, polled in `cx`.
    fn in_context(self, cx: Context) -> WithContext<Self> {
        cx.wrap(self)
    }
}

impl<F: Future> FutureExt for F {}

/// Threads that start in the spawning thread's span and tags.
pub mod thread {
    use super::Context;

    /// Like [`std::thread::spawn`], but `f` runs in the current span and tags, so spans it makes are
    /// children of the span that spawned it.
    pub fn spawn<F, T>(f: F) -> std::thread::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let cx = Context::current();
        std::thread::spawn(move || cx.scope(f))
    }

    /// Like [`std::thread::Scope::spawn`], carrying the current span and tags.
    pub fn spawn_scoped<'scope, 'env, F, T>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        f: F,
    ) -> std::thread::ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let cx = Context::current();
        scope.spawn(move || cx.scope(f))
    }
}

/// Like `tokio::spawn`, but the task runs in the current span and tags.
#[cfg(feature = "tokio")]
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_span())
}
