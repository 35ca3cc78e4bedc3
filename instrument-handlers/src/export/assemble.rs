//! Span assembly on the pipeline's thread: each span's events joined to it and its trace worked
//! out as it starts, so that every sink sees the same finished span.

use std::collections::HashMap;

use instrument_core::SpanId;

use super::record::{EventRecord, SpanRecord};
use super::trace_ids::{RecentTraces, trace_of};

/// Spans followed as open at most; past this, new spans are exported without their events. (A span
/// whose end was lost to a full queue stays open here: this bounds what such losses cost.)
const MAX_OPEN: usize = 1 << 16;

/// Events kept per span at most; later ones are counted as dropped.
pub(crate) const MAX_EVENTS_PER_SPAN: usize = 10_000;

/// Events kept across all open spans at most; later ones are counted as dropped.
const MAX_EVENTS: usize = 1 << 20;

/// An ended span with its trace and the events emitted inside it, in order.
pub(crate) struct FinishedSpan {
    pub(crate) record: SpanRecord,
    pub(crate) trace_id: [u8; 16],
    pub(crate) events: Vec<EventRecord>,
}

/// A span seen to start and not yet end.
struct Open {
    trace_id: [u8; 16],
    events: Vec<EventRecord>,
}

/// The open spans and the traces of recently ended ones.
#[derive(Default)]
pub(crate) struct Assembler {
    open: HashMap<SpanId, Open>,
    recent: RecentTraces,
    /// Events held by the open spans.
    events: usize,
}

impl Assembler {
    /// A span started.
    pub(crate) fn start(
        &mut self,
        id: SpanId,
        parent: Option<SpanId>,
        context_trace: Option<[u8; 16]>,
    ) {
        if self.open.len() >= MAX_OPEN {
            return;
        }
        let trace_id = self.trace_of(id, parent, context_trace);
        self.open.insert(
            id,
            Open {
                trace_id,
                events: Vec::new(),
            },
        );
    }

    /// An event inside a span; `false` when it was not kept (its span has too many).
    pub(crate) fn event(&mut self, record: EventRecord) -> bool {
        // Events of spans this pipeline does not follow are not its to export.
        let Some(open) = self.open.get_mut(&record.span_id) else {
            return true;
        };
        if open.events.len() >= MAX_EVENTS_PER_SPAN || self.events >= MAX_EVENTS {
            return false;
        }
        open.events.push(record);
        self.events += 1;
        true
    }

    /// A span ended: its record with its trace and events.
    pub(crate) fn end(&mut self, record: SpanRecord) -> FinishedSpan {
        let (trace_id, events) = match self.open.remove(&record.id) {
            Some(open) => {
                self.events -= open.events.len();
                (open.trace_id, open.events)
            }
            // Its start was lost to a full queue, or the open map was full.
            None => (self.trace_of(record.id, record.parent, None), Vec::new()),
        };
        self.recent.insert(record.id, trace_id);
        FinishedSpan {
            record,
            trace_id,
            events,
        }
    }

    fn trace_of(
        &self,
        id: SpanId,
        parent: Option<SpanId>,
        context_trace: Option<[u8; 16]>,
    ) -> [u8; 16] {
        trace_of(id, parent, context_trace, |parent| {
            self.open
                .get(parent)
                .map(|span| span.trace_id)
                .or_else(|| self.recent.get(parent))
        })
    }
}
