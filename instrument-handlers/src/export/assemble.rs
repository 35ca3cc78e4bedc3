//! Span assembly on the pipeline's thread: each span's events joined to it, so that every sink sees
//! the same finished span. Its trace-id is the one the core fixed when it started
//! ([`instrument_core::SpanStart::trace_id`]): one rule for every exporter and `traceparent`.

use std::collections::HashMap;

use instrument_core::{BuildSpanIdHasher, SpanId};

use super::record::{EventRecord, SpanRecord};

/// Spans followed as open at most; past this, new spans are exported without their events. (A span
/// whose end was lost to a full queue stays open here: this bounds what such losses cost.)
const MAX_OPEN: usize = 1 << 16;

/// Events kept per span at most; later ones are counted as dropped.
pub(crate) const MAX_EVENTS_PER_SPAN: usize = 10_000;

/// Events kept across all open spans at most; later ones are counted as dropped.
const MAX_EVENTS: usize = 1 << 20;

/// An ended span with the events emitted inside it, in order.
pub(crate) struct FinishedSpan {
    pub(crate) record: SpanRecord,
    pub(crate) events: Vec<EventRecord>,
}

/// The open spans, with the events emitted in them so far.
#[derive(Default)]
pub(crate) struct Assembler {
    open: HashMap<SpanId, Vec<EventRecord>, BuildSpanIdHasher>,
    /// Events held by the open spans.
    events: usize,
}

impl Assembler {
    /// A span started.
    pub(crate) fn start(&mut self, id: SpanId) {
        if self.open.len() < MAX_OPEN {
            self.open.insert(id, Vec::new());
        }
    }

    /// An event inside a span; `false` when it was not kept (its span has too many).
    pub(crate) fn event(&mut self, record: EventRecord) -> bool {
        // Events of spans this pipeline does not follow are not its to export.
        let Some(events) = self.open.get_mut(&record.span_id) else {
            return true;
        };
        if events.len() >= MAX_EVENTS_PER_SPAN || self.events >= MAX_EVENTS {
            return false;
        }
        events.push(record);
        self.events += 1;
        true
    }

    /// A span ended: its record with its events.
    pub(crate) fn end(&mut self, record: SpanRecord) -> FinishedSpan {
        // No events when its start was lost to a full queue, or the open map was full.
        let events = self.open.remove(&record.id).unwrap_or_default();
        self.events -= events.len();
        FinishedSpan { record, events }
    }
}
