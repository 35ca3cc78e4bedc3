//! `TracingEvent`: a `tracing` event as an instrument event.

use instrument_core::Event;
use serde_json::{Map, Value};

/// A `tracing` event (`info!`, `warn!`, `event!` …) of another crate, emitted by
/// [`super::InstrumentLayer`] on the dispatcher named after the event's target.
///
/// The envelope's span is the bridged span the event happened in (its explicit parent, else the
/// current span), so event handlers place it in the trace like any other event.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TracingEvent {
    /// The event's target: its module path unless set with `target:`.
    pub target: &'static str,
    /// `"TRACE"`, `"DEBUG"`, `"INFO"`, `"WARN"` or `"ERROR"`.
    pub level: &'static str,
    /// The formatted message, for events that have one.
    pub message: Option<String>,
    /// The other fields, in the order written; `%x` and `?x` values as text.
    pub fields: Map<String, Value>,
}

impl Event for TracingEvent {
    fn class_name(&self) -> &'static str {
        "TracingEvent"
    }

    fn to_json(&self) -> Result<Value, serde_json::Error> {
        Ok(instrument_core::to_json_guarded(self))
    }
}
