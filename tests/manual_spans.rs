//! The manual span API: guards, closures, by-id calls; several span handler types on one chain.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::recorder_on;
use instrument::{
    Arg, SpanEnd, SpanError, SpanHandler, SpanId, SpanStart, Tags, current_span, get_dispatcher,
};
use serde_json::json;

#[test]
fn guards_nest_and_carry_args_results_and_metadata() {
    let d = get_dispatcher("manual::guards");
    let recorder = recorder_on(d);
    let top_k = 3usize;
    let query = "rust";
    let mut outer = d.enter_span(
        "outer",
        &[Arg::new("query", &query), Arg::new("top_k", &top_k)],
    );
    let hits = outer.in_scope(|| {
        current_span().record("phase", "retrieval");
        d.in_span("inner", || {
            current_span().record("inner_only", true);
            vec!["a", "b"]
        })
    });
    outer.exit(Some(Arg::new("return", &hits)));

    let outer = recorder.one("outer");
    let inner = recorder.one("inner");
    assert_eq!(inner.parent, Some(outer.id));
    assert_eq!(outer.parent, None);
    assert_eq!(
        outer.args,
        [
            ("query".to_owned(), json!("rust")),
            ("top_k".to_owned(), json!(3))
        ]
    );
    assert_eq!(outer.result, Some(json!(["a", "b"])));
    assert_eq!(outer.metadata, [("phase".to_owned(), json!("retrieval"))]);
    assert_eq!(inner.metadata, [("inner_only".to_owned(), json!(true))]);
}

#[test]
fn by_id_calls_drive_spans_like_llamaindex() {
    let d = get_dispatcher("manual::by_id");
    let recorder = recorder_on(d);
    let parent = SpanId::new("Query.query");
    let child = SpanId::new("Retriever.retrieve");
    d.span_enter(parent, &[], None, Tags::from([("session", "s1")]))
        .unwrap();
    d.span_enter(child, &[], Some(parent), Tags::new()).unwrap();
    assert_eq!(
        d.span_enter(child, &[], None, Tags::new()),
        Err(SpanError::DuplicateSpan(child))
    );
    d.span_drop(child, &"retriever timed out").unwrap();
    d.span_exit(parent, None).unwrap();
    assert_eq!(
        d.span_exit(parent, None),
        Err(SpanError::UnknownSpan(parent))
    );

    let seen_child = recorder.one("Retriever.retrieve");
    assert_eq!(seen_child.parent, Some(parent));
    assert!(!seen_child.exited);
    assert_eq!(seen_child.error.as_deref(), Some("retriever timed out"));
    assert_eq!(
        recorder.one("Query.query").tags.get("session"),
        Some(&json!("s1"))
    );
}

#[test]
fn a_panic_in_scope_drops_the_span_with_the_message() {
    let d = get_dispatcher("manual::panic");
    let recorder = recorder_on(d);
    let result = std::panic::catch_unwind(|| d.in_span("boom", || panic!("kaput {}", 7)));
    assert!(result.is_err());
    let seen = recorder.one("boom");
    assert!(!seen.exited);
    assert_eq!(seen.error.as_deref(), Some("kaput 7"));
    assert_eq!(
        current_span().id(),
        None,
        "current span restored after the panic"
    );
    let drops: Vec<_> = recorder
        .events()
        .into_iter()
        .filter(|e| e.class_name == "SpanDropEvent")
        .collect();
    assert_eq!(drops.len(), 1);
    assert_eq!(drops[0].json["err_str"], "kaput 7");
    assert_eq!(drops[0].span_id, Some(seen.id));
}

/// A handler whose span type is large (boxed by the core) and another whose is a plain timestamp.
#[derive(Default)]
struct Big(Mutex<Vec<(String, [u64; 8])>>);
impl SpanHandler for Big {
    type Span = [u64; 8];
    fn new_span(&self, _: &SpanStart<'_>) -> Option<[u64; 8]> {
        Some([7; 8])
    }
    fn prepare_to_exit_span(&self, span: [u64; 8], end: &SpanEnd<'_>) {
        self.0.lock().unwrap().push((end.name().to_owned(), span));
    }
    fn prepare_to_drop_span(&self, span: [u64; 8], end: &SpanEnd<'_>) {
        self.prepare_to_exit_span(span, end);
    }
}

#[derive(Default)]
struct Timer(Mutex<Vec<Duration>>);
impl SpanHandler for Timer {
    type Span = std::time::Instant;
    fn new_span(&self, _: &SpanStart<'_>) -> Option<std::time::Instant> {
        Some(std::time::Instant::now())
    }
    fn prepare_to_exit_span(&self, started: std::time::Instant, end: &SpanEnd<'_>) {
        assert!(started.elapsed() >= end.duration() / 2);
        self.0.lock().unwrap().push(end.duration());
    }
    fn prepare_to_drop_span(&self, started: std::time::Instant, end: &SpanEnd<'_>) {
        self.prepare_to_exit_span(started, end);
    }
}

/// Follows only spans whose name starts with `keep`.
#[derive(Default)]
struct Picky(Mutex<Vec<String>>);
impl SpanHandler for Picky {
    type Span = ();
    fn new_span(&self, start: &SpanStart<'_>) -> Option<()> {
        start.name().starts_with("keep").then_some(())
    }
    fn prepare_to_exit_span(&self, (): (), end: &SpanEnd<'_>) {
        self.0.lock().unwrap().push(end.name().to_owned());
    }
    fn prepare_to_drop_span(&self, (): (), end: &SpanEnd<'_>) {
        self.prepare_to_exit_span((), end);
    }
}

#[test]
fn handlers_with_different_span_types_share_a_chain() {
    let d = get_dispatcher("manual::mixed");
    let timer = d.add_span_handler(Timer::default());
    let big = d.add_span_handler(Big::default());
    let picky = d.add_span_handler(Picky::default());
    let recorder = recorder_on(d);
    assert_eq!(d.span_handler_count(), 4);

    d.in_span("keep_me", || std::thread::sleep(Duration::from_millis(2)));
    d.in_span("skip_me", || ());

    assert_eq!(timer.0.lock().unwrap().len(), 2);
    assert!(timer.0.lock().unwrap()[0] >= Duration::from_millis(2));
    assert_eq!(big.0.lock().unwrap()[1], ("skip_me".to_owned(), [7; 8]));
    assert_eq!(*picky.0.lock().unwrap(), ["keep_me"]);
    assert_eq!(recorder.ended().len(), 2);
}
