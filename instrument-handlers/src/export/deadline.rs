//! The deadline of the flushes and shutdowns under way, shared by the pipeline's callers and its
//! thread, so that a sink's waits (a retry's backoff) end when a caller stops waiting.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The deadline of the flushes and shutdowns under way, shared by callers and the worker: while one
/// is pending, waits between tries end at its deadline, and once it has passed, a batch gets one
/// try and no retry.
#[derive(Debug)]
pub(crate) struct Deadline {
    epoch: Instant,
    /// Nanoseconds after `epoch`; zero when no flush is pending.
    at: AtomicU64,
    pending: AtomicUsize,
}

impl Default for Deadline {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            at: AtomicU64::new(0),
            pending: AtomicUsize::new(0),
        }
    }
}

impl Deadline {
    /// A flush that must finish by `deadline` begins.
    pub(crate) fn begin(&self, deadline: Instant) {
        let nanos = deadline.saturating_duration_since(self.epoch).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX).max(1);
        self.pending.fetch_add(1, Ordering::AcqRel);
        self.at.fetch_max(nanos, Ordering::AcqRel);
    }

    /// A flush is over (answered, or given up by its caller).
    pub(crate) fn end(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.at.store(0, Ordering::Release);
        }
    }

    /// The deadline of the pending flushes, if any.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn get(&self) -> Option<Instant> {
        match self.at.load(Ordering::Acquire) {
            0 => None,
            nanos => Some(self.epoch + Duration::from_nanos(nanos)),
        }
    }
}
