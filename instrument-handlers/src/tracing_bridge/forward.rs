//! `TracingForwarder`: instrument spans and events as `tracing` spans and events.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use instrument_core::{
    Arg, Dispatcher, DropReason, EventEnvelope, EventHandler, SpanEnd, SpanHandler, SpanId,
    SpanStart,
};
use serde_json::Value;
use tracing::field::Empty;

use super::loop_guard::{self, FORWARD_TARGET};
use crate::capture;

/// How many open spans a [`TracingForwarder`] remembers as parents unless told otherwise.
pub const DEFAULT_OPEN_CAPACITY: usize = 4096;

/// A span and event handler that sends instrument spans and events on to `tracing`, so that the
/// subscribers already in place (`fmt`, OpenTelemetry, Sentry …) see them.
///
/// Each instrument span becomes an `INFO` span called `"instrument"`, target [`FORWARD_TARGET`],
/// with the fields `name` (the instrument span's name), `span_id`, `dispatcher` and `args` (the
/// arguments as JSON text), and, when it ends, `outcome` (`"exit"`, `"error"`, `"panic"`,
/// `"cancelled"`, `"shutdown"` or `"dropped"`) and, for a dropped span, `error`. Its parent is the
/// forwarded span of the instrument parent while that one is open, else the current `tracing` span.
/// Each event becomes an `INFO` event with `class_name`, `dispatcher` and `payload` (its JSON
/// text, made only if a subscriber reads it), inside the forwarded span of the span it was emitted
/// in.
///
/// The `tracing` spans are never entered: instrument tells handlers when spans start and end, not
/// when code runs in them. Open spans are remembered for parent lookup up to a capacity; spans
/// started beyond it are still forwarded, and their children fall back to the current `tracing`
/// span ([`TracingForwarder::untracked`] counts them).
///
/// Spans and events that [`super::InstrumentLayer`] brings in from `tracing` are not sent back.
///
/// Events find their span through the forwarder's table of open spans, so register one forwarder
/// as both handlers: [`TracingForwarder::install`] does, or `add_event_handler(forwarder)` with the
/// `&'static TracingForwarder` that `add_span_handler` returned.
///
/// ```
/// use instrument_handlers::tracing_bridge::TracingForwarder;
///
/// let dispatcher = instrument_core::get_dispatcher("doc_forward");
/// let forwarder = TracingForwarder::new().install(dispatcher);
/// // With a `tracing` subscriber installed, this shows as an `instrument` span named "retrieve".
/// dispatcher.in_span("retrieve", || ());
/// assert_eq!(forwarder.untracked(), 0);
/// ```
#[derive(Debug)]
pub struct TracingForwarder {
    open: Mutex<HashMap<SpanId, tracing::Span>>,
    capacity: usize,
    untracked: AtomicU64,
}

impl Default for TracingForwarder {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_OPEN_CAPACITY)
    }
}

impl TracingForwarder {
    /// A forwarder that remembers up to [`DEFAULT_OPEN_CAPACITY`] open spans as parents.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A forwarder that remembers up to `capacity` open spans as parents.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            open: Mutex::new(HashMap::new()),
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

    /// How many spans were forwarded but not remembered as parents, the table being full.
    #[must_use]
    pub fn untracked(&self) -> u64 {
        self.untracked.load(Ordering::Relaxed)
    }

    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<SpanId, tracing::Span>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The forwarded span of `id`, if it is open and remembered. A clone, so that it stays open
    /// while a child is made under it.
    fn forwarded(&self, id: Option<SpanId>) -> Option<tracing::Span> {
        self.open().get(&id?).cloned()
    }

    fn remember(&self, id: SpanId, span: &tracing::Span) {
        let mut open = self.open();
        if open.len() < self.capacity {
            open.insert(id, span.clone());
        } else {
            drop(open);
            self.untracked.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn end(&self, span: tracing::Span, end: &SpanEnd<'_>) {
        // Out of the table first, so that the span closes when `span` is dropped.
        let remembered = self.open().remove(&end.id());
        drop(remembered);
        span.record("outcome", outcome(end));
        if let Some(error) = end.error() {
            span.record("error", error);
        }
    }
}

impl SpanHandler for TracingForwarder {
    type Span = tracing::Span;

    fn new_span(&self, start: &SpanStart<'_>) -> Option<tracing::Span> {
        if loop_guard::is_bridging() {
            return None;
        }
        let span = match self.forwarded(start.parent_id()) {
            Some(parent) => tracing::info_span!(
                target: FORWARD_TARGET,
                parent: &parent,
                "instrument",
                name = start.name(),
                span_id = %start.id(),
                dispatcher = start.dispatcher(),
                args = %ArgsJson(start.args()),
                outcome = Empty,
                error = Empty,
            ),
            None => tracing::info_span!(
                target: FORWARD_TARGET,
                "instrument",
                name = start.name(),
                span_id = %start.id(),
                dispatcher = start.dispatcher(),
                args = %ArgsJson(start.args()),
                outcome = Empty,
                error = Empty,
            ),
        };
        if span.is_disabled() {
            return None;
        }
        self.remember(start.id(), &span);
        Some(span)
    }

    fn prepare_to_exit_span(&self, span: tracing::Span, end: &SpanEnd<'_>) {
        self.end(span, end);
    }

    fn prepare_to_drop_span(&self, span: tracing::Span, end: &SpanEnd<'_>) {
        self.end(span, end);
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
                parent: &parent,
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
        match self.0.payload().to_json() {
            Ok(json) => json.fmt(f),
            Err(error) => write!(f, "<unserializable: {error}>"),
        }
    }
}
