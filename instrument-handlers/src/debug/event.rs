//! What [`DebugHandler`](super::DebugHandler) keeps: events, start/end pairs and timing statistics.

use chrono::{DateTime, Utc};
use instrument_core::callbacks::{CBEventType, Payload};

/// One start or end of a callback event, as [`DebugHandler`](super::DebugHandler) saw it
/// (LlamaIndex's `CBEvent`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CBEvent {
    /// The event's type.
    pub event_type: CBEventType,
    /// The payload passed to the start or end, if any.
    pub payload: Option<Payload>,
    /// When the handler was told (from its clock, wall time by default).
    pub time: DateTime<Utc>,
    /// The event's id, shared by its start and end.
    pub id: String,
}

/// The start and the end of one event.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EventPair {
    /// The event's start.
    pub start: CBEvent,
    /// The event's end.
    pub end: CBEvent,
}

impl EventPair {
    /// The event's type.
    #[must_use]
    pub fn event_type(&self) -> CBEventType {
        self.start.event_type
    }

    /// The event's id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.start.id
    }

    /// Seconds from start to end; zero if the clock went backwards.
    #[must_use]
    pub fn duration_secs(&self) -> f64 {
        seconds_between(self.start.time, self.end.time)
    }

    /// The pair as `[start, end]`, the shape LlamaIndex returns.
    #[must_use]
    pub fn into_array(self) -> [CBEvent; 2] {
        [self.start, self.end]
    }
}

/// Timing of the events of one type (LlamaIndex's `EventStats`).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct EventStats {
    /// Seconds spent in all of them.
    pub total_secs: f64,
    /// Seconds per event; zero when there is none.
    pub average_secs: f64,
    /// How many there were.
    pub total_count: usize,
}

impl EventStats {
    /// The statistics of `pairs`.
    #[must_use]
    pub fn of(pairs: &[EventPair]) -> Self {
        let total_secs: f64 = pairs.iter().map(EventPair::duration_secs).sum();
        let total_count = pairs.len();
        let average_secs = if total_count == 0 {
            0.0
        } else {
            total_secs / total_count as f64
        };
        Self {
            total_secs,
            average_secs,
            total_count,
        }
    }
}

pub(super) fn seconds_between(start: DateTime<Utc>, end: DateTime<Utc>) -> f64 {
    (end - start).to_std().map_or(0.0, |d| d.as_secs_f64())
}
