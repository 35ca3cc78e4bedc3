//! A recording handler shared by the behaviour tests: it keeps owned copies of what it was given.
#![allow(dead_code)]

use std::sync::Mutex;

use instrument::{EventEnvelope, EventHandler, SpanEnd, SpanHandler, SpanId, SpanStart, Tags};
use serde_json::Value;

/// One span as a handler saw it, from start to end.
#[derive(Debug, Clone)]
pub struct Seen {
    pub id: SpanId,
    pub parent: Option<SpanId>,
    pub name: String,
    pub args: Vec<(String, Value)>,
    pub tags: Tags,
    pub exited: bool,
    pub result: Option<Value>,
    pub error: Option<String>,
    pub metadata: Vec<(String, Value)>,
    /// The trace-id as `SpanEnd::trace_id` gave it.
    pub trace_id: [u8; 16],
    /// The trace-id as `SpanStart::trace_id` gave it.
    pub start_trace_id: [u8; 16],
}

/// One event as a handler saw it.
#[derive(Debug, Clone)]
pub struct SeenEvent {
    pub class_name: &'static str,
    pub id: uuid::Uuid,
    pub span_id: Option<SpanId>,
    pub tags: Tags,
    pub json: Value,
}

#[derive(Default)]
pub struct Recorder {
    pub started: Mutex<Vec<SpanId>>,
    pub ended: Mutex<Vec<Seen>>,
    pub events: Mutex<Vec<SeenEvent>>,
    pub closed: std::sync::atomic::AtomicUsize,
}

impl Recorder {
    pub fn ended(&self) -> Vec<Seen> {
        self.ended.lock().unwrap().clone()
    }

    pub fn events(&self) -> Vec<SeenEvent> {
        self.events.lock().unwrap().clone()
    }

    pub fn by_name(&self, name: &str) -> Vec<Seen> {
        self.ended()
            .into_iter()
            .filter(|s| s.name == name)
            .collect()
    }

    /// The result of the one `name` span that has a result.
    pub fn one_result(&self, name: &str) -> Option<Value> {
        let results: Vec<_> = self
            .by_name(name)
            .into_iter()
            .filter_map(|s| s.result)
            .collect();
        assert!(results.len() <= 1, "{results:?}");
        results.into_iter().next()
    }

    pub fn one(&self, name: &str) -> Seen {
        let found = self.by_name(name);
        assert_eq!(found.len(), 1, "expected one `{name}` span, got {found:#?}");
        found.into_iter().next().unwrap()
    }
}

pub struct Open {
    args: Vec<(String, Value)>,
    tags: Tags,
    trace_id: [u8; 16],
}

impl SpanHandler for Recorder {
    type Span = Box<Open>;

    fn new_span(&self, start: &SpanStart<'_>) -> Option<Box<Open>> {
        self.started.lock().unwrap().push(start.id());
        Some(Box::new(Open {
            args: start
                .args()
                .iter()
                .map(|a| (a.name().to_owned(), a.to_json()))
                .collect(),
            tags: start.tags().clone(),
            trace_id: start.trace_id(),
        }))
    }

    fn prepare_to_exit_span(&self, span: Box<Open>, end: &SpanEnd<'_>) {
        self.record(*span, end);
    }

    fn prepare_to_drop_span(&self, span: Box<Open>, end: &SpanEnd<'_>) {
        self.record(*span, end);
    }

    fn close(&self) {
        self.closed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Recorder {
    fn record(&self, open: Open, end: &SpanEnd<'_>) {
        self.ended.lock().unwrap().push(Seen {
            id: end.id(),
            parent: end.parent_id(),
            name: end.name().to_owned(),
            args: open.args,
            tags: open.tags,
            exited: end.is_exit(),
            result: end.result().map(instrument::Arg::to_json),
            error: end.error(),
            metadata: end
                .metadata()
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            trace_id: end.trace_id(),
            start_trace_id: open.trace_id,
        });
    }
}

impl EventHandler for Recorder {
    fn handle(&self, event: &EventEnvelope<'_>) {
        self.events.lock().unwrap().push(SeenEvent {
            class_name: event.class_name(),
            id: event.id(),
            span_id: event.span_id(),
            tags: event.tags().clone(),
            json: event.payload().to_json().unwrap(),
        });
    }

    fn close(&self) {
        self.closed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A recorder registered as both span and event handler on `dispatcher`.
pub fn recorder_on(dispatcher: &'static instrument::Dispatcher) -> &'static Recorder {
    let recorder: &'static Recorder = Box::leak(Box::default());
    dispatcher.add_span_handler(Shared(recorder));
    dispatcher.add_event_handler(Shared(recorder));
    recorder
}

/// Registers one `&'static` handler under both traits.
pub struct Shared(pub &'static Recorder);

impl SpanHandler for Shared {
    type Span = Box<Open>;
    fn new_span(&self, start: &SpanStart<'_>) -> Option<Box<Open>> {
        self.0.new_span(start)
    }
    fn prepare_to_exit_span(&self, span: Box<Open>, end: &SpanEnd<'_>) {
        self.0.prepare_to_exit_span(span, end);
    }
    fn prepare_to_drop_span(&self, span: Box<Open>, end: &SpanEnd<'_>) {
        self.0.prepare_to_drop_span(span, end);
    }
    fn close(&self) {
        SpanHandler::close(self.0);
    }
}

impl EventHandler for Shared {
    fn handle(&self, event: &EventEnvelope<'_>) {
        self.0.handle(event);
    }
    fn close(&self) {
        EventHandler::close(self.0);
    }
}
