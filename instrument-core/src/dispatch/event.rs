//! Events: typed records of one moment, and the envelope handlers receive them in.

use std::any::Any;
use std::cell::OnceCell;
use std::num::NonZeroU64;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::context::tags::Tags;
use crate::span::clock::Timestamp;
use crate::span::id::SpanId;

/// A typed event. Implement it with `#[derive(Event)]`:
///
/// ```
/// use instrument::Event;
///
/// #[derive(serde::Serialize)]
/// struct CacheHit { key: String, age_ms: u64 }
///
/// // What `#[derive(instrument::Event)]` writes for you:
/// impl Event for CacheHit {
///     fn class_name(&self) -> &'static str { "CacheHit" }
///     fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
///         Ok(instrument::to_json_guarded(self))
///     }
/// }
///
/// let hit = CacheHit { key: "q".into(), age_ms: 7 };
/// assert_eq!(hit.to_json().unwrap()["age_ms"], 7);
/// ```
///
/// The trait exists so that handlers see every event type through one object-safe view and pick out
/// the ones they want with [`EventEnvelope::downcast_ref`], as LlamaIndex handlers use `isinstance`.
pub trait Event: Any {
    /// The event's class name: the type's name unless renamed with `#[event(name = "...")]`.
    fn class_name(&self) -> &'static str;

    /// The event's own fields as JSON.
    ///
    /// Write it with [`crate::to_json_guarded`], as `#[derive(Event)]` does, so that the JSON
    /// handlers see is bounded in depth and has its secrets redacted, and a failing or panicking
    /// `Serialize` impl becomes a marker rather than an error. Handlers read it through
    /// [`EventEnvelope::payload_json`], which also turns an error or a panic of a hand-written impl
    /// into a marker.
    ///
    /// # Errors
    /// When the event's `Serialize` impl fails (never, for a derived impl).
    fn to_json(&self) -> Result<Value, serde_json::Error>;
}

/// An event as handlers receive it: the payload plus what the dispatcher adds to every event, its id,
/// timestamp, the span open at emission and the tags active then.
///
/// Handlers run synchronously on the emitting thread, so these are read the first time a handler asks
/// and then shared by all handlers of the event: an event that no handler timestamps costs no clock
/// read. The timestamp is therefore the moment of dispatch to the first handler that reads it.
pub struct EventEnvelope<'a> {
    id: OnceCell<(u64, NonZeroU64)>,
    timestamp: OnceCell<Timestamp>,
    span_id: OnceCell<Option<SpanId>>,
    tags: OnceCell<Tags>,
    payload: &'a dyn Event,
    dispatcher: &'static str,
}

impl<'a> EventEnvelope<'a> {
    /// An envelope whose id, time, span and tags are read from the emitting thread when first asked.
    pub(crate) fn new(payload: &'a dyn Event, dispatcher: &'static str) -> Self {
        Self {
            id: OnceCell::new(),
            timestamp: OnceCell::new(),
            span_id: OnceCell::new(),
            tags: OnceCell::new(),
            payload,
            dispatcher,
        }
    }

    /// An envelope with its time, span and tags given.
    pub(crate) fn with_context(
        payload: &'a dyn Event,
        dispatcher: &'static str,
        timestamp: Timestamp,
        span_id: Option<SpanId>,
        tags: Tags,
    ) -> Self {
        let envelope = Self::new(payload, dispatcher);
        let _ = envelope.timestamp.set(timestamp);
        let _ = envelope.span_id.set(span_id);
        let _ = envelope.tags.set(tags);
        envelope
    }

    /// The event's id, a UUID v4 in form (`id_` in `LlamaIndex`).
    #[must_use]
    pub fn id(&self) -> Uuid {
        let (high, low) = *self.id.get_or_init(crate::span::id::event_uuid_parts);
        Uuid::from_u64_pair(high, low.get())
    }

    /// When the event was emitted.
    #[must_use]
    pub fn timestamp(&self) -> Timestamp {
        *self.timestamp.get_or_init(Timestamp::now)
    }

    /// When the event was emitted, as wall-clock time.
    #[must_use]
    pub fn time(&self) -> DateTime<Utc> {
        self.timestamp().to_utc()
    }

    /// The span open where the event was emitted.
    #[must_use]
    pub fn span_id(&self) -> Option<SpanId> {
        *self
            .span_id
            .get_or_init(crate::context::current::current_id)
    }

    /// The tags active where the event was emitted.
    #[must_use]
    pub fn tags(&self) -> &Tags {
        self.tags.get_or_init(crate::context::current::tags)
    }

    /// The name of the dispatcher the event was emitted on.
    #[must_use]
    pub fn dispatcher(&self) -> &'static str {
        self.dispatcher
    }

    /// The event itself.
    #[must_use]
    pub fn payload(&self) -> &'a dyn Event {
        self.payload
    }

    /// The event's class name.
    #[must_use]
    pub fn class_name(&self) -> &'static str {
        self.payload.class_name()
    }

    /// The event as `T`, if it is one.
    #[must_use]
    pub fn downcast_ref<T: Event>(&self) -> Option<&'a T> {
        let any: &'a dyn Any = self.payload;
        any.downcast_ref()
    }

    /// Whether the event is a `T`.
    #[must_use]
    pub fn is<T: Event>(&self) -> bool {
        self.downcast_ref::<T>().is_some()
    }

    /// The payload's own fields as JSON ([`Event::to_json`]), never failing: an error or a panic
    /// of the payload's impl makes the payload the marker `"<unserializable: ...>"`.
    ///
    /// ```
    /// use instrument::{get_dispatcher, Event, EventEnvelope, EventHandler};
    ///
    /// struct Broken;
    /// impl Event for Broken {
    ///     fn class_name(&self) -> &'static str { "Broken" }
    ///     fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> { panic!("no JSON") }
    /// }
    ///
    /// struct Check;
    /// impl EventHandler for Check {
    ///     fn handle(&self, event: &EventEnvelope<'_>) {
    ///         assert_eq!(event.payload_json(), "<unserializable: panicked: no JSON>");
    ///     }
    /// }
    ///
    /// let dispatcher = get_dispatcher("doc::payload_json");
    /// dispatcher.add_event_handler(Check);
    /// dispatcher.event(Broken);
    /// assert_eq!(instrument::handler_panics(), 0);
    /// ```
    #[must_use]
    pub fn payload_json(&self) -> Value {
        let payload = self.payload;
        crate::values::value_guard::guard(|| payload.to_json())
    }

    /// The whole event as JSON: the payload's fields plus `id_`, `timestamp`, `span_id`, `tags` and
    /// `class_name`, the shape of a serialised LlamaIndex event. A payload that is not a JSON
    /// object is kept under `payload`.
    ///
    /// # Errors
    /// None: the payload is read with [`EventEnvelope::payload_json`], which turns a failure into
    /// a marker. The `Result` stays for compatibility.
    pub fn to_json(&self) -> Result<Value, serde_json::Error> {
        let mut value = self.payload_json();
        if !value.is_object() {
            value = serde_json::json!({ "payload": value });
        }
        if let Value::Object(map) = &mut value {
            map.insert("id_".into(), Value::String(self.id().to_string()));
            map.insert("timestamp".into(), Value::String(self.time().to_rfc3339()));
            map.insert(
                "span_id".into(),
                self.span_id()
                    .map_or(Value::Null, |id| Value::String(id.to_string())),
            );
            map.insert("tags".into(), self.tags().to_json());
            map.insert("class_name".into(), Value::String(self.class_name().into()));
        }
        Ok(value)
    }
}

impl std::fmt::Debug for EventEnvelope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventEnvelope")
            .field("class_name", &self.class_name())
            .field("id", &self.id())
            .field("span_id", &self.span_id())
            .field("tags", self.tags())
            .field("payload", &self.payload_json())
            .finish()
    }
}
