//! Per-trace state: each trace has its own trace map, and each thread or task in it its own stack of
//! open events, so concurrent traces never share a tree (LlamaIndex keeps both in globals).
//!
//! A *lane* is one thread's or task's view of a trace: the stack of its open non-leaf events, on top
//! of a base parent (`"root"`, or the event open where the lane was carried from). The current lane
//! lives in a thread-local, like the current span: a [`TraceGuard`] sets it for a scope, and a
//! [`WithTrace`] future sets it on every poll, so it survives `.await` and work-stealing runtimes.
//! Outside any trace, events use a per-thread implicit lane that keeps no trace map.

use std::cell::RefCell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context as TaskContext, Poll};

use super::trace_map::{ROOT_EVENT_ID, TraceMap};

/// What all lanes of one trace share.
#[derive(Debug)]
pub(crate) struct Trace {
    id: Option<String>,
    /// `None` for a thread's implicit trace, whose map nobody would ever receive.
    map: Option<Mutex<TraceMap>>,
}

/// One thread's or task's open events in a trace.
#[derive(Debug)]
pub(crate) struct Lane {
    trace: Arc<Trace>,
    /// The base parent, then the ids of the open non-leaf events, innermost last.
    stack: Mutex<Vec<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Lane {
    fn new(trace: Arc<Trace>, base: String) -> Arc<Self> {
        Arc::new(Self {
            trace,
            stack: Mutex::new(vec![base]),
        })
    }

    fn implicit() -> Arc<Self> {
        Self::new(
            Arc::new(Trace {
                id: None,
                map: None,
            }),
            ROOT_EVENT_ID.to_owned(),
        )
    }

    /// The parent a new event gets here: the innermost open non-leaf event, else the base.
    pub(crate) fn parent(&self) -> String {
        lock(&self.stack)
            .last()
            .cloned()
            .unwrap_or_else(|| ROOT_EVENT_ID.to_owned())
    }

    /// Records `child` under `parent` in the trace map.
    pub(crate) fn record(&self, parent: &str, child: &str) {
        if let Some(map) = &self.trace.map {
            lock(map).push(parent, child);
        }
    }

    /// Makes `id` the parent of events started here until [`Lane::pop`].
    pub(crate) fn push(&self, id: String) {
        lock(&self.stack).push(id);
    }

    /// Closes the open event `id`, wherever it is on the stack (guards may end out of order).
    pub(crate) fn pop(&self, id: &str) {
        let mut stack = lock(&self.stack);
        if let Some(i) = stack.iter().skip(1).rposition(|open| open == id) {
            stack.remove(i + 1);
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Lane>>> = const { RefCell::new(None) };
    static IMPLICIT: Arc<Lane> = Lane::implicit();
}

/// The lane events started here go to: the current trace's, else this thread's implicit one.
pub(crate) fn current_lane() -> Arc<Lane> {
    CURRENT
        .try_with(|c| c.borrow().clone())
        .ok()
        .flatten()
        .or_else(|| IMPLICIT.try_with(Arc::clone).ok())
        .unwrap_or_else(Lane::implicit)
}

fn in_trace() -> bool {
    CURRENT.try_with(|c| c.borrow().is_some()).unwrap_or(false)
}

/// Makes a lane current until dropped, then restores the one it replaced (also when unwinding).
#[derive(Debug)]
struct Entered(Option<Arc<Lane>>);

impl Entered {
    fn new(lane: Arc<Lane>) -> Self {
        Self(CURRENT.try_with(|c| c.replace(Some(lane))).ok().flatten())
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        // The lane taken out is dropped after the `RefCell` borrow ends.
        let _left = CURRENT.try_with(|c| c.replace(self.0.take()));
    }
}

/// Who is told that a trace began and ended: the callback manager that began it, seen from here
/// without depending on how it keeps its handlers.
pub(crate) trait TraceListener: Send + Sync + std::fmt::Debug {
    /// The outermost trace `trace_id` began.
    fn start_trace(&self, trace_id: Option<&str>);
    /// It ended, with what its events made of the trace map.
    fn end_trace(&self, trace_id: Option<&str>, trace_map: &TraceMap);
}

/// A trace begun by an outermost [`CallbackManager::as_trace`](crate::callbacks::CallbackManager::as_trace) or
/// [`CallbackManager::with_trace_async`](crate::callbacks::CallbackManager::with_trace_async): calls the handlers' `start_trace` once, and `end_trace`
/// with the trace map when dropped after starting.
#[derive(Debug)]
struct OuterTrace {
    listener: Arc<dyn TraceListener>,
    trace: Arc<Trace>,
    started: bool,
}

impl OuterTrace {
    fn new(listener: Arc<dyn TraceListener>, id: String) -> (Self, Arc<Lane>) {
        let trace = Arc::new(Trace {
            id: Some(id),
            map: Some(Mutex::new(TraceMap::new())),
        });
        let lane = Lane::new(Arc::clone(&trace), ROOT_EVENT_ID.to_owned());
        let outer = Self {
            listener,
            trace,
            started: false,
        };
        (outer, lane)
    }

    fn start(&mut self) {
        if !self.started {
            self.started = true;
            self.listener.start_trace(self.trace.id.as_deref());
        }
    }
}

impl Drop for OuterTrace {
    fn drop(&mut self) {
        if self.started {
            let map = self
                .trace
                .map
                .as_ref()
                .map(|m| std::mem::take(&mut *lock(m)))
                .unwrap_or_default();
            self.listener.end_trace(self.trace.id.as_deref(), &map);
        }
    }
}

/// A trace's scope on this thread; leaving it restores what was current before and, for the
/// outermost trace, calls the handlers' `end_trace`. See [`CallbackManager::as_trace`](crate::callbacks::CallbackManager::as_trace) and
/// [`TraceHandle::attach`].
#[derive(Debug)]
#[must_use = "the trace ends when the guard is dropped"]
pub struct TraceGuard {
    /// `None` for a nested trace, which changes nothing. Declared first: the previous lane is
    /// restored before `outer` ends the trace.
    _entered: Option<Entered>,
    outer: Option<OuterTrace>,
    _not_send: PhantomData<*const ()>,
}

impl TraceGuard {
    /// Begins a trace on this thread: an outermost one if none is current, else a nested one that
    /// changes nothing.
    pub(crate) fn begin(listener: Arc<dyn TraceListener>, id: String) -> Self {
        if in_trace() {
            return Self {
                _entered: None,
                outer: None,
                _not_send: PhantomData,
            };
        }
        let (mut outer, lane) = OuterTrace::new(listener, id);
        outer.start();
        Self {
            _entered: Some(Entered::new(lane)),
            outer: Some(outer),
            _not_send: PhantomData,
        }
    }

    /// Whether this guard began the outermost trace, whose end calls the handlers' `end_trace`.
    #[must_use]
    pub fn is_outermost(&self) -> bool {
        self.outer.is_some()
    }
}

/// A handle on the trace current where it was taken, and on the event open there, to carry into
/// another thread or task: events started where it is attached belong to the same trace map, with
/// that event as parent.
///
/// ```
/// use instrument::callbacks::{CallbackManager, CBEventType};
///
/// let manager = CallbackManager::default();
/// manager.with_trace("request", || {
///     let query = manager.event(CBEventType::Query, None).unwrap();
///     let handle = CallbackManager::current_trace();
///     let child = std::thread::spawn({
///         let manager = manager.clone();
///         move || handle.scope(|| {
///             let retrieve = manager.event(CBEventType::Retrieve, None).unwrap();
///             assert_eq!(retrieve.parent_id(), handle.parent_id());
///             retrieve.id().to_owned()
///         })
///     })
///     .join()
///     .unwrap();
///     let map = CallbackManager::current_trace().trace_map();
///     assert_eq!(map.children(query.id()), [child]);
/// });
/// ```
#[derive(Clone, Debug)]
pub struct TraceHandle {
    trace: Arc<Trace>,
    parent: String,
}

impl TraceHandle {
    pub(crate) fn current() -> Self {
        let lane = current_lane();
        Self {
            parent: lane.parent(),
            trace: Arc::clone(&lane.trace),
        }
    }

    /// The trace's id; `None` outside any trace (the thread's implicit state).
    #[must_use]
    pub fn trace_id(&self) -> Option<&str> {
        self.trace.id.as_deref()
    }

    /// Whether the handle is on a trace begun by `as_trace` (rather than the implicit state of the
    /// thread it was taken on, which keeps no trace map).
    #[must_use]
    pub fn is_traced(&self) -> bool {
        self.trace.map.is_some()
    }

    /// The parent that events started where this handle is attached get, until they open their own.
    #[must_use]
    pub fn parent_id(&self) -> &str {
        &self.parent
    }

    /// A copy of the trace's map so far. Empty once the trace has ended (its map went to the
    /// handlers' `end_trace`) and for the implicit state.
    #[must_use]
    pub fn trace_map(&self) -> TraceMap {
        self.trace
            .map
            .as_ref()
            .map(|m| lock(m).clone())
            .unwrap_or_default()
    }

    fn lane(&self) -> Arc<Lane> {
        Lane::new(Arc::clone(&self.trace), self.parent.clone())
    }

    /// Makes this trace current on this thread until the guard is dropped. The guard never calls
    /// `start_trace` or `end_trace`: the trace belongs to the `as_trace` that began it.
    pub fn attach(&self) -> TraceGuard {
        TraceGuard {
            _entered: Some(Entered::new(self.lane())),
            outer: None,
            _not_send: PhantomData,
        }
    }

    /// Runs `f` in this trace.
    pub fn scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.attach();
        f()
    }

    /// Wraps `future` so that every poll runs in this trace, whichever thread polls it.
    pub fn wrap<F: Future>(&self, future: F) -> WithTrace<F> {
        WithTrace {
            future,
            lane: self.lane(),
            outer: None,
        }
    }
}

/// A future that runs in a trace, entered on every poll; see
/// [`CallbackManager::with_trace_async`](crate::callbacks::CallbackManager::with_trace_async) and [`TraceHandle::wrap`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct WithTrace<F> {
    // Declared first so that it is dropped (ending any events it holds) before `outer` ends the trace.
    future: F,
    lane: Arc<Lane>,
    outer: Option<OuterTrace>,
}

impl<F: Future> WithTrace<F> {
    /// `future` in a trace: a new, outermost one if none is current here, else in the current one,
    /// below the event open here.
    pub(crate) fn begin(listener: Arc<dyn TraceListener>, id: String, future: F) -> Self {
        if in_trace() {
            return TraceHandle::current().wrap(future);
        }
        let (outer, lane) = OuterTrace::new(listener, id);
        Self {
            future,
            lane,
            outer: Some(outer),
        }
    }
}

impl<F: Future> Future for WithTrace<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: never moved out, and `WithTrace` has no Drop impl.
        // The other fields are not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        if let Some(outer) = &mut this.outer {
            outer.start();
        }
        let entered = Entered::new(Arc::clone(&this.lane));
        // SAFETY: as above.
        let poll = unsafe { Pin::new_unchecked(&mut this.future) }.poll(cx);
        drop(entered);
        if poll.is_ready() {
            drop(this.outer.take());
        }
        poll
    }
}
