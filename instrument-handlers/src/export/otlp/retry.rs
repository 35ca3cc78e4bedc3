//! Sending one batch as the OpenTelemetry SDKs do: retry what is worth retrying with exponential
//! backoff and jitter, honour `Retry-After`, and give up once a maximum time has elapsed; a
//! flush's deadline cuts the waits (and the request in flight) short, and a stopping exporter
//! tries once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::transport::{PostError, Transport};
use crate::export::deadline::Deadline;

/// Each wait is this many times the one before (the Go SDK's `Multiplier`).
const MULTIPLIER: f64 = 1.5;
/// Each wait is drawn from ±this share around its nominal value (`RandomizationFactor`).
const JITTER: f64 = 0.5;

/// How a batch is sent.
pub(crate) struct Sending {
    pub(crate) transport: Transport,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_elapsed: Duration,
}

/// Sends `body`, retrying what is worth retrying: how many spans the receiver rejected, or the
/// last failure.
pub(crate) fn send(
    sending: &Sending,
    deadline: &Deadline,
    stopping: &AtomicBool,
    body: &[u8],
) -> Result<u64, String> {
    let first = Instant::now();
    let mut interval = sending.initial_backoff;
    let mut tries = 1;
    loop {
        // A pending flush bounds the request too.
        let left = deadline
            .get()
            .map(|end| end.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) && tries > 1 {
            return Err("a flush's deadline passed before the retry".to_owned());
        }
        let (error, asked) = match sending.transport.post(body, left) {
            Ok(rejected) => return Ok(rejected),
            Err(PostError::Fatal(error)) => return Err(error),
            Err(PostError::Retry { message, after }) => (message, after),
        };
        if stopping.load(Ordering::Acquire) {
            return Err(format!("{error} (no retry: the exporter is shutting down)"));
        }
        // The server's wait when it asked for a longer one than ours; a wait past the time left
        // for this batch is not waited at all.
        let wait = jittered(interval).max(asked.unwrap_or_default());
        let spent = first.elapsed();
        if spent.saturating_add(wait) > sending.max_elapsed {
            return Err(format!(
                "{error} (gave up after {tries} tries in {spent:.1?}{})",
                asked.map_or(String::new(), |asked| format!(
                    "; the server asked to wait {asked:?}"
                ))
            ));
        }
        let wake = Instant::now() + wait;
        if deadline.get().is_some_and(|end| end <= wake) {
            return Err(format!("{error} (no retry: a flush's deadline came first)"));
        }
        sleep_until(wake, deadline);
        tries += 1;
        interval = interval.mul_f64(MULTIPLIER).min(sending.max_backoff);
    }
}

/// `interval` moved by a random share of up to ±`JITTER`, so that many exporters that failed
/// together do not retry together.
fn jittered(interval: Duration) -> Duration {
    // 53 random bits as a fraction in [0, 1).
    let random = (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64;
    interval.mul_f64(1.0 - JITTER + 2.0 * JITTER * random)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_the_interval_either_way() {
        let interval = Duration::from_millis(1000);
        let waits: Vec<_> = (0..1000).map(|_| jittered(interval)).collect();
        assert!(waits.iter().all(|w| *w >= Duration::from_millis(500)));
        assert!(waits.iter().all(|w| *w <= Duration::from_millis(1500)));
        // Spread, not constant.
        let (min, max) = (waits.iter().min().unwrap(), waits.iter().max().unwrap());
        assert!(*max - *min > Duration::from_millis(500), "{min:?}..{max:?}");
    }
}
