//! Events about spans themselves.

use instrument_macros::Event;
use serde::Serialize;

use crate::span::id::SpanId;

/// Emitted when a span ends by drop rather than exit: an `Err` return, a panic, cancellation or
/// shutdown. Its `err_str` is the reason, as the span handlers' `prepare_to_drop_span` sees it.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct SpanDropEvent {
    /// The span that was dropped.
    pub span_id: SpanId,
    /// Why it was dropped.
    pub err_str: String,
}
