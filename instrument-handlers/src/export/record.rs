//! What exporters take from a span or an event on the recording thread: `Copy` data, plus the few
//! owned values that cannot be read later (the arguments, which are borrowed, and the event's
//! payload). Everything else, text, wall-clock times and JSON layout, is made off the hot path.

use std::borrow::Cow;

use instrument_core::{EventEnvelope, SpanEnd, SpanId, Tags, Timestamp};
use serde_json::{Map, Value};

pub(crate) use crate::capture::{Args, capture_args};

/// What a span left besides its ids and times; absent for most spans.
#[derive(Debug)]
pub(crate) struct Extra {
    pub(crate) metadata: Box<[(Cow<'static, str>, Value)]>,
    /// The drop error; `Some` exactly when the span was dropped.
    pub(crate) error: Option<Box<str>>,
    pub(crate) tags: Tags,
    /// The return value as JSON, when it was asked for and there was one.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) result: Option<Value>,
}

/// One ended span.
#[derive(Debug)]
pub(crate) struct SpanRecord {
    pub(crate) id: SpanId,
    pub(crate) parent: Option<SpanId>,
    /// The W3C trace-id, as the core fixed it.
    pub(crate) trace_id: [u8; 16],
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    pub(crate) dispatcher: &'static str,
    pub(crate) args: Args,
    pub(crate) extra: Option<Box<Extra>>,
}

impl SpanRecord {
    /// The record of a span that exited normally, with its return value when `with_result`.
    #[inline]
    pub(crate) fn exited(end: &SpanEnd<'_>, args: Args, with_result: bool) -> Self {
        let result = if with_result {
            end.result().map(|result| result.to_json())
        } else {
            None
        };
        let extra = if end.metadata().is_empty() && end.tags().is_empty() && result.is_none() {
            None
        } else {
            Some(Box::new(Extra {
                metadata: end.metadata().into(),
                error: None,
                tags: end.tags().clone(),
                result,
            }))
        };
        Self::with_extra(end, args, extra)
    }

    /// The record of a span that was dropped.
    #[cold]
    pub(crate) fn dropped(end: &SpanEnd<'_>, args: Args) -> Self {
        let extra = Some(Box::new(Extra {
            metadata: end.metadata().into(),
            error: Some(end.error().unwrap_or_default().into_boxed_str()),
            tags: end.tags().clone(),
            result: None,
        }));
        Self::with_extra(end, args, extra)
    }

    #[inline]
    fn with_extra(end: &SpanEnd<'_>, args: Args, extra: Option<Box<Extra>>) -> Self {
        Self {
            id: end.id(),
            parent: end.parent_id(),
            trace_id: end.trace_id(),
            start: end.start(),
            end: end.end(),
            dispatcher: end.dispatcher(),
            args,
            extra,
        }
    }

    /// The drop error, if the span was dropped.
    pub(crate) fn error(&self) -> Option<&str> {
        self.extra.as_ref()?.error.as_deref()
    }

    /// The trace-id as 32 lower-case hex digits, as `traceparent` and OTLP JSON write it.
    pub(crate) fn trace_id_hex(&self) -> String {
        uuid::Uuid::from_bytes(self.trace_id).simple().to_string()
    }

    /// The return value, if it was captured.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn result(&self) -> Option<&Value> {
        self.extra.as_ref()?.result.as_ref()
    }

    /// The tags the span started with.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) fn raw_tags(&self) -> Option<&Tags> {
        self.extra.as_ref().map(|extra| &extra.tags)
    }

    /// The recorded metadata as a JSON object; a key recorded twice keeps its last value.
    pub(crate) fn metadata(&self) -> Map<String, Value> {
        self.extra
            .iter()
            .flat_map(|extra| extra.metadata.iter())
            .map(|(key, value)| (key.clone().into_owned(), value.clone()))
            .collect()
    }

    /// The tags as a JSON object.
    pub(crate) fn tags(&self) -> Map<String, Value> {
        self.extra
            .iter()
            .flat_map(|extra| extra.tags.iter())
            .map(|(key, value)| (key.to_owned(), value.clone()))
            .collect()
    }
}

/// One event emitted inside a span.
#[derive(Debug)]
pub(crate) struct EventRecord {
    pub(crate) span_id: SpanId,
    pub(crate) name: &'static str,
    pub(crate) dispatcher: &'static str,
    pub(crate) at: Timestamp,
    pub(crate) payload: Value,
    /// What the event says about its span in OpenInference terms, for an OTLP sink.
    #[cfg(feature = "otlp")]
    pub(crate) attrs: Option<Box<super::otlp::EventAttrs>>,
}

impl EventRecord {
    /// The event's record, or `None` when it was emitted outside any span. The payload is read
    /// as JSON when `json`; the OpenInference attributes when `otlp`.
    pub(crate) fn new(event: &EventEnvelope<'_>, json: bool, otlp: bool) -> Option<Self> {
        let span_id = event.span_id()?;
        // Never fails: a payload that cannot be serialised is a marker, and the event is kept.
        let payload = if json {
            event.payload_json()
        } else {
            Value::Null
        };
        #[cfg(not(feature = "otlp"))]
        let _ = otlp;
        Some(Self {
            span_id,
            name: event.class_name(),
            dispatcher: event.dispatcher(),
            at: event.timestamp(),
            payload,
            #[cfg(feature = "otlp")]
            attrs: if otlp {
                super::otlp::event_attrs(event).map(Box::new)
            } else {
                None
            },
        })
    }
}
