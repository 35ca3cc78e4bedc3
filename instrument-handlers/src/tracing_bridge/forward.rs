//! `TracingForwarder`: instrument spans and events as `tracing` spans and events.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use dashmap::DashMap;
use instrument_core::{
    Arg, BuildSpanIdHasher, Dispatcher, DropReason, EventEnvelope, EventHandler, SpanEnd,
    SpanHandler, SpanId, SpanStart,
};
use serde_json::Value;
use tracing::field::Empty;

use super::loop_guard::{self, FORWARD_TARGET};
use crate::capture;

/// How many open spans a [`TracingForwarder`] remembers unless told otherwise.
pub const DEFAULT_OPEN_CAPACITY: usize = 4096;

/// A span and event handler that sends instrument spans and events on to `tracing`, so that the
/// subscribers already in place (`fmt`, `tracing-opentelemetry`, Sentry …) see them, and makes
/// each forwarded span the current `tracing` span wherever its instrument span runs.
///
/// Each instrument span becomes an `INFO` span called `"instrument"` (a `tracing` span's name is
/// fixed where it is written), target [`FORWARD_TARGET`], with the fields:
///
/// - `otel.name`: the instrument span's name (`retrieve`, `Retriever.retrieve`), which
///   `tracing-opentelemetry` exports as the span's name;
/// - `span_id`, `trace_id` (32 hex digits), `dispatcher`, and `args` (the arguments as JSON text);
/// - when it ends: `outcome` (`"exit"`, `"error"`, `"panic"`, `"cancelled"`, `"shutdown"` or
///   `"dropped"`), `otel.status_code` (`"ok"` on exit, `"error"` otherwise), and, for a dropped
///   span, `error` and `otel.status_description` with its text.
///
/// Its parent is the forwarded span of the instrument parent while that one is open, else the
/// current `tracing` span.
///
/// While an instrument span runs on a thread (a synchronous call, each poll of an `async fn` on
/// whichever worker polls it, or a task or thread started in it with `instrument::spawn` or
/// `instrument::thread::spawn`), its forwarded span is entered: `tracing::Span::current()` is it,
/// so the spans and events that `tracing`-instrumented crates open there (reqwest's, hyper's,
/// sqlx's, your own `info_span!`) are its children. Leaving the instrument span, by any path,
/// exits it again.
///
/// Each event becomes an `INFO` event with `class_name`, `dispatcher` and `payload` (its JSON
/// text, made only if a subscriber reads it), inside the forwarded span of the span it was
/// emitted in.
///
/// Open spans are remembered (for parents, events and entering) up to a capacity; spans started
/// beyond it are still forwarded, but not entered, and their children fall back to the current
/// `tracing` span ([`TracingForwarder::untracked`] counts them).
///
/// Spans and events that [`super::InstrumentLayer`] brings in from `tracing` are not sent back.
///
/// Events find their span through the forwarder's table of open spans, so register one forwarder
/// as both handlers: [`TracingForwarder::install`] does, or `add_event_handler(forwarder)` with the
/// `&'static TracingForwarder` that `add_span_handler` returned.
///
/// ```
/// use instrument::handlers::tracing_bridge::TracingForwarder;
///
/// let dispatcher = instrument::get_dispatcher("doc_forward");
/// let forwarder = TracingForwarder::new().install(dispatcher);
/// // With a `tracing` subscriber installed, "retrieve" is an `instrument` span with
/// // `otel.name = "retrieve"`, and the current `tracing` span inside the closure.
/// dispatcher.in_span("retrieve", || ());
/// assert_eq!(forwarder.untracked(), 0);
/// ```
#[derive(Debug)]
pub struct TracingForwarder {
    /// The forwarded span of each open instrument span. Shared, not cloned as `tracing` spans: a
    /// `tracing::Span` clone is a reference taken in the subscriber's registry (and dropped again
    /// later), where an `Arc` clone is one atomic add, and spans are looked up at every entry.
    open: DashMap<SpanId, ForwardedSpan, BuildSpanIdHasher>,
    /// How many spans `open` holds: kept beside it, as `DashMap::len` locks every shard.
    len: AtomicUsize,
    capacity: usize,
    untracked: AtomicU64,
}

thread_local! {
    /// The forwarded spans this thread entered, innermost last (`None` for an instrument span with
    /// no forwarded span). A handle each, as `tracing`'s own `Entered` guard borrows its span: an
    /// entered span stays open until it is exited, even when shutdown ended the instrument span on
    /// another thread meanwhile. Scopes nest per thread, so leaving one pops what entering it
    /// pushed.
    static ENTERED: RefCell<Vec<Option<ForwardedSpan>>> = const { RefCell::new(Vec::new()) };
}

/// A forwarded span, shared by the table of open spans, the instrument span's handler value and
/// the threads it is entered on.
type ForwardedSpan = Arc<tracing::Span>;

impl Default for TracingForwarder {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_OPEN_CAPACITY)
    }
}

impl TracingForwarder {
    /// A forwarder that remembers up to [`DEFAULT_OPEN_CAPACITY`] open spans.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A forwarder that remembers up to `capacity` open spans.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            open: DashMap::default(),
            len: AtomicUsize::new(0),
            capacity,
            untracked: AtomicU64::new(0),
        }
    }

    /// Registers this forwarder as both a span and an event handler of `dispatcher`, and returns it.
    pub fn install(self, dispatcher: &Dispatcher) -> &'static Self {
        let forwarder = dispatcher.add_span_handler(self);
        dispatcher.add_event_handler(forwarder);
        forwarder
    }

    /// How many spans were forwarded but not remembered, the table being full.
    #[must_use]
    pub fn untracked(&self) -> u64 {
        self.untracked.load(Ordering::Relaxed)
    }

    /// The forwarded span of `id`, if it is open and remembered, held so that it stays open
    /// while it is used.
    fn forwarded(&self, id: Option<SpanId>) -> Option<ForwardedSpan> {
        self.open.get(&id?).map(|span| Arc::clone(&span))
    }

    fn remember(&self, id: SpanId, span: &ForwardedSpan) {
        if self.len.fetch_add(1, Ordering::Relaxed) < self.capacity {
            self.open.insert(id, Arc::clone(span));
        } else {
            self.len.fetch_sub(1, Ordering::Relaxed);
            self.untracked.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn end(&self, span: ForwardedSpan, end: &SpanEnd<'_>) {
        // Out of the table first, so that the span closes when `span` is dropped.
        if let Some((_, remembered)) = self.open.remove(&end.id()) {
            self.len.fetch_sub(1, Ordering::Relaxed);
            drop(remembered);
        }
        span.record("outcome", outcome(end));
        match end.error() {
            None => span.record("otel.status_code", "ok"),
            Some(error) => span
                .record("error", error.as_str())
                .record("otel.status_code", "error")
                .record("otel.status_description", error.as_str()),
        };
    }
}

impl SpanHandler for TracingForwarder {
    type Span = ForwardedSpan;

    const FOLLOWS_SCOPE: bool = true;

    fn new_span(&self, start: &SpanStart<'_>) -> Option<ForwardedSpan> {
        if loop_guard::is_bridging() {
            return None;
        }
        let trace_id = uuid::Uuid::from_bytes(start.trace_id());
        let span = match self.forwarded(start.parent_id()) {
            Some(parent) => tracing::info_span!(
                target: FORWARD_TARGET,
                parent: &*parent,
                "instrument",
                otel.name = start.name(),
                span_id = %start.id(),
                trace_id = %trace_id.simple(),
                dispatcher = start.dispatcher(),
                args = %ArgsJson(start.args()),
                outcome = Empty,
                error = Empty,
                otel.status_code = Empty,
                otel.status_description = Empty,
            ),
            None => tracing::info_span!(
                target: FORWARD_TARGET,
                "instrument",
                otel.name = start.name(),
                span_id = %start.id(),
                trace_id = %trace_id.simple(),
                dispatcher = start.dispatcher(),
                args = %ArgsJson(start.args()),
                outcome = Empty,
                error = Empty,
                otel.status_code = Empty,
                otel.status_description = Empty,
            ),
        };
        if span.is_disabled() {
            return None;
        }
        let span = Arc::new(span);
        self.remember(start.id(), &span);
        Some(span)
    }

    fn prepare_to_exit_span(&self, span: ForwardedSpan, end: &SpanEnd<'_>) {
        self.end(span, end);
    }

    fn prepare_to_drop_span(&self, span: ForwardedSpan, end: &SpanEnd<'_>) {
        self.end(span, end);
    }

    /// Enters the forwarded span in its subscriber, as `tracing::Span::enter` does.
    fn enter_scope(&self, id: SpanId) {
        let span = self.forwarded(Some(id));
        // During thread teardown there is no stack to remember it on: then it is not entered.
        let _ = ENTERED.try_with(|stack| {
            if let Some(span) = &span {
                span.with_subscriber(|(id, dispatch)| dispatch.enter(id));
            }
            stack.borrow_mut().push(span);
        });
    }

    fn leave_scope(&self, _: SpanId) {
        let entered = ENTERED.try_with(|stack| stack.borrow_mut().pop());
        if let Ok(Some(Some(span))) = entered {
            span.with_subscriber(|(id, dispatch)| dispatch.exit(id));
        }
    }
}

impl EventHandler for TracingForwarder {
    fn handle(&self, event: &EventEnvelope<'_>) {
        if loop_guard::is_bridging() {
            return;
        }
        let payload = PayloadJson(event);
        match self.forwarded(event.span_id()) {
            Some(parent) => tracing::info!(
                target: FORWARD_TARGET,
                parent: &*parent,
                class_name = event.class_name(),
                dispatcher = event.dispatcher(),
                payload = %payload,
            ),
            None => tracing::info!(
                target: FORWARD_TARGET,
                class_name = event.class_name(),
                dispatcher = event.dispatcher(),
                payload = %payload,
            ),
        }
    }
}

/// The forwarder that [`TracingForwarder::install`] registered as a span handler, as the event
/// handler beside it, sharing its table of open spans.
impl EventHandler for &'static TracingForwarder {
    fn handle(&self, event: &EventEnvelope<'_>) {
        TracingForwarder::handle(self, event);
    }
}

/// How a span ended, as the forwarded span's `outcome` field says it.
fn outcome(end: &SpanEnd<'_>) -> &'static str {
    match end.drop_reason() {
        None => "exit",
        Some(DropReason::Error) => "error",
        Some(DropReason::Panic) => "panic",
        Some(DropReason::Cancelled) => "cancelled",
        Some(DropReason::Shutdown) => "shutdown",
        Some(_) => "dropped",
    }
}

/// A span's arguments as a JSON object, made only when displayed.
struct ArgsJson<'a>(&'a [Arg<'a>]);

impl fmt::Display for ArgsJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Value::Object(capture::args_map(self.0)).fmt(f)
    }
}

/// An event's payload as JSON, made only when displayed.
struct PayloadJson<'a, 'e>(&'a EventEnvelope<'e>);

impl fmt::Display for PayloadJson<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.payload_json().fmt(f)
    }
}
