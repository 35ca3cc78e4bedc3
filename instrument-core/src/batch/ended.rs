//! One ended span as the core records it for batched handlers.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::context::tags::Tags;
use crate::dispatch::dispatcher::{Chain, Shared};
use crate::span::DropReason;
use crate::span::clock::Timestamp;
use crate::span::id::SpanId;

/// What a span left besides its ids and times: absent for a span that exited with nothing
/// recorded and nothing captured, which is most of them.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    pub(crate) drop: Option<(DropReason, Box<str>)>,
    pub(crate) metadata: Vec<(Cow<'static, str>, Value)>,
    pub(crate) args: Option<Value>,
    pub(crate) result: Option<Value>,
    pub(crate) tags: Tags,
}

/// One ended span, as a [`BatchSpanHandler`](crate::BatchSpanHandler) receives it: its ids,
/// times and outcome, what code inside recorded, and what the handlers of its chain asked the
/// core to [capture](crate::Capture).
pub struct EndedSpan {
    pub(crate) id: SpanId,
    pub(crate) parent: Option<SpanId>,
    pub(crate) trace: u128,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    pub(crate) dispatcher: &'static str,
    pub(crate) extra: Option<Box<Extra>>,
    /// Who receives it: the batched handlers of `chain`, then those of `shared`, less those
    /// whose bit is set in `skip` (a dispatcher's shutdown ended the span for them already).
    pub(crate) chain: &'static Chain,
    pub(crate) shared: Option<Arc<Shared>>,
    pub(crate) skip: u64,
}

static NO_TAGS: Tags = Tags::new();

impl EndedSpan {
    /// The span's id.
    #[inline]
    #[must_use]
    pub fn id(&self) -> SpanId {
        self.id
    }

    /// The span's name.
    #[inline]
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.id.name()
    }

    /// The span that was current when this one started.
    #[inline]
    #[must_use]
    pub fn parent_id(&self) -> Option<SpanId> {
        self.parent
    }

    /// The W3C trace-id of the span's trace, as [`SpanStart::trace_id`](crate::SpanStart::trace_id)
    /// gives it.
    #[inline]
    #[must_use]
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace.to_be_bytes()
    }

    /// When the span started.
    #[inline]
    #[must_use]
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// When the span ended.
    #[inline]
    #[must_use]
    pub fn end(&self) -> Timestamp {
        self.end
    }

    /// Wall-clock start time.
    #[inline]
    #[must_use]
    pub fn start_time(&self) -> DateTime<Utc> {
        self.start.to_utc()
    }

    /// Wall-clock end time.
    #[inline]
    #[must_use]
    pub fn end_time(&self) -> DateTime<Utc> {
        self.end.to_utc()
    }

    /// How long the span was open.
    #[inline]
    #[must_use]
    pub fn duration(&self) -> Duration {
        self.end.duration_since(self.start)
    }

    /// The name of the dispatcher the span was made on.
    #[inline]
    #[must_use]
    pub fn dispatcher(&self) -> &'static str {
        self.dispatcher
    }

    /// Whether the span exited normally (else it was dropped).
    #[inline]
    #[must_use]
    pub fn is_exit(&self) -> bool {
        self.drop_reason().is_none()
    }

    /// Why the span was dropped, if it was.
    #[inline]
    #[must_use]
    pub fn drop_reason(&self) -> Option<DropReason> {
        self.extra
            .as_ref()?
            .drop
            .as_ref()
            .map(|(reason, _)| *reason)
    }

    /// The error text of a dropped span, as [`SpanEnd::error`](crate::SpanEnd::error) gives it.
    #[inline]
    #[must_use]
    pub fn error(&self) -> Option<&str> {
        self.extra.as_ref()?.drop.as_ref().map(|(_, text)| &**text)
    }

    /// What code inside the span recorded with [`crate::CurrentSpan::record`], in order.
    #[inline]
    #[must_use]
    pub fn metadata(&self) -> &[(Cow<'static, str>, Value)] {
        self.extra.as_ref().map_or(&[], |e| &e.metadata)
    }

    /// The arguments as a JSON object, by name (redacted ones `"[REDACTED]"`), when a handler of
    /// the chain captures [`Capture::args`](crate::Capture::args).
    #[inline]
    #[must_use]
    pub fn args(&self) -> Option<&Value> {
        self.extra.as_ref()?.args.as_ref()
    }

    /// The return value as JSON (the `Ok` value of a `Result`), when a handler of the chain
    /// captures [`Capture::result`](crate::Capture::result) and the span returned one.
    #[inline]
    #[must_use]
    pub fn result(&self) -> Option<&Value> {
        self.extra.as_ref()?.result.as_ref()
    }

    /// The tags active when the span started, when a handler of the chain captures
    /// [`Capture::tags`](crate::Capture::tags); empty otherwise.
    #[inline]
    #[must_use]
    pub fn tags(&self) -> &Tags {
        self.extra.as_ref().map_or(&NO_TAGS, |e| &e.tags)
    }

    /// Whether dropping the record frees anything: most records are plain data. (Every field is
    /// named, so that a field added makes this fail to compile until it is considered.)
    #[inline]
    pub(crate) fn owns_anything(&self) -> bool {
        let Self {
            id: _,
            parent: _,
            trace: _,
            start: _,
            end: _,
            dispatcher: _,
            extra,
            chain: _,
            shared,
            skip: _,
        } = self;
        extra.is_some() || shared.is_some()
    }

    /// Whether this record goes to the same handlers as `other`: consecutive records that do are
    /// delivered as one batch.
    pub(crate) fn same_route(&self, other: &Self) -> bool {
        std::ptr::eq(self.chain, other.chain)
            && self.skip == other.skip
            && match (&self.shared, &other.shared) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

impl fmt::Debug for EndedSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndedSpan")
            .field("id", &self.id)
            .field("parent", &self.parent)
            .field("duration", &self.duration())
            .field("dispatcher", &self.dispatcher)
            .field("extra", &self.extra)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::EndedSpan;

    #[test]
    fn a_record_stays_small() {
        // `BATCH_LEN` of them make a thread's ring: the size its documentation states.
        assert!(size_of::<EndedSpan>() <= 144, "{}", size_of::<EndedSpan>());
    }
}
