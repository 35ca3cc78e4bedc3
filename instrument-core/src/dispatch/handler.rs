//! The two handler traits, and the erased, panic-isolated forms the dispatcher stores.

use std::any::type_name;
use std::mem::{MaybeUninit, align_of, size_of};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde_json::{Map, Value};

use crate::dispatch::event::EventEnvelope;
use crate::span::id::SpanId;
use crate::span::{SpanEnd, SpanStart};

/// Receives every event emitted on a dispatcher whose chain it is in.
///
/// An event handler sees all event types and picks the ones it wants, usually with
/// [`EventEnvelope::downcast_ref`]. It is called on the emitting thread, so it should be quick: hand
/// heavy work (export, I/O) to a queue. A handler that panics is isolated: the others still run and
/// the program goes on; see [`handler_panics`].
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use instrument::{EventEnvelope, EventHandler, SpanDropEvent};
///
/// #[derive(Default)]
/// struct CountDrops(AtomicUsize);
///
/// impl EventHandler for CountDrops {
///     fn handle(&self, event: &EventEnvelope<'_>) {
///         if event.is::<SpanDropEvent>() {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let counter = instrument::get_dispatcher("doc::event_handler").add_event_handler(CountDrops::default());
/// assert_eq!(counter.0.load(Ordering::Relaxed), 0);
/// ```
pub trait EventHandler: Send + Sync + 'static {
    /// Handles one event.
    fn handle(&self, event: &EventEnvelope<'_>);

    /// Called once by [`crate::shutdown`]; flush and release resources here.
    fn close(&self) {}
}

/// Follows spans from start to end, keeping whatever it needs in its own span type.
///
/// Each call of an instrumented function asks every span handler in its dispatcher's chain for a
/// span with [`SpanHandler::new_span`]. The value returned travels with the call (inside `#[span]`'s
/// guard, not in a global map) and comes back exactly once: to
/// [`SpanHandler::prepare_to_exit_span`] when the function returns normally, or to
/// [`SpanHandler::prepare_to_drop_span`] when it returns `Err`, panics, is cancelled, or the
/// program shuts down. Several handlers with different span types can share one chain.
///
/// Both [`SpanStart`] and [`SpanEnd`] carry the id, parent, name and timestamps, so many handlers
/// need no span state at all (`type Span = ()`). Span values up to three words are kept inline; larger
/// ones are boxed.
///
/// A handler that panics is isolated: the span goes on for the other handlers and the user's function
/// returns its value; see [`handler_panics`].
///
/// ```
/// use std::sync::Mutex;
/// use std::time::Duration;
/// use instrument::{SpanEnd, SpanHandler, SpanStart};
///
/// #[derive(Default)]
/// struct Durations(Mutex<Vec<(String, Duration)>>);
///
/// impl SpanHandler for Durations {
///     type Span = ();
///     fn new_span(&self, _: &SpanStart<'_>) -> Option<()> { Some(()) }
///     fn prepare_to_exit_span(&self, _: (), end: &SpanEnd<'_>) {
///         self.0.lock().unwrap().push((end.name().to_owned(), end.duration()));
///     }
///     fn prepare_to_drop_span(&self, span: (), end: &SpanEnd<'_>) {
///         self.prepare_to_exit_span(span, end);
///     }
/// }
///
/// let dispatcher = instrument::get_dispatcher("doc::span_handler");
/// let durations = dispatcher.add_span_handler(Durations::default());
/// dispatcher.in_span("manual", || ());
/// assert_eq!(durations.0.lock().unwrap()[0].0, "manual");
/// ```
pub trait SpanHandler: Send + Sync + 'static {
    /// What this handler keeps per open span.
    type Span: Send + 'static;

    /// A span starts; return `None` to not follow it.
    fn new_span(&self, start: &SpanStart<'_>) -> Option<Self::Span>;

    /// The span ended normally; `end.result()` is the return value, unless skipped.
    fn prepare_to_exit_span(&self, span: Self::Span, end: &SpanEnd<'_>);

    /// The span ended abnormally; `end.error()` says why.
    fn prepare_to_drop_span(&self, span: Self::Span, end: &SpanEnd<'_>);

    /// Whether [`SpanHandler::enter_scope`] and [`SpanHandler::leave_scope`] are called. Most
    /// handlers only need a span's start and end and leave this `false`, which keeps the scope
    /// calls off every span's path; a handler that must know *where* a span runs (to make a span of
    /// another tracer current there, or to measure busy time apart from time spent waiting) sets it
    /// `true`.
    const FOLLOWS_SCOPE: bool = false;

    /// Span `id` became the current span on this thread: a synchronous body starts, an `async`
    /// one is polled (once per poll, on whichever thread polls it, so a future that moves between
    /// worker threads enters on each), or a [`crate::Context`] captured inside the span is
    /// attached (`instrument::spawn`, `in_current_span`, `instrument::thread::spawn`: the task or
    /// thread runs in the span too). Called only when [`SpanHandler::FOLLOWS_SCOPE`] is `true`,
    /// for every span that started while the handler was registered, whether or not its
    /// [`SpanHandler::new_span`] followed it.
    ///
    /// Scopes nest: on each thread, every `enter_scope` is followed by the matching
    /// [`SpanHandler::leave_scope`] before the scope around it is left, so a handler can keep what
    /// it entered on a per-thread stack.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use instrument::{SpanEnd, SpanHandler, SpanId, SpanStart};
    ///
    /// /// Counts how many times spans were entered: once for a synchronous call, once per poll for
    /// /// an `async fn`.
    /// #[derive(Default)]
    /// struct Entries(AtomicUsize);
    ///
    /// impl SpanHandler for Entries {
    ///     type Span = ();
    ///     const FOLLOWS_SCOPE: bool = true;
    ///     fn new_span(&self, _: &SpanStart<'_>) -> Option<()> { Some(()) }
    ///     fn prepare_to_exit_span(&self, _: (), _: &SpanEnd<'_>) {}
    ///     fn prepare_to_drop_span(&self, _: (), _: &SpanEnd<'_>) {}
    ///     fn enter_scope(&self, _: SpanId) {
    ///         self.0.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }
    ///
    /// let dispatcher = instrument::get_dispatcher("doc::scopes");
    /// let entries = dispatcher.add_span_handler(Entries::default());
    /// dispatcher.in_span("work", || ());
    /// assert_eq!(entries.0.load(Ordering::Relaxed), 1);
    /// ```
    fn enter_scope(&self, id: SpanId) {
        let _ = id;
    }

    /// Span `id` stops being current on this thread, on every path out of the scope: the body
    /// returned or failed, the poll ended, or the body panicked (before the span is dropped for
    /// it). Called only when [`SpanHandler::FOLLOWS_SCOPE`] is `true`.
    fn leave_scope(&self, id: SpanId) {
        let _ = id;
    }

    /// What this handler needs carried with a span's context across a process or queue boundary
    /// (an upstream trace id, a sampling decision), as a map of its own keys:
    /// [`crate::Dispatcher::capture_propagation_context`] merges every handler's map of its
    /// chain into the context's `"handlers"` object. Empty by default. The keys are the handler's
    /// namespace: choose ones no other handler uses (your crate's name, say).
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use instrument::{SpanEnd, SpanHandler, SpanStart};
    /// use serde_json::{Map, Value, json};
    ///
    /// /// Carries the id of an upstream trace of another tracer.
    /// #[derive(Default)]
    /// struct Upstream(Mutex<Option<String>>);
    ///
    /// impl SpanHandler for Upstream {
    ///     type Span = ();
    ///     fn new_span(&self, _: &SpanStart<'_>) -> Option<()> { Some(()) }
    ///     fn prepare_to_exit_span(&self, _: (), _: &SpanEnd<'_>) {}
    ///     fn prepare_to_drop_span(&self, _: (), _: &SpanEnd<'_>) {}
    ///     fn capture_propagation_context(&self) -> Map<String, Value> {
    ///         let mut map = Map::new();
    ///         map.insert("upstream.trace".into(), json!(self.0.lock().unwrap().clone()));
    ///         map
    ///     }
    ///     fn restore_propagation_context(&self, context: &Map<String, Value>) {
    ///         let trace = context.get("upstream.trace").and_then(Value::as_str);
    ///         *self.0.lock().unwrap() = trace.map(str::to_owned);
    ///     }
    /// }
    ///
    /// let sender = instrument::get_dispatcher("doc::propagation_hooks");
    /// let upstream = sender.add_span_handler(Upstream::default());
    /// *upstream.0.lock().unwrap() = Some("abc".into());
    /// let carried = sender.capture_propagation_context().to_json();
    /// assert_eq!(carried["handlers"]["upstream.trace"], "abc");
    ///
    /// *upstream.0.lock().unwrap() = None; // as on the other side of a queue
    /// let _restored = sender.restore_propagation_context(&carried).unwrap();
    /// assert_eq!(upstream.0.lock().unwrap().as_deref(), Some("abc"));
    /// ```
    fn capture_propagation_context(&self) -> Map<String, Value> {
        Map::new()
    }

    /// The `"handlers"` object of a context captured elsewhere (every handler's keys), handed
    /// back by [`crate::Dispatcher::restore_propagation_context`] before the context is made
    /// current, so that the spans made in it see what the handler carried. Nothing by default.
    fn restore_propagation_context(&self, context: &Map<String, Value>) {
        let _ = context;
    }

    /// Called once by [`crate::shutdown`], after open spans were dropped.
    fn close(&self) {}
}

static HANDLER_PANICS: AtomicU64 = AtomicU64::new(0);

/// How many times a handler has panicked in this process. Each panic is caught, the other handlers
/// still run, and the first panic of each handler is also reported on stderr.
#[must_use]
pub fn handler_panics() -> u64 {
    HANDLER_PANICS.load(Ordering::Relaxed)
}

/// A shared handler is a handler: what [`crate::Dispatcher::add_shared_span_handler`] and
/// [`crate::Dispatcher::add_shared_event_handler`] register, and any `Arc` of a handler.
impl<H: SpanHandler> SpanHandler for Arc<H> {
    type Span = H::Span;

    const FOLLOWS_SCOPE: bool = H::FOLLOWS_SCOPE;

    fn new_span(&self, start: &SpanStart<'_>) -> Option<Self::Span> {
        (**self).new_span(start)
    }

    fn prepare_to_exit_span(&self, span: Self::Span, end: &SpanEnd<'_>) {
        (**self).prepare_to_exit_span(span, end);
    }

    fn prepare_to_drop_span(&self, span: Self::Span, end: &SpanEnd<'_>) {
        (**self).prepare_to_drop_span(span, end);
    }

    fn enter_scope(&self, id: SpanId) {
        (**self).enter_scope(id);
    }

    fn leave_scope(&self, id: SpanId) {
        (**self).leave_scope(id);
    }

    fn capture_propagation_context(&self) -> Map<String, Value> {
        (**self).capture_propagation_context()
    }

    fn restore_propagation_context(&self, context: &Map<String, Value>) {
        (**self).restore_propagation_context(context);
    }

    fn close(&self) {
        (**self).close();
    }
}

/// See the `SpanHandler` impl for `Arc`.
impl<H: EventHandler> EventHandler for Arc<H> {
    fn handle(&self, event: &EventEnvelope<'_>) {
        (**self).handle(event);
    }

    fn close(&self) {
        (**self).close();
    }
}

/// A registered handler and its bookkeeping: leaked for start-up registration, so that spans in
/// flight can always reach it, or behind an `Arc` for handlers added and removed at run time.
pub(crate) struct HandlerCell<H> {
    pub(crate) handler: H,
    /// The address the handler is known by for removal: the handler's own, or for an `Arc` the
    /// shared value's (what `remove_*_handler(&*arc)` passes).
    addr: usize,
    reported: AtomicBool,
    closed: AtomicBool,
}

impl<H> HandlerCell<H> {
    fn new(handler: H, addr: usize) -> Self {
        Self {
            handler,
            addr,
            reported: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }

    pub(crate) fn leak(handler: H) -> &'static Self {
        let cell = Box::leak(Box::new(Self::new(handler, 0)));
        cell.addr = std::ptr::from_ref(&cell.handler) as usize;
        cell
    }
}

impl<T: Send + Sync + 'static> HandlerCell<Arc<T>> {
    pub(crate) fn shared(handler: Arc<T>) -> Arc<Self> {
        let addr = Arc::as_ptr(&handler) as usize;
        Arc::new(Self::new(handler, addr))
    }
}

impl<H> HandlerCell<H> {
    /// The address the handler is known by for removal.
    pub(crate) fn known_addr(&self) -> *const () {
        std::ptr::without_provenance(self.addr)
    }

    /// Runs `f`, catching a panic: counted always, reported on stderr the first time.
    #[inline]
    pub(crate) fn isolate<R>(&self, what: &str, f: impl FnOnce() -> R) -> Option<R> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(value) => Some(value),
            Err(payload) => {
                self.report(what, &*payload);
                None
            }
        }
    }

    #[cold]
    fn report(&self, what: &str, payload: &(dyn std::any::Any + Send)) {
        HANDLER_PANICS.fetch_add(1, Ordering::Relaxed);
        if !self.reported.swap(true, Ordering::Relaxed) {
            eprintln!(
                "instrument: handler {} panicked in {what}: {}; it stays registered, and later panics \
                 are only counted (instrument::handler_panics())",
                type_name::<H>(),
                crate::values::value_guard::panic_message(payload)
            );
        }
    }

    pub(crate) fn close_once(&self, close: impl FnOnce(&H)) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.isolate("close", || close(&self.handler));
        }
    }
}

/// Counts a panic caught outside a registered handler's own isolation (a callback handler's).
pub(crate) fn count_panic() {
    HANDLER_PANICS.fetch_add(1, Ordering::Relaxed);
}

/// Where one handler's span value lives while the span is open: inline when it fits in three words.
pub(crate) struct SpanSlot(MaybeUninit<[usize; 3]>);

impl SpanSlot {
    const fn fits<S>() -> bool {
        size_of::<S>() <= size_of::<[usize; 3]>() && align_of::<S>() <= align_of::<usize>()
    }

    fn new<S>(span: S) -> Self {
        let mut slot = MaybeUninit::<[usize; 3]>::uninit();
        // SAFETY: the slot is three words, aligned to a word: room for `S` when it fits, else for
        // the box pointer.
        unsafe {
            if Self::fits::<S>() {
                slot.as_mut_ptr().cast::<S>().write(span);
            } else {
                slot.as_mut_ptr()
                    .cast::<*mut S>()
                    .write(Box::into_raw(Box::new(span)));
            }
        }
        Self(slot)
    }

    /// # Safety
    /// The slot was made by `SpanSlot::new::<S>` and is taken once.
    unsafe fn take<S>(self) -> S {
        unsafe {
            if Self::fits::<S>() {
                self.0.as_ptr().cast::<S>().read()
            } else {
                *Box::from_raw(self.0.as_ptr().cast::<*mut S>().read())
            }
        }
    }
}

/// The object-safe span handler the dispatcher stores.
pub(crate) trait ErasedSpanHandler: Send + Sync {
    fn new_span(&self, start: &SpanStart<'_>) -> Option<SpanSlot>;
    /// # Safety
    /// `slot` came from this handler's `new_span`.
    unsafe fn end(&self, slot: SpanSlot, end: &SpanEnd<'_>);
    /// [`SpanHandler::FOLLOWS_SCOPE`].
    fn follows_scope(&self) -> bool;
    fn enter_scope(&self, id: SpanId);
    fn leave_scope(&self, id: SpanId);
    /// Merges the handler's propagation map into `into`; nothing if the handler panics.
    fn capture_propagation(&self, into: &mut Map<String, Value>);
    fn restore_propagation(&self, context: &Map<String, Value>);
    fn close(&self);
    fn addr(&self) -> *const ();
}

impl<H: SpanHandler> ErasedSpanHandler for HandlerCell<H> {
    #[inline]
    fn new_span(&self, start: &SpanStart<'_>) -> Option<SpanSlot> {
        self.isolate("new_span", || self.handler.new_span(start))
            .flatten()
            .map(SpanSlot::new)
    }

    #[inline]
    unsafe fn end(&self, slot: SpanSlot, end: &SpanEnd<'_>) {
        // SAFETY: the caller guarantees the slot holds an `H::Span`.
        let span = unsafe { slot.take::<H::Span>() };
        if end.is_exit() {
            self.isolate("prepare_to_exit_span", || {
                self.handler.prepare_to_exit_span(span, end)
            });
        } else {
            self.isolate("prepare_to_drop_span", || {
                self.handler.prepare_to_drop_span(span, end)
            });
        }
    }

    fn follows_scope(&self) -> bool {
        H::FOLLOWS_SCOPE
    }

    #[inline]
    fn enter_scope(&self, id: SpanId) {
        self.isolate("enter_scope", || self.handler.enter_scope(id));
    }

    #[inline]
    fn leave_scope(&self, id: SpanId) {
        self.isolate("leave_scope", || self.handler.leave_scope(id));
    }

    fn capture_propagation(&self, into: &mut Map<String, Value>) {
        if let Some(map) = self.isolate("capture_propagation_context", || {
            self.handler.capture_propagation_context()
        }) {
            into.extend(map);
        }
    }

    fn restore_propagation(&self, context: &Map<String, Value>) {
        self.isolate("restore_propagation_context", || {
            self.handler.restore_propagation_context(context);
        });
    }

    fn close(&self) {
        self.close_once(SpanHandler::close);
    }

    fn addr(&self) -> *const () {
        self.known_addr()
    }
}

/// The object-safe event handler the dispatcher stores.
pub(crate) trait ErasedEventHandler: Send + Sync {
    fn handle(&self, event: &EventEnvelope<'_>);
    fn close(&self);
    fn addr(&self) -> *const ();
}

impl<H: EventHandler> ErasedEventHandler for HandlerCell<H> {
    #[inline]
    fn handle(&self, event: &EventEnvelope<'_>) {
        self.isolate("handle", || self.handler.handle(event));
    }

    fn close(&self) {
        self.close_once(EventHandler::close);
    }

    fn addr(&self) -> *const () {
        self.known_addr()
    }
}
