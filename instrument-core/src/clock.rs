//! Timestamps: one monotonic clock read per span edge, turned into wall time only when read.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};

/// A moment on the process's monotonic clock.
///
/// Reading the clock is the only cost on the hot path; [`Timestamp::to_utc`] turns it into wall time
/// by one subtraction from an anchor taken once per process.
///
/// ```
/// use instrument_core::Timestamp;
///
/// let a = Timestamp::now();
/// let b = Timestamp::now();
/// assert!(b.duration_since(a) >= std::time::Duration::ZERO);
/// assert!(a.to_utc() <= chrono::Utc::now());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(Instant);

fn anchor() -> &'static (Instant, SystemTime) {
    static ANCHOR: OnceLock<(Instant, SystemTime)> = OnceLock::new();
    ANCHOR.get_or_init(|| (Instant::now(), SystemTime::now()))
}

impl Timestamp {
    /// The current moment.
    #[inline]
    #[must_use]
    pub fn now() -> Self {
        Self(Instant::now())
    }

    /// The time from `earlier` to `self`; zero if `earlier` is later.
    #[must_use]
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// The monotonic instant itself.
    #[must_use]
    pub fn instant(self) -> Instant {
        self.0
    }

    /// Wall-clock time of this moment.
    #[must_use]
    pub fn to_system_time(self) -> SystemTime {
        let (instant, system) = *anchor();
        if self.0 >= instant {
            system + (self.0 - instant)
        } else {
            system - (instant - self.0)
        }
    }

    /// Wall-clock time of this moment as a `chrono` UTC time.
    #[must_use]
    pub fn to_utc(self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.to_system_time())
    }

    /// Nanoseconds since the Unix epoch (0 before it), as OTLP and Chrome traces want.
    #[must_use]
    pub fn unix_nanos(self) -> u64 {
        self.to_system_time()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
}
