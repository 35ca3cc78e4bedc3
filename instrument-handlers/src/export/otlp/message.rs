//! What recording threads hand the exporter's thread: small records taken while the span or event
//! can still be read. Text, attribute maps and protobuf are made on the exporter's thread.

use std::borrow::Cow;
use std::sync::mpsc::SyncSender;

use instrument_core::{SpanEnd, SpanId, Tags, Timestamp};
use serde_json::{Map, Value};

use super::events::EventAttrs;
use crate::capture::Args;

/// What recording threads (and the exporter's own methods) send to the exporter's thread.
pub(crate) enum Message {
    /// A span started: lets the worker give it a trace id and collect its events.
    Start {
        id: SpanId,
        parent: Option<SpanId>,
        /// The trace the context carries (one restored from a `traceparent` header, say), read
        /// for roots and children of remote parents only.
        context_trace: Option<[u8; 16]>,
    },
    /// An event was emitted inside span `span`.
    Event {
        span: SpanId,
        name: &'static str,
        at: Timestamp,
        attrs: Option<Box<EventAttrs>>,
    },
    /// A span ended.
    End(Box<EndRecord>),
    /// Send everything queued before this, then answer; stop afterwards when `stop` is set.
    Flush {
        answer: SyncSender<Option<String>>,
        stop: bool,
    },
}

/// One ended span, as its handler saw it end.
pub(crate) struct EndRecord {
    pub(crate) id: SpanId,
    pub(crate) parent: Option<SpanId>,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    pub(crate) dispatcher: &'static str,
    pub(crate) args: Args,
    /// The return value as JSON, when there was one and it was captured.
    pub(crate) result: Option<Value>,
    /// The drop error; `Some` exactly when the span was dropped.
    pub(crate) error: Option<String>,
    pub(crate) metadata: Box<[(Cow<'static, str>, Value)]>,
    pub(crate) tags: Tags,
}

impl EndRecord {
    /// The record of `end`, with the arguments captured at its start.
    pub(crate) fn new(end: &SpanEnd<'_>, args: Args) -> Box<Self> {
        Box::new(Self {
            id: end.id(),
            parent: end.parent_id(),
            start: end.start(),
            end: end.end(),
            dispatcher: end.dispatcher(),
            args,
            result: end.result().map(|result| result.to_json()),
            error: end.error(),
            metadata: end.metadata().into(),
            tags: end.tags().clone(),
        })
    }

    /// The recorded metadata as a JSON object; a key recorded twice keeps its last value.
    pub(crate) fn metadata(&self) -> Option<Map<String, Value>> {
        if self.metadata.is_empty() {
            return None;
        }
        Some(
            self.metadata
                .iter()
                .map(|(key, value)| (key.clone().into_owned(), value.clone()))
                .collect(),
        )
    }
}
