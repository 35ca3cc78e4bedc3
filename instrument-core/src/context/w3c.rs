//! Continuing a W3C trace: a [`Context`] from a request's `traceparent` and `tracestate` headers,
//! and the headers to send from a context (the mapping of ids is described in the `traceparent`
//! module, which holds the header's value).

use std::sync::Arc;

use crate::context::current::Context;
use crate::context::tags::Tags;
use crate::context::traceparent::{REMOTE_SPAN_NAME, TraceParent, TraceParentError};
use crate::span::id::SpanId;

impl TraceParent {
    /// The header to send from `cx`: its span as parent, its trace's id (the local root's UUID,
    /// or the remote trace it continues), and the remote caller's flags and trace state if any,
    /// `sampled` off when a sampler left the trace out; `None` outside a span.
    #[must_use]
    pub fn from_context(cx: &Context) -> Option<Self> {
        let span = cx.span?;
        let parent_id = Self::parent_id_for(&span);
        let trace_id = cx.effective_trace().to_be_bytes();
        Some(match cx.trace.as_deref() {
            Some(trace) => Self {
                trace_id,
                parent_id,
                sampled: trace.sampled && !cx.sampled_out,
                ..trace.clone()
            },
            None => Self {
                trace_id,
                parent_id,
                sampled: !cx.sampled_out,
                tracestate: None,
            },
        })
    }

    /// A context that continues this trace: new spans made in it are children of the remote parent
    /// (a [`SpanId`] named [`REMOTE_SPAN_NAME`]), and it carries the trace-id, the `sampled` flag
    /// and the trace state (dropped if malformed) on to [`inject_traceparent`].
    ///
    /// # Errors
    /// When the trace-id or parent-id is all zeros, or the remote parent cannot be named.
    pub fn to_context(&self) -> Result<Context, TraceParentError> {
        if self.trace_id == [0; 16] {
            return Err(TraceParentError::ZeroTraceId);
        }
        if self.parent_id == [0; 8] {
            return Err(TraceParentError::ZeroParentId);
        }
        let high = u64::from_be_bytes(self.trace_id[..8].try_into().unwrap_or_default());
        let low = u64::from_be_bytes(self.parent_id);
        let uuid = uuid::Uuid::from_u64_pair(high, low);
        let parent = format!("{REMOTE_SPAN_NAME}-{}", uuid.hyphenated())
            .parse::<SpanId>()
            .map_err(|_| TraceParentError::TooManyNames)?;
        Ok(Context::new(Some(parent), Tags::new()).continuing(self.clone()))
    }
}

impl Context {
    /// The W3C trace-id of this context's trace, if it is in one: the UUID of the local root span
    /// its span descends from, or the remote trace it continues ([`extract_traceparent`],
    /// [`Context::with_new_trace`]).
    #[must_use]
    pub fn trace_id(&self) -> Option<[u8; 16]> {
        match self.effective_trace() {
            0 => None,
            trace => Some(trace.to_be_bytes()),
        }
    }

    /// The W3C trace-id of the current span's trace, if any: what [`Context::current`]`.trace_id()`
    /// gives, without copying the rest of the context (its tags).
    #[must_use]
    #[inline]
    pub fn current_trace_id() -> Option<[u8; 16]> {
        match crate::context::current::current_trace() {
            0 => None,
            trace => Some(trace.to_be_bytes()),
        }
    }

    /// This context as the start of a new W3C trace: a random trace-id, sampled, no trace state.
    /// Use it where a request enters the service without a `traceparent`, so that every call it
    /// makes shares one trace-id.
    ///
    /// ```
    /// use instrument::{inject_traceparent, Context, SpanId, Tags};
    ///
    /// let cx = Context::new(Some(SpanId::new("handle")), Tags::new()).with_new_trace();
    /// let (header, _) = inject_traceparent(&cx).unwrap();
    /// let trace_id = cx.trace_id().unwrap();
    /// assert!(header.contains(&trace_id.iter().map(|b| format!("{b:02x}")).collect::<String>()));
    /// ```
    #[must_use]
    pub fn with_new_trace(self) -> Self {
        self.continuing(TraceParent {
            // A v4 UUID is never nil.
            trace_id: uuid::Uuid::new_v4().into_bytes(),
            // Replaced by the injecting span's id; kept valid meanwhile.
            parent_id: [0, 0, 0, 0, 0, 0, 0, 1],
            sampled: true,
            tracestate: None,
        })
    }

    /// This context continuing the W3C trace `trace`: its id names the trace of spans made here,
    /// and its flags and trace state (dropped if malformed) are sent on. The one place a context
    /// takes a remote or fresh trace.
    pub(crate) fn continuing(mut self, trace: TraceParent) -> Self {
        self.trace_id = u128::from_be_bytes(trace.trace_id);
        self.trace = Some(Arc::new(TraceParent {
            tracestate: clean_tracestate(trace.tracestate.as_deref()),
            ..trace
        }));
        self
    }
}

/// The `traceparent` and `tracestate` headers to send from `cx`, or `None` outside a span; see
/// [`TraceParent::from_context`].
///
/// ```
/// use instrument::{extract_traceparent, inject_traceparent, Context, SpanId, Tags, TraceParent};
///
/// // Process A, inside span `s`:
/// let s = SpanId::new("call_llm");
/// let (traceparent, tracestate) =
///     inject_traceparent(&Context::new(Some(s), Tags::new())).unwrap();
///
/// // Process B: spans made in `cx` are children of `s`, in the same trace.
/// let cx = extract_traceparent(&traceparent, tracestate.as_deref()).unwrap();
/// let remote = cx.span_id().unwrap();
/// assert_eq!(TraceParent::parent_id_for(&remote), TraceParent::parent_id_for(&s));
/// assert_eq!(remote.uuid(), s.uuid());
/// assert_eq!(cx.trace_id(), Some(s.uuid().into_bytes()));
/// ```
#[must_use]
pub fn inject_traceparent(cx: &Context) -> Option<(String, Option<String>)> {
    let header = TraceParent::from_context(cx)?;
    Some((header.to_string(), header.tracestate))
}

/// The context a request's `traceparent` and `tracestate` headers continue; see
/// [`TraceParent::to_context`]. Attach it (or run in its [`Context::scope`]) while handling the
/// request.
///
/// ```
/// use instrument::{extract_traceparent, TraceParentError};
///
/// let cx = extract_traceparent(
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
///     Some("congo=t61rcWkgMzE"),
/// )
/// .unwrap();
/// assert_eq!(cx.span_id().unwrap().name(), "remote");
///
/// let bad = extract_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None);
/// assert_eq!(bad.unwrap_err(), TraceParentError::ZeroTraceId);
/// ```
///
/// # Errors
/// When `traceparent` is malformed; see [`TraceParentError`]. A malformed `tracestate` is dropped,
/// not an error.
pub fn extract_traceparent(
    traceparent: &str,
    tracestate: Option<&str>,
) -> Result<Context, TraceParentError> {
    let mut header = TraceParent::parse(traceparent)?;
    header.tracestate = tracestate.map(str::to_owned);
    header.to_context()
}

/// `tracestate` unchanged, or `None` when blank or when it holds anything but printable ASCII and
/// tabs (the spec's grammar allows no more; the spec lets a vendor drop a header it cannot parse).
fn clean_tracestate(state: Option<&str>) -> Option<String> {
    let state = state?;
    let printable = state
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
    let blank = state.bytes().all(|b| b == b' ' || b == b'\t');
    (printable && !blank).then(|| state.to_owned())
}
