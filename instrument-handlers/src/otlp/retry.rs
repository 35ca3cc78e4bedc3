//! Sending one batch: bounded tries with exponential backoff, cut short by a flush's deadline.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::http::{self, Endpoint, PostError};

/// How a batch is sent.
#[derive(Debug)]
pub(crate) struct Sending {
    pub(crate) endpoint: Endpoint,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) max_attempts: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) timeout: Duration,
}

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
    pub(crate) fn get(&self) -> Option<Instant> {
        match self.at.load(Ordering::Acquire) {
            0 => None,
            nanos => Some(self.epoch + Duration::from_nanos(nanos)),
        }
    }
}

/// Sends `body`, retrying what is worth retrying. `Err` carries the last failure.
pub(crate) fn send(sending: &Sending, deadline: &Deadline, body: &[u8]) -> Result<(), String> {
    let mut backoff = sending.initial_backoff;
    let mut attempt = 1;
    loop {
        match http::post(&sending.endpoint, &sending.headers, body, sending.timeout) {
            Ok(()) => return Ok(()),
            Err(PostError::Fatal(error)) => return Err(error),
            Err(PostError::Retry(error)) => {
                if attempt >= sending.max_attempts {
                    return Err(format!("{error} (after {attempt} tries)"));
                }
                let wake = Instant::now() + backoff;
                if deadline.get().is_some_and(|end| end <= wake) {
                    return Err(format!("{error} (no retry: a flush's deadline came first)"));
                }
                sleep_until(wake, deadline);
                attempt += 1;
                backoff = (backoff * 2).min(sending.max_backoff);
            }
        }
    }
}

/// Sleeps until `wake` or the deadline, whichever comes first; a flush wakes the thread to look.
fn sleep_until(wake: Instant, deadline: &Deadline) {
    loop {
        let now = Instant::now();
        let end = deadline.get().map_or(wake, |d| d.min(wake));
        if now >= end {
            return;
        }
        std::thread::park_timeout(end - now);
    }
}
