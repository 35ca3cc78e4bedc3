//! The deadline of the flushes and shutdowns under way, shared by the pipeline's callers, its
//! thread and its sinks' threads, so that a sink's waits (a retry's backoff, a slow request) end
//! when a caller stops waiting.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// While a flush is pending, waits between tries end at its deadline, and once it has passed, a
/// batch gets no retry. Flushes are rare: a lock keeps the count and the deadline consistent.
#[derive(Debug, Default)]
pub(crate) struct Deadline(Mutex<Pending>);

#[derive(Debug, Default)]
struct Pending {
    flushes: usize,
    /// The latest deadline of the pending flushes.
    at: Option<Instant>,
}

impl Deadline {
    /// A flush that must finish by `deadline` begins.
    pub(crate) fn begin(&self, deadline: Instant) {
        let mut pending = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        pending.flushes += 1;
        pending.at = Some(pending.at.map_or(deadline, |at| at.max(deadline)));
    }

    /// A flush is over (answered, or given up by its caller).
    pub(crate) fn end(&self) {
        let mut pending = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        pending.flushes = pending.flushes.saturating_sub(1);
        if pending.flushes == 0 {
            pending.at = None;
        }
    }

    /// The deadline of the pending flushes, if any.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn get(&self) -> Option<Instant> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).at
    }
}
