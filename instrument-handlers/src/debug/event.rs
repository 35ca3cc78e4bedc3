//! What [`DebugHandler`](super::DebugHandler) keeps: events, the events of each id, and timing
//! statistics.

use std::ops::Deref;

use chrono::{DateTime, Utc};
use instrument_core::callbacks::{CBEventType, Payload};

/// One start or end of a callback event, as [`DebugHandler`](super::DebugHandler) saw it
/// (LlamaIndex's `CBEvent`, which tells the two apart only by their order; `stage` says it).
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
    /// Whether this is the event's start or its end.
    pub stage: EventStage,
}

/// Whether a [`CBEvent`] is an event's start or its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStage {
    /// `on_event_start`.
    Start,
    /// `on_event_end`.
    End,
}

/// The events of one id, in the order they came: LlamaIndex's event "pair", a list. Normally the
/// event's start then its end; only one of them when the handler saw only one (the other was
/// ignored, evicted, or has not come yet). Never empty. Indexes like LlamaIndex's list
/// (`pair[0]`, `pair.last()`), or ask for [`start`](Self::start) and [`end`](Self::end).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct EventPair(Vec<CBEvent>);

impl EventPair {
    /// The events, which must be of one id, in the order they came; `None` when there is none.
    pub(super) fn new(events: Vec<CBEvent>) -> Option<Self> {
        (!events.is_empty()).then_some(Self(events))
    }

    fn first(&self) -> &CBEvent {
        &self.0[0]
    }

    /// The event's type (its first event's).
    #[must_use]
    pub fn event_type(&self) -> CBEventType {
        self.first().event_type
    }

    /// The event's id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.first().id
    }

    /// The event's start, if the handler saw it.
    #[must_use]
    pub fn start(&self) -> Option<&CBEvent> {
        self.0.iter().find(|e| e.stage == EventStage::Start)
    }

    /// The event's end, if the handler saw it.
    #[must_use]
    pub fn end(&self) -> Option<&CBEvent> {
        self.0.iter().rev().find(|e| e.stage == EventStage::End)
    }

    /// Whether both the start and the end were seen.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.start().is_some() && self.end().is_some()
    }

    /// Seconds from the first event to the last, as LlamaIndex times a pair: zero for a pair of
    /// one event, or if the clock went backwards.
    #[must_use]
    pub fn duration_secs(&self) -> f64 {
        seconds_between(self.first().time, self.0[self.0.len() - 1].time)
    }

    /// The events, in the order they came.
    #[must_use]
    pub fn into_events(self) -> Vec<CBEvent> {
        self.0
    }
}

impl Deref for EventPair {
    type Target = [CBEvent];

    fn deref(&self) -> &[CBEvent] {
        &self.0
    }
}

/// Timing of the events of one type (LlamaIndex's `EventStats`).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct EventStats {
    /// Seconds spent in all of them.
    pub total_secs: f64,
    /// Seconds per event; zero when there is none.
    pub average_secs: f64,
    /// How many there were (a start or an end alone counts, with zero seconds, as in LlamaIndex).
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
