//! Timestamps: one clock read per span edge, turned into wall time only when read.
//!
//! The clock is `fastant`'s: the CPU's time-stamp counter where it is stable (one `rdtsc`, a few
//! nanoseconds), else the OS monotonic clock. A timestamp is 8 bytes.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

/// A moment on the process's monotonic clock.
///
/// Reading the clock is the only cost on the hot path; [`Timestamp::to_utc`] turns it into wall time
/// by one subtraction from an anchor taken once per process.
///
/// ```
/// use instrument::Timestamp;
///
/// let a = Timestamp::now();
/// let b = Timestamp::now();
/// assert!(b >= a);
/// assert!(b.duration_since(a) < std::time::Duration::from_secs(1));
/// assert!(a.to_utc() <= chrono::Utc::now());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(fastant::Instant);

fn anchor() -> &'static fastant::Anchor {
    static ANCHOR: OnceLock<fastant::Anchor> = OnceLock::new();
    ANCHOR.get_or_init(fastant::Anchor::new)
}

impl Timestamp {
    /// The current moment.
    #[inline]
    #[must_use]
    pub fn now() -> Self {
        Self(fastant::Instant::now())
    }

    /// The time from `earlier` to `self`; zero if `earlier` is later.
    #[inline]
    #[must_use]
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// Nanoseconds since the Unix epoch, as OTLP and Chrome traces want.
    #[must_use]
    pub fn unix_nanos(self) -> u64 {
        self.0.as_unix_nanos(anchor())
    }

    /// Wall-clock time of this moment.
    #[must_use]
    pub fn to_system_time(self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(self.unix_nanos())
    }

    /// Wall-clock time of this moment as a `chrono` UTC time.
    #[must_use]
    pub fn to_utc(self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.to_system_time())
    }
}
