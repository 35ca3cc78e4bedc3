//! `CallbackManager`: holds the handlers, opens events and traces; `EventGuard`: one open event.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use super::event_type::CBEventType;
use super::handler::{CallbackError, CallbackHandler};
use super::payload::{EventPayload, Payload};
use super::trace::{Lane, TraceGuard, TraceHandle, TraceListener, WithTrace, current_lane};
use super::trace_map::TraceMap;

type Handlers = Arc<[Arc<dyn CallbackHandler>]>;

#[derive(Default)]
struct Inner {
    /// Swapped whole on change, so a call runs over a snapshot and handlers may change the list.
    handlers: RwLock<Handlers>,
    swallowed: AtomicU64,
}

/// Holds [`CallbackHandler`]s and tells them about events and traces.
///
/// Cloning is cheap (an `Arc`); clones share the handlers. The open-event stack and the trace map
/// are not kept here but per trace and per thread or task (see [`CallbackManager::as_trace`]), so
/// two traces running at once, on two threads or two tasks, get two separate trace maps.
///
/// Handler errors reach the caller: [`event`](Self::event) and [`EventGuard::on_end`] stop at the
/// first handler that fails and return its error, as LlamaIndex propagates the first exception.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use instrument::callbacks::{
///     CallbackError, CallbackHandler, CallbackManager, CBEventType, EventPayload, Payload, TraceMap,
/// };
///
/// #[derive(Default)]
/// struct Traces(Mutex<Vec<TraceMap>>);
///
/// impl CallbackHandler for Traces {
///     fn on_event_start(&self, _: CBEventType, _: Option<&Payload>, id: &str, _: &str) -> Result<String, CallbackError> {
///         Ok(id.to_owned())
///     }
///     fn on_event_end(&self, _: CBEventType, _: Option<&Payload>, _: &str) -> Result<(), CallbackError> {
///         Ok(())
///     }
///     fn end_trace(&self, _: Option<&str>, trace_map: &TraceMap) {
///         self.0.lock().unwrap().push(trace_map.clone());
///     }
/// }
///
/// let traces = Arc::new(Traces::default());
/// let manager = CallbackManager::new(vec![traces.clone()]);
///
/// let (query_id, llm_id) = manager.with_trace("query", || -> Result<_, CallbackError> {
///     let query = manager.event(CBEventType::Query, Some(Payload::new().with(EventPayload::QueryStr, "why?")))?;
///     let llm = manager.event(CBEventType::Llm, None)?;
///     assert_eq!(llm.parent_id(), query.id());
///     let ids = (query.id().to_owned(), llm.id().to_owned());
///     llm.on_end(Some(Payload::new().with(EventPayload::Response, "because")))?;
///     query.on_end(None)?;
///     Ok(ids)
/// })?;
///
/// let traces = traces.0.lock().unwrap();
/// assert_eq!(traces[0].roots(), [query_id.clone()]);
/// assert_eq!(traces[0].children(&query_id), [llm_id]);
/// # Ok::<(), CallbackError>(())
/// ```
#[derive(Clone, Default)]
pub struct CallbackManager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CallbackManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackManager")
            .field("handlers", &self.snapshot().len())
            .field("swallowed_errors", &self.swallowed_errors())
            .finish()
    }
}

impl CallbackManager {
    /// A manager calling `handlers`, in order.
    #[must_use]
    pub fn new(handlers: Vec<Arc<dyn CallbackHandler>>) -> Self {
        let manager = Self::default();
        manager.set_handlers(handlers);
        manager
    }

    fn snapshot(&self) -> Handlers {
        Arc::clone(
            &self
                .inner
                .handlers
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn replace(
        &self,
        f: impl FnOnce(&[Arc<dyn CallbackHandler>]) -> Vec<Arc<dyn CallbackHandler>>,
    ) {
        let mut handlers = self
            .inner
            .handlers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *handlers = f(&handlers).into();
    }

    /// Adds `handler` after the others.
    pub fn add_handler(&self, handler: Arc<dyn CallbackHandler>) {
        self.replace(|old| old.iter().cloned().chain([handler]).collect());
    }

    /// Removes `handler`, found by pointer identity (pass a clone of the `Arc` that was added);
    /// returns whether it was there.
    pub fn remove_handler<H: ?Sized>(&self, handler: &Arc<H>) -> bool {
        let target = Arc::as_ptr(handler).cast::<()>();
        let mut removed = false;
        self.replace(|old| {
            old.iter()
                .filter(|h| {
                    let same = std::ptr::eq(Arc::as_ptr(h).cast::<()>(), target);
                    removed |= same;
                    !same
                })
                .cloned()
                .collect()
        });
        removed
    }

    /// Replaces all handlers.
    pub fn set_handlers(&self, handlers: Vec<Arc<dyn CallbackHandler>>) {
        self.replace(|_| handlers);
    }

    /// The handlers, in call order.
    #[must_use]
    pub fn handlers(&self) -> Vec<Arc<dyn CallbackHandler>> {
        self.snapshot().to_vec()
    }

    /// How many handler errors were swallowed because they came from ending an event whose
    /// [`EventGuard`] was dropped rather than ended with [`EventGuard::on_end`].
    #[must_use]
    pub fn swallowed_errors(&self) -> u64 {
        self.inner.swallowed.load(Ordering::Relaxed)
    }

    /// Starts an event, as LlamaIndex's `CallbackManager.on_event_start` does, and returns its id:
    /// `event_id` when given (kept as is, everywhere: handlers, trace map, the end), else a new UUID
    /// v4; its parent is `parent_id` when given, else the innermost open non-leaf event of the
    /// trace here, else `"root"`. The event is recorded in the trace map and every handler that
    /// does not ignore the type is told; a non-leaf event becomes the parent of the events started
    /// after it here until [`on_event_end`](Self::on_event_end) ends it.
    ///
    /// [`event`](Self::event) is the same with a guard that ends the event for you.
    ///
    /// ```
    /// use instrument::callbacks::{CallbackError, CallbackManager, CBEventType};
    ///
    /// let manager = CallbackManager::new(vec![]);
    /// let id = manager.on_event_start(CBEventType::Query, None, Some("query-1"), None)?;
    /// assert_eq!(id, "query-1");
    /// let llm = manager.on_event_start(CBEventType::Llm, None, None, None)?; // a UUID
    /// manager.on_event_end(CBEventType::Llm, None, Some(&llm))?;
    /// manager.on_event_end(CBEventType::Query, None, Some(&id))?;
    /// # Ok::<(), CallbackError>(())
    /// ```
    ///
    /// # Errors
    /// The first handler error, after which the remaining handlers are not called and the event is
    /// not opened (it stays in the trace map, since the handlers before saw it start).
    pub fn on_event_start(
        &self,
        event_type: CBEventType,
        payload: Option<&Payload>,
        event_id: Option<&str>,
        parent_id: Option<&str>,
    ) -> Result<String, CallbackError> {
        let lane = current_lane();
        let id = event_id.map_or_else(new_event_id, str::to_owned);
        let parent = parent_id.map_or_else(|| lane.parent(), str::to_owned);
        self.start(&lane, event_type, payload, &id, &parent)?;
        Ok(id)
    }

    /// Ends an event, as LlamaIndex's `CallbackManager.on_event_end` does: every handler that
    /// does not ignore the type is told, and a non-leaf event stops being a parent here. Without
    /// an `event_id` the handlers get a new UUID, as in LlamaIndex.
    ///
    /// # Errors
    /// The first handler error; the remaining handlers are not called, and the event is closed all
    /// the same.
    pub fn on_event_end(
        &self,
        event_type: CBEventType,
        payload: Option<&Payload>,
        event_id: Option<&str>,
    ) -> Result<(), CallbackError> {
        let id = event_id.map_or_else(new_event_id, str::to_owned);
        self.end(&current_lane(), event_type, &id, payload)
    }

    /// Opens an event of `event_type` in the current trace (or this thread's implicit state outside
    /// any trace), with a new UUID v4 id, as [`on_event_start`](Self::on_event_start) does; the
    /// event ends with [`EventGuard::on_end`], or with no payload when the guard is dropped.
    ///
    /// # Errors
    /// As [`on_event_start`](Self::on_event_start).
    pub fn event(
        &self,
        event_type: CBEventType,
        payload: Option<Payload>,
    ) -> Result<EventGuard, CallbackError> {
        self.event_with_id(event_type, payload, new_event_id())
    }

    /// As [`event`](Self::event), with the id `event_id` (LlamaIndex's
    /// `callback_manager.event(event_type, payload, event_id=...)`).
    ///
    /// # Errors
    /// As [`on_event_start`](Self::on_event_start).
    pub fn event_with_id(
        &self,
        event_type: CBEventType,
        payload: Option<Payload>,
        event_id: impl Into<String>,
    ) -> Result<EventGuard, CallbackError> {
        let lane = current_lane();
        let id = event_id.into();
        let parent = lane.parent();
        self.start(&lane, event_type, payload.as_ref(), &id, &parent)?;
        Ok(EventGuard {
            manager: self.clone(),
            lane,
            event_type,
            id,
            parent,
            ended: false,
        })
    }

    fn start(
        &self,
        lane: &Lane,
        event_type: CBEventType,
        payload: Option<&Payload>,
        id: &str,
        parent: &str,
    ) -> Result<(), CallbackError> {
        lane.record(parent, id);
        for handler in self.snapshot().iter() {
            if !handler.event_starts_to_ignore().contains(&event_type) {
                isolated(|| {
                    handler
                        .on_event_start(event_type, payload, id, parent)
                        .map(drop)
                })?;
            }
        }
        if !event_type.is_leaf() {
            lane.push(id.to_owned());
        }
        Ok(())
    }

    fn end(
        &self,
        lane: &Lane,
        event_type: CBEventType,
        id: &str,
        payload: Option<&Payload>,
    ) -> Result<(), CallbackError> {
        if !event_type.is_leaf() {
            lane.pop(id);
        }
        for handler in self.snapshot().iter() {
            if !handler.event_ends_to_ignore().contains(&event_type) {
                isolated(|| handler.on_event_end(event_type, payload, id))?;
            }
        }
        Ok(())
    }

    /// Begins a trace on this thread until the guard is dropped. Only the outermost trace (none
    /// current here) calls the handlers' `start_trace` now and `end_trace` with its trace map when
    /// the guard drops; a nested one changes nothing.
    ///
    /// The trace is current on this thread only. Carry it into other threads or tasks with
    /// [`CallbackManager::current_trace`]; for async code use
    /// [`with_trace_async`](Self::with_trace_async), which survives `.await`.
    pub fn as_trace(&self, trace_id: impl Into<String>) -> TraceGuard {
        TraceGuard::begin(Arc::new(self.clone()), trace_id.into())
    }

    /// Runs `f` in a trace; see [`as_trace`](Self::as_trace).
    pub fn with_trace<R>(&self, trace_id: impl Into<String>, f: impl FnOnce() -> R) -> R {
        let _trace = self.as_trace(trace_id);
        f()
    }

    /// `future` in a trace, entered on every poll so that it survives `.await` and moves between
    /// threads. Made outside any trace, the future begins an outermost trace: `start_trace` at its
    /// first poll, `end_trace` when it completes or is dropped. Made inside one, it joins that trace
    /// below the event open where it was made, with its own stack of open events (so it can run
    /// beside its parent, e.g. in `join!` or a spawned task).
    pub fn with_trace_async<F: Future>(
        &self,
        trace_id: impl Into<String>,
        future: F,
    ) -> WithTrace<F> {
        WithTrace::begin(Arc::new(self.clone()), trace_id.into(), future)
    }

    /// A handle on the trace current here and the event open here, to attach in another thread or
    /// task ([`TraceHandle::attach`], [`TraceHandle::scope`], [`TraceHandle::wrap`]). The current
    /// trace is per thread or task, shared by all managers.
    #[must_use]
    pub fn current_trace() -> TraceHandle {
        TraceHandle::current()
    }
}

impl TraceListener for CallbackManager {
    fn start_trace(&self, trace_id: Option<&str>) {
        for handler in self.snapshot().iter() {
            let _ = isolated(|| {
                handler.start_trace(trace_id);
                Ok(())
            });
        }
    }

    fn end_trace(&self, trace_id: Option<&str>, trace_map: &TraceMap) {
        for handler in self.snapshot().iter() {
            let _ = isolated(|| {
                handler.end_trace(trace_id, trace_map);
                Ok(())
            });
        }
    }
}

/// An open callback event; see [`CallbackManager::event`].
///
/// End it with [`on_end`](Self::on_end) to pass a payload and see handler errors. Dropping it
/// without that ends the event with no payload (with `{"exception": "panic"}` while unwinding from a
/// panic); a handler error then has nowhere to go, so it is counted in
/// [`CallbackManager::swallowed_errors`] and the first one in the process is printed to stderr.
///
/// The guard is `Send`: it ends the event in the trace it was opened in, wherever it is dropped.
#[derive(Debug)]
#[must_use = "the event ends when the guard is dropped"]
pub struct EventGuard {
    manager: CallbackManager,
    lane: Arc<Lane>,
    event_type: CBEventType,
    id: String,
    parent: String,
    ended: bool,
}

impl EventGuard {
    /// The event's id: the one given to [`CallbackManager::event_with_id`], else a UUID v4.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The id of the event's parent, or `"root"`.
    #[must_use]
    pub fn parent_id(&self) -> &str {
        &self.parent
    }

    /// The event's type.
    #[must_use]
    pub fn event_type(&self) -> CBEventType {
        self.event_type
    }

    /// Ends the event: calls `on_event_end` on every handler that does not ignore its type.
    ///
    /// # Errors
    /// The first handler error; the remaining handlers are not called, and the event is closed all
    /// the same.
    pub fn on_end(mut self, payload: Option<Payload>) -> Result<(), CallbackError> {
        self.ended = true;
        self.manager
            .end(&self.lane, self.event_type, &self.id, payload.as_ref())
    }
}

impl Drop for EventGuard {
    fn drop(&mut self) {
        if !self.ended {
            self.end_dropped();
        }
    }
}

impl EventGuard {
    #[cold]
    fn end_dropped(&mut self) {
        let payload =
            std::thread::panicking().then(|| Payload::new().with(EventPayload::Exception, "panic"));
        if let Err(err) = self
            .manager
            .end(&self.lane, self.event_type, &self.id, payload.as_ref())
        {
            self.manager.inner.swallowed.fetch_add(1, Ordering::Relaxed);
            report_swallowed(&err);
        }
    }
}

#[cold]
fn report_swallowed(err: &CallbackError) {
    static REPORTED: AtomicBool = AtomicBool::new(false);
    if !REPORTED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "instrument: a callback handler failed ending an event whose guard was dropped: {err} \
             (further such errors are only counted: CallbackManager::swallowed_errors)"
        );
    }
}

/// A new event id: a UUID v4, as LlamaIndex makes them.
fn new_event_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Calls into a handler, turning a panic into an error: a callback handler that panics must not take
/// the program down. The panic is counted in [`crate::handler_panics`].
fn isolated(call: impl FnOnce() -> Result<(), CallbackError>) -> Result<(), CallbackError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).unwrap_or_else(|payload| {
        crate::dispatch::handler::count_panic();
        Err(CallbackError::handler(
            "callback handler",
            format!(
                "panicked: {}",
                crate::values::value_guard::panic_message(&*payload)
            ),
        ))
    })
}
