//! W3C Trace Context: the `traceparent` and `tracestate` HTTP headers, so that a trace continues
//! across calls between services.
//!
//! # How our ids map to W3C ids
//! - **parent-id**: a span's W3C parent-id is the low 64 bits of its [`SpanId`]'s UUID, big-endian.
//!   Local ids take those bits from a per-process counter, so they are unique in the process and
//!   never zero (see [`TraceParent::parent_id_for`]).
//! - **trace-id**: the core keeps no trace id per span, so a [`Context`](crate::Context) carries one. It is set by
//!   [`extract_traceparent`](crate::extract_traceparent) (the trace came in with a request) or [`Context::with_new_trace`](crate::Context::with_new_trace) (this
//!   service starts it), and travels like tags: through [`Context::scope`](crate::Context::scope), [`Context::attach`](crate::Context::attach),
//!   [`crate::thread::spawn`], [`crate::FutureExt`] and the spans made inside. A context without
//!   one (a trace begun here, not started explicitly) makes [`inject_traceparent`](crate::inject_traceparent) start a W3C trace
//!   at the current span: its trace-id is that span's whole UUID. Start the trace explicitly at a
//!   request's entry point when several outgoing calls must share one trace-id.
//! - **remote parent**: spans made in an extracted context get as parent a [`SpanId`] named
//!   [`REMOTE_SPAN_NAME`] whose UUID is the trace-id's high 64 bits and the parent-id. Its W3C
//!   parent-id is therefore the sender's; when the sender's trace-id was derived from its span, the
//!   whole UUID is the sender span's too.
//!
//! # What is accepted
//! Version `00` headers are exactly `00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>`. Later
//! versions (but not `ff`) are read as the spec asks: the same four fields, then either the end or a
//! `-` and anything. Hex must be lowercase, as the spec's grammar requires; nothing is trimmed. An
//! all-zero trace-id or parent-id is an error. Output is always version `00` with only the `sampled`
//! flag, the only one version `00` defines.
//!
//! `tracestate` is passed on unchanged; as the spec allows, one that is blank or holds characters
//! other than printable ASCII and tabs is dropped, so it can never smuggle a line break into a
//! header.

use std::fmt;
use std::str::FromStr;

use crate::span::id::{SpanId, clip};

/// The name of the [`SpanId`] that stands for a span in another process, the parent of the spans
/// made in a context from [`extract_traceparent`](crate::extract_traceparent).
pub const REMOTE_SPAN_NAME: &str = "remote";

/// The length of a version `00` header.
const LEN: usize = 55;

/// Why a `traceparent` header could not be read. Parsing never panics, whatever the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceParentError {
    /// Shorter than 55 characters, or a version `00` header of another length.
    #[error("traceparent must be 55 characters long (or longer for versions after 00), got {0}")]
    Length(usize),
    /// The version is not two lowercase hex digits.
    #[error("traceparent's version {0:?} is not two lowercase hex digits")]
    Version(String),
    /// The version is `ff`, which the spec forbids.
    #[error("traceparent's version ff is invalid")]
    VersionFf,
    /// A `-` is missing where one must be; the value is its byte offset.
    #[error("traceparent needs a `-` at offset {0}")]
    Delimiter(usize),
    /// The trace-id is not 32 lowercase hex digits.
    #[error("traceparent's trace-id {0:?} is not 32 lowercase hex digits")]
    TraceId(String),
    /// The trace-id is all zeros.
    #[error("traceparent's trace-id is all zeros")]
    ZeroTraceId,
    /// The parent-id is not 16 lowercase hex digits.
    #[error("traceparent's parent-id {0:?} is not 16 lowercase hex digits")]
    ParentId(String),
    /// The parent-id is all zeros.
    #[error("traceparent's parent-id is all zeros")]
    ZeroParentId,
    /// The flags are not two lowercase hex digits.
    #[error("traceparent's flags {0:?} are not two lowercase hex digits")]
    Flags(String),
    /// The process's table of span names is full (see [`crate::MAX_INTERNED_NAMES`]), so the remote
    /// parent could not be named. Only possible if it fills before the first extraction.
    #[error("too many distinct span names to name the remote parent")]
    TooManyNames,
}

/// A parsed `traceparent` header, plus the `tracestate` that travels with it.
///
/// The fields are public; [`TraceParent::parse`] and [`TraceParent::from_context`] only make valid
/// ones, and [`TraceParent::to_context`] checks them. `Display` gives the `traceparent` header.
///
/// ```
/// use instrument::TraceParent;
///
/// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let parsed: TraceParent = header.parse().unwrap();
/// assert!(parsed.sampled);
/// assert_eq!(parsed.parent_id, [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
/// assert_eq!(parsed.to_string(), header);
///
/// assert!(TraceParent::parse("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The trace's id; never all zeros in a valid header.
    pub trace_id: [u8; 16],
    /// The calling span's id; never all zeros in a valid header.
    pub parent_id: [u8; 8],
    /// The `sampled` flag: whether the caller may have recorded its span.
    pub sampled: bool,
    /// The `tracestate` header, passed on unchanged.
    pub tracestate: Option<String>,
}

impl TraceParent {
    /// Reads a `traceparent` header; `tracestate` is left `None`.
    ///
    /// # Errors
    /// Whenever the header is not valid W3C Trace Context; see [`TraceParentError`].
    pub fn parse(header: &str) -> Result<Self, TraceParentError> {
        let b = header.as_bytes();
        if b.len() < LEN {
            return Err(TraceParentError::Length(b.len()));
        }
        let version =
            hex::<1>(&b[0..2]).ok_or_else(|| TraceParentError::Version(lossy(&b[0..2])))?;
        match version[0] {
            0xff => return Err(TraceParentError::VersionFf),
            0 if b.len() != LEN => return Err(TraceParentError::Length(b.len())),
            // Later versions may add fields, after a `-`.
            _ if b.len() > LEN && b[LEN] != b'-' => return Err(TraceParentError::Delimiter(LEN)),
            _ => {}
        }
        for at in [2, 35, 52] {
            if b[at] != b'-' {
                return Err(TraceParentError::Delimiter(at));
            }
        }
        let trace_id =
            hex::<16>(&b[3..35]).ok_or_else(|| TraceParentError::TraceId(lossy(&b[3..35])))?;
        let parent_id =
            hex::<8>(&b[36..52]).ok_or_else(|| TraceParentError::ParentId(lossy(&b[36..52])))?;
        let flags =
            hex::<1>(&b[53..55]).ok_or_else(|| TraceParentError::Flags(lossy(&b[53..55])))?;
        if trace_id == [0; 16] {
            return Err(TraceParentError::ZeroTraceId);
        }
        if parent_id == [0; 8] {
            return Err(TraceParentError::ZeroParentId);
        }
        Ok(Self {
            trace_id,
            parent_id,
            sampled: flags[0] & 1 == 1,
            tracestate: None,
        })
    }

    /// The W3C parent-id of `span`: the low 64 bits of its UUID, big-endian. Never all zeros.
    #[must_use]
    pub fn parent_id_for(span: &SpanId) -> [u8; 8] {
        let (_, low) = span.uuid().as_u64_pair();
        low.to_be_bytes()
    }
}

impl FromStr for TraceParent {
    type Err = TraceParentError;

    fn from_str(header: &str) -> Result<Self, Self::Err> {
        Self::parse(header)
    }
}

/// The `traceparent` header, version `00`, in lowercase.
impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [b'-'; LEN];
        write_hex(&mut out[0..2], &[0]);
        write_hex(&mut out[3..35], &self.trace_id);
        write_hex(&mut out[36..52], &self.parent_id);
        write_hex(&mut out[53..55], &[u8::from(self.sampled)]);
        // Only ASCII hex digits and dashes were written.
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

/// `text` as `N` bytes, if it is exactly `2 * N` lowercase hex digits.
fn hex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

fn write_hex(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
}

/// Bad bytes for an error message: any slice of the input may split a character.
fn lossy(bytes: &[u8]) -> String {
    clip(&String::from_utf8_lossy(bytes))
}
