//! Span and event identifiers.
//!
//! An id is made of two `u64` halves that together are a UUID v4 in layout, plus the span's name.
//! Local ids take their high half from a per-process random seed and their low half from a per-thread
//! block of a global counter, offset by that seed and scrambled, so making one costs a thread-local
//! increment: no RNG, no lock, no contended atomic. The low half is the W3C span id, so it must not
//! repeat across processes either: the per-process offset makes each process's sequence start at
//! a random place of the 62-bit space (and the scramble is a bijection, so ids stay unique within
//! the process). The LlamaIndex-style string `"{name}-{uuid}"` is made only by `Display`.

use std::cell::Cell;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::num::NonZeroU64;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use uuid::Uuid;

use crate::dispatch::intern::intern;

/// Ids handed to a thread at a time; one global `fetch_add` per block.
const BLOCK: u64 = 4096;
/// The two variant bits of an RFC 4122 UUID, at the top of the low half.
const VARIANT: u64 = 0b10 << 62;
const COUNTER_MASK: u64 = (1 << 62) - 1;

static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's ids: the process's high half (copied here so that making an id reads one
    /// thread-local), and `(next, end)` of its block of counter values. All zero until first used.
    static IDS: Cell<(u64, u64, u64)> = const { Cell::new((0, 0, 0)) };
}

fn process_high() -> u64 {
    static HIGH: OnceLock<u64> = OnceLock::new();
    *HIGH.get_or_init(|| {
        let (seed, _) = Uuid::new_v4().as_u64_pair();
        // Version 4 in the high nibble of byte 6.
        (seed & !0xF000) | 0x4000
    })
}

/// A fresh id's two halves: the process's high half, and this thread's next counter value offset
/// by the process's random seed (the high half itself) and scrambled.
#[inline]
pub(crate) fn next_parts() -> (u64, NonZeroU64) {
    IDS.with(|ids| {
        let (mut high, mut next, mut end) = ids.get();
        if next >= end {
            (high, next, end) = refill();
        }
        ids.set((high, next + 1, end));
        // Adding a constant is a bijection modulo 2^62, as the scramble is; VARIANT sets the top
        // bit, so the value is never zero.
        let low = scramble(next.wrapping_add(high) & COUNTER_MASK) | VARIANT;
        (high, NonZeroU64::new(low).unwrap_or(NonZeroU64::MIN))
    })
}

/// What the shown UUID's high half is mixed with: a function of the low half that leaves the version
/// nibble alone. Every span of a process shares the stored high half (the process seed); mixing makes
/// the shown UUIDs differ all the way through, as LlamaIndex's random ones do, and stays reversible.
fn high_mask(low: NonZeroU64) -> u64 {
    let mut x = low.get().wrapping_mul(0xD6E8_FEB8_6659_FD93);
    x ^= x >> 32;
    x & !0xF000
}

/// A bijection on 62-bit values, so that consecutive counters give unrelated-looking UUIDs (as
/// LlamaIndex's random ones are) while staying unique: an odd multiplier and an xor-shift are both
/// invertible modulo 2^62.
#[inline]
fn scramble(counter: u64) -> u64 {
    let mut x = counter.wrapping_mul(0x9E37_79B9_7F4A_7C15) & COUNTER_MASK;
    x ^= x >> 29;
    x.wrapping_mul(0xBF58_476D_1CE4_E5B9) & COUNTER_MASK
}

#[cold]
fn refill() -> (u64, u64, u64) {
    let start = NEXT_BLOCK.fetch_add(BLOCK, Ordering::Relaxed);
    (process_high(), start, start + BLOCK)
}

/// The id of one span: unique in the process, and a UUID v4 plus the span's name when shown.
///
/// `SpanId` is `Copy` and 32 bytes; comparing two is comparing three words. Its text form is the one
/// LlamaIndex uses, `"{name}-{uuid}"`, made only when asked for:
///
/// ```
/// use instrument::SpanId;
///
/// let id = SpanId::new("retrieve");
/// let text = id.to_string();
/// assert!(text.starts_with("retrieve-"));
/// assert_eq!(text.len(), "retrieve-".len() + 36);
/// assert_eq!(text.parse::<SpanId>().unwrap(), id);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SpanId {
    high: u64,
    low: NonZeroU64,
    name: &'static str,
}

impl SpanId {
    /// A fresh id for a span called `name`.
    #[must_use]
    pub fn new(name: &'static str) -> Self {
        Self::fresh(name)
    }

    #[inline]
    pub(crate) fn fresh(name: &'static str) -> Self {
        let (high, low) = next_parts();
        Self { high, low, name }
    }

    /// The span's name: the function's name, `Type.method` for methods, or the name given.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The UUID part of the id.
    #[must_use]
    pub fn uuid(&self) -> Uuid {
        Uuid::from_u64_pair(self.high ^ high_mask(self.low), self.low.get())
    }

    /// The id as one `u128` (the UUID's bits), handy as a compact key.
    #[must_use]
    pub fn as_u128(&self) -> u128 {
        self.uuid().as_u128()
    }
}

/// Hashes the low half alone: unique in the process and already scrambled, so it tells ids apart
/// as well as the three fields would, at the cost of one word ([`SpanIdHasher`] then spends one
/// multiplication on it).
impl Hash for SpanId {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.low.get());
    }
}

/// A [`Hasher`] for maps keyed by [`SpanId`]: one multiplication per id, where the standard
/// library's SipHash spends ~15 ns; ids are made inside the process, not chosen by an attacker.
/// Use it through [`BuildSpanIdHasher`].
///
/// ```
/// use std::collections::HashMap;
/// use instrument::{BuildSpanIdHasher, SpanId};
///
/// let mut open: HashMap<SpanId, &str, BuildSpanIdHasher> = HashMap::default();
/// let id = SpanId::new("retrieve");
/// open.insert(id, "running");
/// assert_eq!(open[&id], "running");
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct SpanIdHasher(u64);

impl Hasher for SpanIdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        // An odd multiplier spreads the low half's bits into the top ones, which hash tables read
        // for their tags (the low half's own top two bits are the UUID variant, always `10`).
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(17) ^ n;
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
}

/// The [`BuildHasher`](std::hash::BuildHasher) of [`SpanIdHasher`], for `HashMap<SpanId, V,
/// BuildSpanIdHasher>` and the like.
pub type BuildSpanIdHasher = BuildHasherDefault<SpanIdHasher>;

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.name, self.uuid().hyphenated())
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// Why a span id's text could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseSpanIdError {
    /// The text does not end in `-` followed by a hyphenated UUID.
    #[error("span id {0:?} does not end in `-<uuid>`")]
    MissingUuid(String),
    /// The UUID part is not a valid, non-nil UUID.
    #[error("span id {0:?} has an invalid UUID part")]
    BadUuid(String),
    /// The name part is empty or longer than 256 bytes.
    #[error("span id {0:?} has an empty or over-long name")]
    BadName(String),
    /// Too many distinct span names were already seen; see [`crate::MAX_INTERNED_NAMES`].
    #[error("too many distinct span names; {0:?} was not accepted")]
    TooManyNames(String),
}

impl std::str::FromStr for SpanId {
    type Err = ParseSpanIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        const UUID_LEN: usize = 36;
        let short = || ParseSpanIdError::MissingUuid(clip(text));
        if text.len() < UUID_LEN + 2 || !text.is_char_boundary(text.len() - UUID_LEN - 1) {
            return Err(short());
        }
        let (name, rest) = text.split_at(text.len() - UUID_LEN - 1);
        let uuid = rest.strip_prefix('-').ok_or_else(short)?;
        let uuid = Uuid::try_parse(uuid).map_err(|_| ParseSpanIdError::BadUuid(clip(text)))?;
        let (shown_high, low) = uuid.as_u64_pair();
        let low = NonZeroU64::new(low).ok_or_else(|| ParseSpanIdError::BadUuid(clip(text)))?;
        let high = shown_high ^ high_mask(low);
        if name.is_empty() || name.len() > 256 {
            return Err(ParseSpanIdError::BadName(clip(text)));
        }
        let name = intern(name).ok_or_else(|| ParseSpanIdError::TooManyNames(clip(text)))?;
        Ok(Self { high, low, name })
    }
}

impl serde::Serialize for SpanId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SpanId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Bad input is quoted in errors, but never more than 80 characters of it.
pub(crate) fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

/// A fresh UUID for an event, from the same cheap counter as span ids.
#[inline]
pub(crate) fn event_uuid_parts() -> (u64, NonZeroU64) {
    next_parts()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_v4_shaped() {
        let a = SpanId::new("a");
        let b = SpanId::new("a");
        assert_ne!(a, b);
        assert_eq!(a.uuid().get_version_num(), 4);
        assert_eq!(a.uuid().get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn scrambling_keeps_ids_unique() {
        let mut seen = std::collections::HashSet::new();
        for counter in (0..200_000u64).chain((1u64 << 61)..(1u64 << 61) + 1000) {
            assert!(seen.insert(super::scramble(counter)));
        }
    }

    #[test]
    fn bad_text_is_an_error() {
        for bad in [
            "",
            "x",
            "name-not-a-uuid-at-all-but-long-enough-00",
            "-00000000-0000-0000-0000-000000000000",
        ] {
            assert!(bad.parse::<SpanId>().is_err(), "{bad:?}");
        }
        let nil = format!("n-{}", Uuid::nil());
        assert!(matches!(
            nil.parse::<SpanId>(),
            Err(ParseSpanIdError::BadUuid(_))
        ));
    }
}
