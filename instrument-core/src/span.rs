//! Spans: what handlers see when one starts and ends, and the state that carries a span from its
//! start to exactly one end.

use std::borrow::Cow;
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomPinned;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::args::Arg;
use crate::clock::Timestamp;
use crate::context::{self, HandlerGuard, Scope};
use crate::dispatcher::{Chain, Shared, shared_of};
use crate::event::EventEnvelope;
use crate::events::SpanDropEvent;
use crate::handler::{ErasedSpanHandler, SpanSlot};
use crate::id::SpanId;
use crate::open_spans::{self, Only, Slot};
use crate::tags::Tags;

/// What span handlers see when a span starts.
#[derive(Debug)]
pub struct SpanStart<'a> {
    pub(crate) id: SpanId,
    pub(crate) parent: Option<SpanId>,
    pub(crate) trace: u128,
    pub(crate) start: Timestamp,
    pub(crate) tags: &'a Tags,
    pub(crate) args: &'a [Arg<'a>],
    pub(crate) instance: Option<&'static str>,
    pub(crate) dispatcher: &'static str,
}

impl<'a> SpanStart<'a> {
    /// The new span's id.
    #[must_use]
    pub fn id(&self) -> SpanId {
        self.id
    }

    /// The span's name (`Type.method` for methods, the function's name otherwise).
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.id.name()
    }

    /// The span that was current when this one started.
    #[must_use]
    pub fn parent_id(&self) -> Option<SpanId> {
        self.parent
    }

    /// The W3C trace-id of the span's trace: the UUID of its local root span, or the remote trace
    /// its context continues. Every exporter names the span's trace by it, and a `traceparent`
    /// injected inside the span carries it.
    #[must_use]
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace.to_be_bytes()
    }

    /// When the span started.
    #[must_use]
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// The tags active when the span started.
    #[must_use]
    pub fn tags(&self) -> &'a Tags {
        self.tags
    }

    /// The bound arguments as passed, `self` excluded, in signature order. Values are read lazily:
    /// keep what you need, as the arguments may be gone when the span ends.
    #[must_use]
    pub fn args(&self) -> &'a [Arg<'a>] {
        self.args
    }

    /// The argument called `name`.
    #[must_use]
    pub fn arg(&self, name: &str) -> Option<&'a Arg<'a>> {
        self.args.iter().find(|a| a.name() == name)
    }

    /// For a method, the full type name of `Self` (LlamaIndex's `instance`).
    #[must_use]
    pub fn instance(&self) -> Option<&'static str> {
        self.instance
    }

    /// The name of the dispatcher the span was made on.
    #[must_use]
    pub fn dispatcher(&self) -> &'static str {
        self.dispatcher
    }
}

/// Text of an error value: its `Display`, else its `Debug`, else its type name.
#[derive(Clone, Copy)]
pub struct ErrorText<'a> {
    display: Option<&'a dyn fmt::Display>,
    debug: Option<&'a dyn fmt::Debug>,
    type_name: &'static str,
}

impl<'a> ErrorText<'a> {
    /// From whatever views of the error exist; `#[span]` calls this with its probes' results.
    #[must_use]
    pub fn from_parts(
        display: Option<&'a dyn fmt::Display>,
        debug: Option<&'a dyn fmt::Debug>,
        type_name: &'static str,
    ) -> Self {
        Self {
            display,
            debug,
            type_name,
        }
    }

    /// From a value that implements `Display`.
    #[must_use]
    pub fn new<E: fmt::Display>(error: &'a E) -> Self {
        Self::from_parts(Some(error), None, std::any::type_name::<E>())
    }
}

impl fmt::Display for ErrorText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.display, self.debug) {
            (Some(display), _) => display.fmt(f),
            (None, Some(debug)) => write!(f, "{debug:?}"),
            (None, None) => write!(f, "<{}>", self.type_name),
        }
    }
}

impl fmt::Debug for ErrorText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrorText({self})")
    }
}

/// How a span ended.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Outcome<'a> {
    /// Returned normally (`Ok` for `Result`s), with the return value unless skipped.
    Exit(Option<Arg<'a>>),
    /// Returned `Err`.
    Error(ErrorText<'a>),
    /// Panicked with this message; unwinding resumed after the handlers ran.
    Panic(&'a str),
    /// A future or stream was dropped before it finished.
    Cancelled,
    /// Still open when [`crate::shutdown`] ran.
    Shutdown,
    /// Ended by the manual API with this reason.
    Dropped(&'a str),
}

/// Why a span was dropped rather than exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// The function returned `Err`.
    Error,
    /// The function panicked.
    Panic,
    /// The future or stream was dropped before completion.
    Cancelled,
    /// The program shut instrumentation down while the span was open.
    Shutdown,
    /// Dropped through the manual API.
    Manual,
}

/// Text given to handlers for a cancelled span.
pub const CANCELLED: &str = "cancelled";
/// Text given to handlers for a span open at shutdown.
pub const SHUTDOWN: &str = "dispatcher shutdown";

/// What span handlers see when a span ends.
pub struct SpanEnd<'a> {
    core: &'a SpanCore,
    end: Timestamp,
    outcome: &'a Outcome<'a>,
    metadata: &'a [(Cow<'static, str>, Value)],
}

impl<'a> SpanEnd<'a> {
    /// The span's id.
    #[must_use]
    pub fn id(&self) -> SpanId {
        self.core.id
    }

    /// The W3C trace-id of the span's trace, as [`SpanStart::trace_id`] gave it.
    #[must_use]
    pub fn trace_id(&self) -> [u8; 16] {
        self.core.trace.to_be_bytes()
    }

    /// The span's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.core.id.name()
    }

    /// The span's parent.
    #[must_use]
    pub fn parent_id(&self) -> Option<SpanId> {
        self.core.parent
    }

    /// When the span started.
    #[must_use]
    pub fn start(&self) -> Timestamp {
        self.core.start
    }

    /// When the span ended.
    #[must_use]
    pub fn end(&self) -> Timestamp {
        self.end
    }

    /// Wall-clock start time.
    #[must_use]
    pub fn start_time(&self) -> DateTime<Utc> {
        self.core.start.to_utc()
    }

    /// Wall-clock end time.
    #[must_use]
    pub fn end_time(&self) -> DateTime<Utc> {
        self.end.to_utc()
    }

    /// How long the span was open.
    #[must_use]
    pub fn duration(&self) -> Duration {
        self.end.duration_since(self.core.start)
    }

    /// The tags active when the span started.
    #[must_use]
    pub fn tags(&self) -> &'a Tags {
        &self.core.tags
    }

    /// The name of the dispatcher the span was made on.
    #[must_use]
    pub fn dispatcher(&self) -> &'static str {
        self.core.dispatcher
    }

    /// How the span ended.
    #[must_use]
    pub fn outcome(&self) -> &'a Outcome<'a> {
        self.outcome
    }

    /// Whether the span exited normally (else it was dropped).
    #[must_use]
    pub fn is_exit(&self) -> bool {
        matches!(self.outcome, Outcome::Exit(_))
    }

    /// The return value (the `Ok` value for `Result`s), unless skipped or dropped.
    #[must_use]
    pub fn result(&self) -> Option<&'a Arg<'a>> {
        match self.outcome {
            Outcome::Exit(result) => result.as_ref(),
            _ => None,
        }
    }

    /// Why the span was dropped, if it was.
    #[must_use]
    pub fn drop_reason(&self) -> Option<DropReason> {
        match self.outcome {
            Outcome::Exit(_) => None,
            Outcome::Error(_) => Some(DropReason::Error),
            Outcome::Panic(_) => Some(DropReason::Panic),
            Outcome::Cancelled => Some(DropReason::Cancelled),
            Outcome::Shutdown => Some(DropReason::Shutdown),
            Outcome::Dropped(_) => Some(DropReason::Manual),
        }
    }

    /// The error text of a dropped span (LlamaIndex's `err`): the error's `Display`, the panic
    /// message, `"cancelled"` or `"dispatcher shutdown"`.
    #[must_use]
    pub fn error(&self) -> Option<String> {
        outcome_error(self.outcome)
    }

    /// What code inside the span recorded with [`crate::CurrentSpan::record`], in order.
    #[must_use]
    pub fn metadata(&self) -> &'a [(Cow<'static, str>, Value)] {
        self.metadata
    }
}

fn outcome_error(outcome: &Outcome<'_>) -> Option<String> {
    Some(match outcome {
        Outcome::Exit(_) => return None,
        // An error type whose `Display` panics must not take the span's end down with it.
        Outcome::Error(text) => {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| text.to_string()))
                .unwrap_or_else(|_| format!("<{}: its Display panicked>", text.type_name))
        }
        Outcome::Panic(message) | Outcome::Dropped(message) => (*message).to_owned(),
        Outcome::Cancelled => CANCELLED.to_owned(),
        Outcome::Shutdown => SHUTDOWN.to_owned(),
    })
}

impl fmt::Debug for SpanEnd<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanEnd")
            .field("id", &self.core.id)
            .field("parent", &self.core.parent)
            .field("duration", &self.duration())
            .field("outcome", self.outcome)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

/// The span values of each handler in the chain that followed the span: inline for the first two.
struct HandlerSpans {
    live: u8,
    inline: [MaybeUninit<SpanSlot>; 2],
    more: Vec<(usize, SpanSlot)>,
}

/// The part of a span's state that shutdown may reach from another thread.
pub(crate) struct SpanCore {
    id: SpanId,
    parent: Option<SpanId>,
    /// The trace-id, fixed at start.
    trace: u128,
    start: Timestamp,
    chain: &'static Chain,
    /// The shared handlers the span's dispatcher reached when it started (only when its chain
    /// says there are some); their span values follow the chain's in `spans`.
    shared: Option<Arc<Shared>>,
    tags: Tags,
    dispatcher: &'static str,
    /// Taken by whoever ends the span: its owner, or shutdown after claiming its slot.
    spans: UnsafeCell<HandlerSpans>,
}

// SAFETY: every field but `spans` is immutable after start; `spans` is touched only by the one party
// that ends the span, which `open_spans` makes exclusive.
unsafe impl Sync for SpanCore {}

impl SpanCore {
    /// Makes the span current on this thread until the scope is left, and tells the handlers that
    /// follow scopes (they are told it left before the span around it is current again).
    #[inline]
    fn enter(&self) -> Scope {
        let mut scope = Scope::enter(self.id, self.trace);
        if !self.chain.scoped.is_empty() {
            scope.follow(self.id, self.chain);
        }
        scope
    }

    /// Starts a span: asks each span handler in `chain` for its span value, writing the state in
    /// place at `place` so that nothing large is copied on the hot path.
    ///
    /// # Safety
    /// `place` is valid for writes of a `SpanCore`; on return it holds an initialised one.
    #[allow(clippy::too_many_arguments)]
    unsafe fn init(
        place: *mut SpanCore,
        chain: &'static Chain,
        id: SpanId,
        parent: Option<SpanId>,
        trace: u128,
        tags: Tags,
        dispatcher: &'static str,
        instance: Option<&'static str>,
        args: &[Arg<'_>],
    ) {
        let start = Timestamp::now();
        let shared = if chain.shared {
            shared_of(dispatcher)
        } else {
            None
        };
        // SAFETY: every field is written once, through raw pointers, before any is read.
        unsafe {
            (&raw mut (*place).id).write(id);
            (&raw mut (*place).parent).write(parent);
            (&raw mut (*place).trace).write(trace);
            (&raw mut (*place).start).write(start);
            (&raw mut (*place).chain).write(chain);
            (&raw mut (*place).shared).write(shared);
            (&raw mut (*place).tags).write(tags);
            (&raw mut (*place).dispatcher).write(dispatcher);
            (&raw mut (*place).spans).write(UnsafeCell::new(HandlerSpans {
                live: 0,
                inline: [MaybeUninit::uninit(), MaybeUninit::uninit()],
                more: Vec::new(),
            }));
        }
        // SAFETY: initialised just above, and not shared yet.
        let (core, spans) = unsafe { (&*place, &mut *(*place).spans.get()) };
        if chain.span.is_empty() && core.shared.as_ref().is_none_or(|s| s.span.is_empty()) {
            return;
        }
        let _guard = HandlerGuard::enter();
        let cx = SpanStart {
            id,
            parent,
            trace,
            start,
            tags: &core.tags,
            args,
            instance,
            dispatcher,
        };
        for (index, handler) in chain.span.iter().enumerate() {
            if let Some(slot) = handler.new_span(&cx) {
                if index < 2 {
                    spans.inline[index].write(slot);
                    spans.live |= 1 << index;
                } else {
                    spans.more.push((index, slot));
                }
            }
        }
        if let Some(shared) = &core.shared {
            Self::start_shared(shared, chain.span.len(), &cx, spans);
        }
    }

    /// Asks the shared handlers for their span values, numbered after the chain's handlers.
    #[cold]
    #[inline(never)]
    fn start_shared(shared: &Shared, first: usize, cx: &SpanStart<'_>, spans: &mut HandlerSpans) {
        for (index, handler) in shared.span.iter().enumerate() {
            if let Some(slot) = handler.new_span(cx) {
                spans.more.push((first + index, slot));
            }
        }
    }

    /// The span handler numbered `index`: the chain's, then the shared ones. Always `Some` for
    /// the number of a value in `spans`: a value numbered past the chain was made by a handler of
    /// this span's own shared snapshot, which never changes.
    fn span_handler(&self, index: usize) -> Option<&dyn ErasedSpanHandler> {
        match self.chain.span.get(index) {
            Some(handler) => Some(*handler),
            None => self
                .shared
                .as_ref()?
                .span
                .get(index - self.chain.span.len())
                .map(|handler| &**handler),
        }
    }

    /// Hands every handler's span value back to it. Called exactly once, by the party that owns the
    /// right to end the span.
    ///
    /// # Safety
    /// No one else accesses `spans` now or later.
    #[inline]
    pub(crate) unsafe fn end(
        &self,
        outcome: &Outcome<'_>,
        metadata: &[(Cow<'static, str>, Value)],
    ) {
        let end = Timestamp::now();
        let shared_events = self.shared.as_ref().is_some_and(|s| !s.event.is_empty());
        if !matches!(outcome, Outcome::Exit(_)) && (!self.chain.event.is_empty() || shared_events) {
            let _guard = HandlerGuard::enter();
            self.emit_drop_event(outcome, end);
        }
        // SAFETY: exclusive by the caller's guarantee.
        unsafe { self.end_handlers(outcome, metadata, end) };
    }

    /// Ends the span for the span handlers whose values it still holds.
    ///
    /// # Safety
    /// No one else accesses `spans` now or later.
    #[inline]
    unsafe fn end_handlers(
        &self,
        outcome: &Outcome<'_>,
        metadata: &[(Cow<'static, str>, Value)],
        end: Timestamp,
    ) {
        // SAFETY: exclusive by the caller's guarantee.
        let spans = unsafe { &mut *self.spans.get() };
        let _guard = HandlerGuard::enter();
        let cx = SpanEnd {
            core: self,
            end,
            outcome,
            metadata,
        };
        for index in 0..2 {
            if spans.live & (1 << index) != 0 {
                spans.live &= !(1 << index);
                // SAFETY: the bit says slot `index` was written and not yet taken; the slot was made by
                // `chain.span[index]`.
                unsafe {
                    let slot = spans.inline[index].assume_init_read();
                    self.chain.span[index].end(slot, &cx);
                }
            }
        }
        for (index, slot) in spans.more.drain(..) {
            if let Some(handler) = self.span_handler(index) {
                // SAFETY: made by this handler's `new_span`.
                unsafe { handler.end(slot, &cx) };
            }
        }
    }

    #[cold]
    fn emit_drop_event(&self, outcome: &Outcome<'_>, at: Timestamp) {
        let event = SpanDropEvent {
            span_id: self.id,
            err_str: outcome_error(outcome).unwrap_or_default(),
        };
        let envelope = EventEnvelope::with_context(
            &event,
            self.dispatcher,
            at,
            Some(self.id),
            self.tags.clone(),
        );
        for handler in &self.chain.event {
            handler.handle(&envelope);
        }
        for handler in self.shared.iter().flat_map(|s| &s.event) {
            handler.handle(&envelope);
        }
    }
}

/// The trace a span starts in: the trace it was started in (`current`, non-zero), else, under a
/// parent whose trace is unknown (a context made from a span id alone), the parent's UUID, else,
/// for a root, its own UUID: the rule every exporter and `traceparent` follow.
#[inline]
fn trace_of(id: SpanId, parent: Option<SpanId>, current: u128) -> u128 {
    if current != 0 {
        current
    } else {
        root_trace(parent.unwrap_or(id))
    }
}

#[cold]
fn root_trace(root: SpanId) -> u128 {
    root.uuid().as_u128()
}

/// Where a span asked for now will start, captured to start it later: the current span, its trace
/// and the tags. Not API: `#[span]` on an `async fn` captures it when the function is called.
#[doc(hidden)]
#[derive(Debug)]
pub struct Parent {
    id: Option<SpanId>,
    trace: u128,
    tags: Tags,
}

impl Parent {
    /// The current span, trace and tags; `None` inside a handler, where nothing is recorded.
    #[inline]
    #[must_use]
    pub fn current() -> Option<Self> {
        if context::in_handler() {
            return None;
        }
        Some(Self {
            id: context::current_id(),
            trace: context::current_trace(),
            tags: context::tags(),
        })
    }
}

/// One span from start to end: the state `#[span]` and the manual API keep for an open span.
///
/// Not API: use `#[span]`, [`crate::Dispatcher::in_span`] or [`crate::Dispatcher::enter_span`].
/// It must be pinned before [`SpanState::run`] or [`SpanState::instrument`], and ends exactly once:
/// by [`SpanState::exit`], [`SpanState::fail`], a panic inside, shutdown, or, when dropped unended,
/// as cancelled.
#[doc(hidden)]
pub struct SpanState {
    core: SpanCore,
    metadata: Vec<(Cow<'static, str>, Value)>,
    slot: Option<&'static Slot>,
    registered: bool,
    finished: bool,
    _pinned: PhantomPinned,
}

impl SpanState {
    /// Starts a span on `chain` as a child of the current span, or `None` when called from inside a
    /// handler.
    #[inline]
    #[must_use]
    pub fn start(
        chain: &'static Chain,
        name: &'static str,
        dispatcher: &'static str,
        instance: Option<&'static str>,
        args: &[Arg<'_>],
    ) -> Option<Self> {
        let mut place = MaybeUninit::uninit();
        // SAFETY: `start_at` initialises `place` when it returns true.
        Self::start_at(&mut place, chain, name, dispatcher, instance, args)
            .then(|| unsafe { place.assume_init() })
    }

    /// As [`SpanState::start`], writing the state in place; `false` (and `place` untouched) when
    /// called from inside a handler.
    #[inline]
    pub(crate) fn start_at(
        place: &mut MaybeUninit<Self>,
        chain: &'static Chain,
        name: &'static str,
        dispatcher: &'static str,
        instance: Option<&'static str>,
        args: &[Arg<'_>],
    ) -> bool {
        let Some(parent) = Parent::current() else {
            return false;
        };
        Self::start_in(place, parent, chain, name, dispatcher, instance, args);
        true
    }

    /// Writes a span started under `parent` at `place`.
    #[inline]
    fn start_in(
        place: &mut MaybeUninit<Self>,
        parent: Parent,
        chain: &'static Chain,
        name: &'static str,
        dispatcher: &'static str,
        instance: Option<&'static str>,
        args: &[Arg<'_>],
    ) {
        let id = SpanId::fresh(name);
        let trace = trace_of(id, parent.id, parent.trace);
        Self::init(place, |core| {
            // SAFETY: `core` points into `place`, valid for writes.
            unsafe {
                SpanCore::init(
                    core,
                    chain,
                    id,
                    parent.id,
                    trace,
                    parent.tags,
                    dispatcher,
                    instance,
                    args,
                );
            };
        });
    }

    /// Starts a span under `parent`, the context captured where the span was asked for: an
    /// `async fn` called in one span and first polled later, elsewhere, is that span's child.
    /// `None` when there is no parent to start under (the call was made inside a handler).
    #[inline]
    #[must_use]
    pub fn start_under(
        parent: Option<Parent>,
        chain: &'static Chain,
        name: &'static str,
        dispatcher: &'static str,
        instance: Option<&'static str>,
        args: &[Arg<'_>],
    ) -> Option<Self> {
        let mut place = MaybeUninit::uninit();
        Self::start_in(&mut place, parent?, chain, name, dispatcher, instance, args);
        // SAFETY: `start_in` initialised every field.
        Some(unsafe { place.assume_init() })
    }

    /// Starts a span with an explicit id, parent, trace and tags (the by-id API).
    pub(crate) fn start_detached(
        chain: &'static Chain,
        id: SpanId,
        parent: Option<SpanId>,
        trace: u128,
        tags: Tags,
        dispatcher: &'static str,
        args: &[Arg<'_>],
    ) -> Self {
        let trace = trace_of(id, parent, trace);
        let mut place = MaybeUninit::uninit();
        Self::init(&mut place, |core| {
            // SAFETY: `core` points into `place`, valid for writes.
            unsafe {
                SpanCore::init(core, chain, id, parent, trace, tags, dispatcher, None, args);
            };
        });
        // SAFETY: `init` initialised every field.
        unsafe { place.assume_init() }
    }

    /// Writes a fresh state at `place`, its core by `init_core`.
    fn init(place: &mut MaybeUninit<Self>, init_core: impl FnOnce(*mut SpanCore)) {
        let p = place.as_mut_ptr();
        // SAFETY: every field is written once before `place` is read.
        unsafe {
            init_core(&raw mut (*p).core);
            (&raw mut (*p).metadata).write(Vec::new());
            (&raw mut (*p).slot).write(None);
            (&raw mut (*p).registered).write(false);
            (&raw mut (*p).finished).write(false);
            (&raw mut (*p)._pinned).write(PhantomPinned);
        }
    }

    /// The span's id.
    #[must_use]
    pub fn id(&self) -> SpanId {
        self.core.id
    }

    /// The span's trace-id, as a `u128`.
    pub(crate) fn trace(&self) -> u128 {
        self.core.trace
    }

    pub(crate) fn register(self: Pin<&mut Self>) {
        // SAFETY: nothing is moved out; the address given to `open_spans` stays valid until `finish`
        // releases it, which Drop guarantees for a pinned value.
        let this = unsafe { self.get_unchecked_mut() };
        if !this.registered {
            this.registered = true;
            this.slot = open_spans::register(std::ptr::from_mut(&mut this.core));
        }
    }

    /// Runs `f` inside the span: the span is current, a panic drops it with the panic's message (then
    /// unwinding resumes). The caller ends the span after with `exit` or `fail`.
    #[inline]
    pub fn run<R>(mut self: Pin<&mut Self>, f: impl FnOnce() -> R) -> R {
        self.as_mut().register();
        let scope = self.core.enter();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        // SAFETY: only `metadata` is touched; nothing is moved.
        let this = unsafe { self.as_mut().get_unchecked_mut() };
        scope.leave(this.core.id, &mut this.metadata);
        match result {
            Ok(value) => value,
            Err(payload) => self.panicked(payload),
        }
    }

    #[cold]
    fn panicked(self: Pin<&mut Self>, payload: Box<dyn std::any::Any + Send>) -> ! {
        let message = crate::handler::panic_message(&*payload);
        self.finish(&Outcome::Panic(&message));
        std::panic::resume_unwind(payload)
    }

    /// Ends the span normally with the return value.
    #[inline]
    pub fn exit(self: Pin<&mut Self>, result: Option<Arg<'_>>) {
        self.finish(&Outcome::Exit(result));
    }

    /// Ends the span with an error (it is dropped, and a `SpanDropEvent` emitted).
    #[cold]
    pub fn fail(self: Pin<&mut Self>, error: ErrorText<'_>) {
        self.finish(&Outcome::Error(error));
    }

    /// Ends the span as dropped with `reason` (the manual API).
    pub(crate) fn drop_with(self: Pin<&mut Self>, reason: &str) {
        self.finish(&Outcome::Dropped(reason));
    }

    fn finish(self: Pin<&mut Self>, outcome: &Outcome<'_>) {
        // SAFETY: nothing is moved out of the pinned state.
        let this = unsafe { self.get_unchecked_mut() };
        this.finish_in_place(outcome);
    }

    fn finish_in_place(&mut self, outcome: &Outcome<'_>) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        if let Some(slot) = self.slot.take()
            && !open_spans::release(slot, std::ptr::from_mut(&mut self.core))
        {
            return; // shutdown ended it
        }
        // SAFETY: we own the right to end the span: never registered, or released by us.
        unsafe { self.core.end(outcome, &self.metadata) };
    }
}

impl Drop for SpanState {
    fn drop(&mut self) {
        if !self.finished {
            self.finish_in_place(&Outcome::Cancelled);
        }
    }
}

impl fmt::Debug for SpanState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanState")
            .field("id", &self.core.id)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

/// A future running inside a span, when there is one: the span is current during every poll, and a
/// panic in a poll drops the span with the panic's message. Made by `#[span]` on `async fn`, which
/// awaits it once whether or not a handler listens, and ends the span from the output after.
#[doc(hidden)]
#[must_use = "futures do nothing unless polled"]
pub struct Instrumented<'s, F> {
    state: Pin<&'s mut Option<SpanState>>,
    future: F,
}

/// Wraps `future` so that it runs inside `state`'s span, if any, on every poll.
#[doc(hidden)]
#[inline]
pub fn instrument<F: Future>(state: Pin<&mut Option<SpanState>>, future: F) -> Instrumented<'_, F> {
    Instrumented { state, future }
}

impl<F: Future> Future for Instrumented<'_, F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: never moved out, and there is no Drop impl.
        let this = unsafe { self.get_unchecked_mut() };
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        match this.state.as_mut().as_pin_mut() {
            None => future.poll(cx),
            Some(state) => state.run(move || future.poll(cx)),
        }
    }
}

impl<F> fmt::Debug for Instrumented<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instrumented")
            .field("state", &self.state.as_ref().get_ref().as_ref())
            .finish_non_exhaustive()
    }
}

/// A boxed span state, for spans that outlive the call that made them (streams, manual guards).
pub(crate) type BoxedState = Pin<Box<SpanState>>;

/// A span taken for shutdown: a copy of the state's fields and its handlers' span values, moved out,
/// so that shutdown can call the handlers without touching the state, which its owner may free as
/// soon as it learns that shutdown took the span (a handler may even do it, by dropping a guard).
/// `whole`: every handler's value was taken and the span ends for good (a `SpanDropEvent` is
/// emitted); else only some handlers' were ([`Dispatcher::shutdown`](crate::Dispatcher::shutdown)),
/// and the owner ends the span for the others.
pub(crate) struct Taken {
    core: SpanCore,
    whole: bool,
}

/// Takes the span's handler values out of `core` for shutdown: every handler's, or, with `only`,
/// those of the handlers it accepts. `None` when nothing was taken.
///
/// # Safety
/// The caller has exclusive access to `core.spans` (a claimed slot whose owner waits) and `core` is
/// valid for the duration of this call.
pub(crate) unsafe fn take_for_shutdown(core: &SpanCore, only: Only<'_>) -> Option<Taken> {
    // SAFETY: exclusive by the caller's guarantee.
    let spans = unsafe { &mut *core.spans.get() };
    let moved = match only {
        None => HandlerSpans {
            live: std::mem::take(&mut spans.live),
            // SAFETY: the `live` bits, moved along, say which of these are initialised; the
            // originals are left with no bits set, so they are never read again.
            inline: unsafe { std::ptr::read(&raw const spans.inline) },
            more: std::mem::take(&mut spans.more),
        },
        Some(accept) => {
            let mut moved = HandlerSpans {
                live: 0,
                inline: [MaybeUninit::uninit(), MaybeUninit::uninit()],
                more: Vec::new(),
            };
            for index in 0..2 {
                if spans.live & (1 << index) != 0 && accept(core.chain.span[index]) {
                    spans.live &= !(1 << index);
                    // SAFETY: the bit said the slot was initialised; it is cleared here, so the
                    // value has one owner, the copy.
                    moved.inline[index].write(unsafe { spans.inline[index].assume_init_read() });
                    moved.live |= 1 << index;
                }
            }
            let (taken, kept) = std::mem::take(&mut spans.more)
                .into_iter()
                .partition(|(index, _)| core.span_handler(*index).is_some_and(accept));
            spans.more = kept;
            moved.more = taken;
            if moved.live == 0 && moved.more.is_empty() {
                return None;
            }
            moved
        }
    };
    Some(Taken {
        core: SpanCore {
            id: core.id,
            parent: core.parent,
            trace: core.trace,
            start: core.start,
            chain: core.chain,
            shared: core.shared.clone(),
            tags: core.tags.clone(),
            dispatcher: core.dispatcher,
            spans: UnsafeCell::new(moved),
        },
        whole: only.is_none(),
    })
}

impl Taken {
    /// Ends the taken span with "dispatcher shutdown" for the handlers whose values were taken.
    pub(crate) fn end(self) {
        // SAFETY: `self` owns its copy of the handlers' span values.
        unsafe {
            if self.whole {
                self.core.end(&Outcome::Shutdown, &[]);
            } else {
                self.core
                    .end_handlers(&Outcome::Shutdown, &[], Timestamp::now());
            }
        }
    }
}

/// The start of a span as a synchronous `#[span]` function's body reports it: a callback the body
/// calls with its arguments, before running, when a handler listens.
#[doc(hidden)]
pub type StartHook<'h> = &'h mut dyn FnMut(&[Arg<'_>]);

/// Runs a synchronous `#[span]` function's body inside a span; not API.
///
/// The body holds the arguments (moved into its closure), so it reports them itself by calling the
/// hook before it runs; the span's state lives here, in this out-of-line frame, so that the
/// instrumented function itself stays small and its idle path cheap. `finish` ends the span from the
/// return value (exit, or drop for `Err`); a panic drops it with the panic's message.
#[doc(hidden)]
#[inline(never)]
pub fn run_sync<R>(
    chain: &'static Chain,
    callsite: &'static crate::callsite::Callsite,
    instance: Option<&'static str>,
    body: impl FnOnce(Option<StartHook<'_>>) -> R,
    finish: impl FnOnce(Pin<&mut SpanState>, &R),
) -> R {
    let mut place = Place {
        state: MaybeUninit::uninit(),
        started: false,
    };
    let mut scope = None;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        body(Some(&mut |args: &[Arg<'_>]| {
            if place.started {
                return; // the generated body calls this once; a second call must not restart
            }
            let name = callsite.span_name(instance);
            let dispatcher = callsite.dispatcher_name();
            place.started =
                SpanState::start_at(&mut place.state, chain, name, dispatcher, instance, args);
            if let Some(mut state) = place.pinned() {
                state.as_mut().register();
                scope = Some(state.core.enter());
            }
        }))
    }));
    let Some(mut state) = place.pinned() else {
        return result.unwrap_or_else(|payload| std::panic::resume_unwind(payload));
    };
    if let Some(scope) = scope {
        // SAFETY: only `metadata` is touched; nothing is moved.
        let this = unsafe { state.as_mut().get_unchecked_mut() };
        scope.leave(this.core.id, &mut this.metadata);
    }
    match result {
        Ok(value) => {
            finish(state, &value);
            value
        }
        Err(payload) => state.panicked(payload),
    }
}

/// `run_sync`'s span state, started in place and never moved: a pinned `Option<SpanState>` whose
/// drop ends the span if it was started and not ended.
struct Place {
    state: MaybeUninit<SpanState>,
    started: bool,
}

impl Place {
    fn pinned(&mut self) -> Option<Pin<&mut SpanState>> {
        // SAFETY: `state` is initialised when `started`; `Place` is a local of `run_sync` that is
        // never moved, and its Drop drops the state in place, so the pin's guarantees hold.
        self.started
            .then(|| unsafe { Pin::new_unchecked(self.state.assume_init_mut()) })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if self.started {
            // SAFETY: initialised, and dropped exactly once, here.
            unsafe { self.state.assume_init_drop() };
        }
    }
}
