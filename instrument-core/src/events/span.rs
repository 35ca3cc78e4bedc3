//! Events about spans themselves.

use serde::Serialize;

use crate::event::Event;
use crate::id::SpanId;

/// Emitted when a span ends by drop rather than exit: an `Err` return, a panic, cancellation or
/// shutdown. Its `err_str` is the reason, as the span handlers' `prepare_to_drop_span` sees it.
#[derive(Debug, Clone, Serialize)]
pub struct SpanDropEvent {
    /// The span that was dropped.
    pub span_id: SpanId,
    /// Why it was dropped.
    pub err_str: String,
}

impl Event for SpanDropEvent {
    fn class_name(&self) -> &'static str {
        "SpanDropEvent"
    }

    fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(self)
    }
}
