//! `SimpleSpanHandler` through instrument-core's manual API: what it records, its bounds, and the
//! trace trees it prints. Each test has its own dispatcher, since tests share one process.

use std::collections::HashSet;
use std::sync::Barrier;

use instrument_core::{SpanId, Tags, current_span, get_dispatcher};
use instrument_handlers::{SimpleSpan, SimpleSpanHandler, format_span_trees};
use serde_json::json;

fn find<'a>(spans: &'a [SimpleSpan], name: &str) -> &'a SimpleSpan {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name} in {spans:#?}"))
}

fn line(span: &SimpleSpan) -> String {
    format!("{} ({:.6})", span.id, span.duration)
}

#[test]
fn records_ids_parents_names_and_times() {
    let d = get_dispatcher("handlers_simple::records");
    let h = d.add_span_handler(SimpleSpanHandler::default());

    d.in_span("outer", || {
        d.in_span("inner", || ());
        let mut guard = d.enter_span("guarded", &[]);
        guard.in_scope(|| ());
        guard.exit(None);
    });

    let spans = h.completed();
    assert_eq!(spans.len(), 3);
    let outer = find(&spans, "outer");
    let inner = find(&spans, "inner");
    let guarded = find(&spans, "guarded");
    assert_eq!(outer.parent_id, None);
    assert_eq!(inner.parent_id, Some(outer.id));
    assert_eq!(guarded.parent_id, Some(outer.id));
    assert_eq!(inner.id.name(), "inner");
    assert!(outer.id.to_string().starts_with("outer-"));
    assert_eq!(spans[0].id, outer.id, "ordered by start time");
    for span in &spans {
        assert!(span.duration >= 0.0);
        assert!(span.end_time >= span.start_time);
        assert!(!span.dropped);
        assert_eq!(span.error(), None);
        assert!((span.elapsed().as_secs_f64() - span.duration).abs() < 1e-6);
    }
    assert!(outer.start_time <= inner.start_time && inner.end_time <= outer.end_time);
}

#[test]
fn by_id_spans_keep_explicit_parents() {
    let d = get_dispatcher("handlers_simple::by_id");
    let h = d.add_span_handler(SimpleSpanHandler::default());

    let parent = SpanId::new("parent");
    let child = SpanId::new("child");
    d.span_enter(parent, &[], None, Tags::new()).unwrap();
    d.span_enter(child, &[], Some(parent), Tags::new()).unwrap();
    d.span_exit(child, None).unwrap();
    d.span_exit(parent, None).unwrap();

    let spans = h.completed();
    assert_eq!(spans.len(), 2);
    assert_eq!(find(&spans, "parent").id, parent);
    assert_eq!(find(&spans, "child").id, child);
    assert_eq!(find(&spans, "child").parent_id, Some(parent));
    assert_eq!(find(&spans, "parent").parent_id, None);
}

#[test]
fn metadata_and_drop_errors_are_kept() {
    let d = get_dispatcher("handlers_simple::metadata");
    let h = d.add_span_handler(SimpleSpanHandler::default());

    d.in_span("recorded", || {
        current_span().record("model", "gpt");
        current_span().record("tokens", 42);
    });
    let failed = SpanId::new("failed");
    d.span_enter(failed, &[], None, Tags::new()).unwrap();
    d.span_drop(failed, &"rate limited").unwrap();

    let spans = h.completed();
    let recorded = find(&spans, "recorded");
    assert_eq!(recorded.metadata.get("model"), Some(&json!("gpt")));
    assert_eq!(recorded.metadata.get("tokens"), Some(&json!(42)));
    assert!(!recorded.metadata.contains_key("error"));
    assert!(!recorded.dropped);

    let dropped = find(&spans, "failed");
    assert!(dropped.dropped);
    assert_eq!(dropped.metadata.get("error"), Some(&json!("rate limited")));
    assert_eq!(dropped.error(), Some("rate limited"));

    let only_dropped = h.dropped_spans();
    assert_eq!(only_dropped.len(), 1);
    assert_eq!(only_dropped[0].id, failed);
}

#[test]
fn panics_drop_the_span_with_their_message() {
    let d = get_dispatcher("handlers_simple::panic");
    let h = d.add_span_handler(SimpleSpanHandler::default());

    let result = std::panic::catch_unwind(|| d.in_span("boom", || panic!("kaboom")));
    assert!(result.is_err());

    let dropped = h.dropped_spans();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].metadata.get("error"), Some(&json!("kaboom")));
}

#[test]
fn capacity_evicts_the_oldest_completed() {
    let d = get_dispatcher("handlers_simple::capacity");
    let h = d.add_span_handler(SimpleSpanHandler::with_capacity(3));
    assert_eq!(h.capacity(), 3);

    let ids: Vec<SpanId> = (0..5)
        .map(|_| {
            let id = SpanId::new("step");
            d.span_enter(id, &[], None, Tags::new()).unwrap();
            d.span_exit(id, None).unwrap();
            id
        })
        .collect();

    let kept: Vec<SpanId> = h.completed().iter().map(|s| s.id).collect();
    assert_eq!(kept, ids[2..]);
    assert_eq!(h.evicted(), 2);
    assert_eq!(h.len(), 3);

    // A long-lived span that ends last is newest by completion, though it started first.
    let early = SpanId::new("early");
    d.span_enter(early, &[], None, Tags::new()).unwrap();
    let late = SpanId::new("late");
    d.span_enter(late, &[], None, Tags::new()).unwrap();
    d.span_exit(late, None).unwrap();
    d.span_exit(early, None).unwrap();
    let kept: Vec<SpanId> = h.completed().iter().map(|s| s.id).collect();
    assert_eq!(kept, [ids[4], early, late]);
    assert_eq!(h.evicted(), 4);
}

#[test]
fn drain_takes_everything() {
    let d = get_dispatcher("handlers_simple::drain");
    let h = d.add_span_handler(SimpleSpanHandler::default());

    d.in_span("a", || d.in_span("b", || ()));
    let drained = h.drain();
    assert_eq!(drained.len(), 2);
    assert_eq!(drained[0].name, "a");
    assert!(h.completed().is_empty());
    assert!(h.is_empty());
    assert!(h.drain().is_empty());

    d.in_span("c", || ());
    assert_eq!(h.drain().len(), 1);
    h.clear();
    assert!(h.is_empty());
}

#[test]
fn trace_tree_text_is_exact() {
    let d = get_dispatcher("handlers_simple::tree");
    let h = d.add_span_handler(SimpleSpanHandler::default());

    d.in_span("query", || {
        d.in_span("retrieve", || {
            d.in_span("embed", || ());
            d.in_span("search", || ());
        });
        d.in_span("synthesize", || d.in_span("llm", || ()));
    });
    d.in_span("second", || ());

    let spans = h.completed();
    let [query, retrieve, embed, search, synthesize, llm, second] = [
        "query",
        "retrieve",
        "embed",
        "search",
        "synthesize",
        "llm",
        "second",
    ]
    .map(|name| line(find(&spans, name)));
    let expected = format!(
        "{query}\n\
         ├── {retrieve}\n\
         │   ├── {embed}\n\
         │   └── {search}\n\
         └── {synthesize}\n\
         \x20   └── {llm}\n\
         \n\
         {second}\n\
         \n"
    );
    assert_eq!(h.format_trace_trees(), expected);
    assert_eq!(format_span_trees(&spans), expected);
    h.print_trace_trees();
}

#[test]
fn missing_parent_gets_a_placeholder_root() {
    let d = get_dispatcher("handlers_simple::missing");
    let h = d.add_span_handler(SimpleSpanHandler::default());

    let ghost = SpanId::new("ghost");
    let first = SpanId::new("orphan");
    let second = SpanId::new("orphan");
    for id in [first, second] {
        d.span_enter(id, &[], Some(ghost), Tags::new()).unwrap();
        d.span_exit(id, None).unwrap();
    }

    let spans = h.completed();
    let [a, b] = [first, second].map(|id| line(spans.iter().find(|s| s.id == id).unwrap()));
    let text = h.format_trace_trees();
    assert_eq!(text, format!("{ghost}-MISSING\n├── {a}\n└── {b}\n\n"));
    assert!(text.starts_with("ghost-"));
}

#[test]
fn two_threads_lose_nothing() {
    const PER_THREAD: usize = 5_000;
    let d = get_dispatcher("handlers_simple::threads");
    let h = d.add_span_handler(SimpleSpanHandler::default());
    let barrier = Barrier::new(2);

    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                barrier.wait();
                for _ in 0..PER_THREAD {
                    d.in_span("work", || d.in_span("leaf", || ()));
                }
            });
        }
    });

    let spans = h.completed();
    assert_eq!(spans.len(), 4 * PER_THREAD);
    assert_eq!(h.evicted(), 0);
    let ids: HashSet<SpanId> = spans.iter().map(|s| s.id).collect();
    assert_eq!(ids.len(), spans.len());
    for leaf in spans.iter().filter(|s| s.name == "leaf") {
        assert!(ids.contains(&leaf.parent_id.unwrap()));
    }
    assert!(spans.windows(2).all(|w| w[0].start_time <= w[1].start_time));
}

#[test]
fn two_threads_over_capacity_keep_exactly_capacity() {
    let d = get_dispatcher("handlers_simple::threads_capacity");
    let h = d.add_span_handler(SimpleSpanHandler::with_capacity(100));

    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for _ in 0..1_000 {
                    d.in_span("work", || ());
                }
            });
        }
    });

    assert_eq!(h.completed().len(), 100);
    assert_eq!(h.evicted(), 1_900);
}
