//! Trace ids, worked out on the export pipeline's thread as spans start: one rule for every sink.
//!
//! A span in a context that carries a W3C trace (extracted from a `traceparent`, begun with
//! `Context::with_new_trace`, restored from a propagation context) takes that trace; a root span
//! otherwise takes its UUID's 16 bytes, as [`instrument_core::TraceParent::from_context`] makes it
//! for a root without a trace; every other span takes its parent's. Span ids are the UUID's low
//! 64 bits ([`instrument_core::TraceParent::parent_id_for`]).
//!
//! The trace of each open span lives in the pipeline's open-span map; when a span ends, its trace
//! moves here, to a bounded two-generation memory, so that children that outlive their parent (a
//! task spawned and left running) still find it.

use std::collections::HashMap;

use instrument_core::SpanId;

/// Ended spans whose traces are remembered, per generation.
const GENERATION: usize = 1 << 14;

/// The traces of recently ended spans: at most two generations of `GENERATION` entries.
#[derive(Default)]
pub(crate) struct RecentTraces {
    current: HashMap<SpanId, [u8; 16]>,
    previous: HashMap<SpanId, [u8; 16]>,
}

impl RecentTraces {
    /// Remembers that `id`, now ended, was in `trace`.
    pub(crate) fn insert(&mut self, id: SpanId, trace: [u8; 16]) {
        if self.current.len() >= GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(id, trace);
    }

    /// The trace of ended span `id`, if it is still remembered.
    pub(crate) fn get(&self, id: &SpanId) -> Option<[u8; 16]> {
        self.current
            .get(id)
            .or_else(|| self.previous.get(id))
            .copied()
    }
}

/// A trace id as 32 lower-case hex digits, as W3C `traceparent` and OTLP JSON write it.
pub(crate) fn hex(trace: &[u8; 16]) -> String {
    use std::fmt::Write as _;
    trace
        .iter()
        .fold(String::with_capacity(32), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// The trace a span starts in: the context's trace when given, else its parent's (`parent_trace`
/// looks it up), else, for a span whose parent is unknown, the parent's UUID (so that the children
/// of one lost parent still share a trace), else its own UUID.
pub(crate) fn trace_of(
    id: SpanId,
    parent: Option<SpanId>,
    context_trace: Option<[u8; 16]>,
    parent_trace: impl FnOnce(&SpanId) -> Option<[u8; 16]>,
) -> [u8; 16] {
    if let Some(trace) = context_trace {
        return trace;
    }
    match parent {
        Some(parent) => parent_trace(&parent).unwrap_or_else(|| parent.uuid().into_bytes()),
        None => id.uuid().into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_children_and_lost_parents() {
        let root = SpanId::new("root");
        let child = SpanId::new("child");
        let root_trace = trace_of(root, None, None, |_| None);
        assert_eq!(root_trace, root.uuid().into_bytes());
        assert_eq!(
            trace_of(child, Some(root), None, |_| Some(root_trace)),
            root_trace
        );
        assert_eq!(
            trace_of(child, Some(root), None, |_| None),
            root.uuid().into_bytes()
        );
        assert_eq!(
            trace_of(child, Some(root), Some([7; 16]), |_| None),
            [7; 16]
        );

        let mut recent = RecentTraces::default();
        recent.insert(root, root_trace);
        assert_eq!(recent.get(&root), Some(root_trace));
        for _ in 0..GENERATION * 2 {
            recent.insert(SpanId::new("filler"), [1; 16]);
        }
        assert_eq!(recent.get(&root), None);
    }
}
