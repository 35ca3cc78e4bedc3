//! Where an LLM call's start and end meet, for handlers that join what the two events carry.
//!
//! An end event carries the response but not what only the start said (the model, the messages,
//! the functions offered); the two meet under the call's key: the callback event's id, or the span
//! both were emitted in, or (outside any span) the thread.

use std::thread::{self, ThreadId};

use instrument_core::{EventEnvelope, SpanId};

/// Where a call's start and end meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallKey {
    /// A callback event's id.
    Callback(String),
    /// The span an instrumentation event was emitted in.
    Span(SpanId),
    /// The thread an instrumentation event outside any span was emitted on.
    Thread(ThreadId),
}

impl CallKey {
    /// The key of the call an instrumentation event belongs to.
    pub(crate) fn of(event: &EventEnvelope<'_>) -> Self {
        event
            .span_id()
            .map_or_else(|| Self::Thread(thread::current().id()), Self::Span)
    }
}
