//! A handler that panics, or that itself emits events and opens spans, cannot take the program down.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::recorder_on;
use instrument::{
    EventEnvelope, EventHandler, SpanEnd, SpanHandler, SpanStart, get_dispatcher, handler_panics,
};

struct PanicsOnStart;
impl SpanHandler for PanicsOnStart {
    type Span = ();
    fn new_span(&self, _: &SpanStart<'_>) -> Option<()> {
        panic!("span handler broke on start")
    }
    fn prepare_to_exit_span(&self, (): (), _: &SpanEnd<'_>) {}
    fn prepare_to_drop_span(&self, (): (), _: &SpanEnd<'_>) {}
}

struct PanicsOnExit;
impl SpanHandler for PanicsOnExit {
    type Span = String;
    fn new_span(&self, _: &SpanStart<'_>) -> Option<String> {
        Some("owned".to_owned())
    }
    fn prepare_to_exit_span(&self, _: String, _: &SpanEnd<'_>) {
        panic!("span handler broke on exit")
    }
    fn prepare_to_drop_span(&self, _: String, _: &SpanEnd<'_>) {}
}

struct PanicsOnEvent;
impl EventHandler for PanicsOnEvent {
    fn handle(&self, _: &EventEnvelope<'_>) {
        panic!("event handler broke")
    }
}

#[instrument::span(dispatcher = "isolation::panics")]
fn survives(value: u32) -> Result<u32, String> {
    Ok(value + 1)
}

#[test]
fn panicking_handlers_are_isolated_and_counted() {
    let d = get_dispatcher("isolation::panics");
    d.add_span_handler(PanicsOnStart);
    d.add_span_handler(PanicsOnExit);
    d.add_event_handler(PanicsOnEvent);
    let recorder = recorder_on(d);
    let before = handler_panics();

    let value = d.in_span("survives", || 42);
    d.event(instrument::SpanDropEvent {
        span_id: instrument::SpanId::new("x"),
        err_str: String::new(),
    });
    let value_again = d.in_span("survives", || 43);

    assert_eq!(
        (value, value_again),
        (42, 43),
        "the user's code returns its value"
    );
    assert_eq!(
        recorder.by_name("survives").len(),
        2,
        "the other handlers still ran"
    );
    assert_eq!(recorder.events().len(), 1);
    // Two spans × two panicking span handlers + one event; other tests in this binary add none.
    assert_eq!(handler_panics() - before, 5);
}

/// Emits an event and opens a span from inside its own callbacks.
struct Reentrant {
    calls: AtomicUsize,
}

impl EventHandler for Reentrant {
    fn handle(&self, _: &EventEnvelope<'_>) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let d = get_dispatcher("isolation::reentrant");
        d.event(instrument::SpanDropEvent {
            span_id: instrument::SpanId::new("loop"),
            err_str: String::new(),
        });
        d.in_span("from_handler", || ());
    }
}

impl SpanHandler for Reentrant {
    type Span = ();
    fn new_span(&self, _: &SpanStart<'_>) -> Option<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let d = get_dispatcher("isolation::reentrant");
        d.in_span("from_new_span", || ());
        d.event(instrument::SpanDropEvent {
            span_id: instrument::SpanId::new("loop"),
            err_str: String::new(),
        });
        Some(())
    }
    fn prepare_to_exit_span(&self, (): (), _: &SpanEnd<'_>) {
        get_dispatcher("isolation::reentrant").in_span("from_exit", || ());
    }
    fn prepare_to_drop_span(&self, (): (), _: &SpanEnd<'_>) {}
}

#[test]
fn a_handler_that_emits_does_not_recurse() {
    let d = get_dispatcher("isolation::reentrant");
    let handler: &'static Reentrant = Box::leak(Box::new(Reentrant {
        calls: AtomicUsize::new(0),
    }));
    d.add_event_handler(Forward(handler));
    d.add_span_handler(Forward(handler));
    let recorder = recorder_on(d);

    d.in_span("outer", || ());
    d.event(instrument::SpanDropEvent {
        span_id: instrument::SpanId::new("x"),
        err_str: String::new(),
    });

    // One span start and one event reached the handler; what it emitted itself was not dispatched.
    assert_eq!(handler.calls.load(Ordering::SeqCst), 2);
    let names: Vec<_> = recorder.ended().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["outer"]);
    assert_eq!(recorder.events().len(), 1);
}

struct Forward(&'static Reentrant);
impl EventHandler for Forward {
    fn handle(&self, event: &EventEnvelope<'_>) {
        self.0.handle(event);
    }
}
impl SpanHandler for Forward {
    type Span = ();
    fn new_span(&self, start: &SpanStart<'_>) -> Option<()> {
        self.0.new_span(start)
    }
    fn prepare_to_exit_span(&self, (): (), end: &SpanEnd<'_>) {
        self.0.prepare_to_exit_span((), end);
    }
    fn prepare_to_drop_span(&self, (): (), end: &SpanEnd<'_>) {
        self.0.prepare_to_drop_span((), end);
    }
}
