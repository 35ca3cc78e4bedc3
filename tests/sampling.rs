//! Head sampling: a dispatcher given a ratio in the filter keeps that share of the traces that
//! start on it; spans under a kept span are kept and spans under a left-out span are left out, on
//! any dispatcher, thread or task; a caller's `sampled` flag decides for a trace it continues, and
//! the decision travels on in contexts and `traceparent`.
//!
//! The filter is process-wide, so this binary sets one filter for all its tests, once.

mod common;

use std::sync::Once;

use common::recorder_on;
use instrument::handlers::SimpleSpanHandler;
use instrument::{
    Context, TraceParent, current_span, extract_traceparent, get_dispatcher, inject_traceparent,
    set_filter, span,
};

fn filter() {
    static SET: Once = Once::new();
    SET.call_once(|| {
        set_filter(
            "tests::sampling::none=0.0, tests::sampling::half=0.5, tests::sampling::remote=0.5, \
             tests::sampling::carried=0.0, tests::sampling::kept=1.0",
        )
        .unwrap();
    });
}

#[test]
fn a_left_out_root_leaves_out_every_span_under_it_on_any_dispatcher() {
    filter();
    let sampled = get_dispatcher("tests::sampling::none");
    let other = get_dispatcher("tests::sampling_other"); // no sampler of its own
    let sampled_spans = sampled.add_span_handler(SimpleSpanHandler::default());
    let other_spans = other.add_span_handler(SimpleSpanHandler::default());
    let events = recorder_on(sampled);

    sampled.in_span("root", || {
        assert!(current_span().id().is_none(), "nothing to record into");
        other.in_span("child_elsewhere", || sampled.in_span("grandchild", || ()));
        sampled.event(instrument::SpanDropEvent {
            span_id: instrument::SpanId::new("marker"),
            err_str: "events are not sampled".into(),
        });
    });
    assert!(sampled_spans.completed().is_empty());
    assert!(
        other_spans.completed().is_empty(),
        "children follow their root"
    );
    assert_eq!(events.events().len(), 1, "events still flow");

    // A root on the other dispatcher is kept: it has no sampler.
    other.in_span("root_elsewhere", || ());
    assert_eq!(other_spans.completed().len(), 1);
}

#[test]
fn a_ratio_keeps_that_share_of_traces_and_each_trace_whole() {
    filter();
    let d = get_dispatcher("tests::sampling::half");
    let spans = d.add_span_handler(SimpleSpanHandler::with_capacity(100_000));
    let roots = 4_000;
    for _ in 0..roots {
        d.in_span("root", || {
            d.in_span("child", || ());
            d.in_span("child", || ());
        });
    }
    let kept = spans.completed();
    let kept_roots: Vec<_> = kept.iter().filter(|s| s.name == "root").collect();
    let children: Vec<_> = kept.iter().filter(|s| s.name == "child").collect();
    // 4,000 fair draws: the share is 0.5 within 0.05 (over six standard deviations).
    let share = kept_roots.len() as f64 / f64::from(roots);
    assert!((0.45..=0.55).contains(&share), "kept {share}");
    assert_eq!(children.len(), 2 * kept_roots.len(), "whole traces only");
    for child in children {
        assert!(
            kept_roots
                .iter()
                .any(|root| Some(root.id) == child.parent_id),
            "no child without its root"
        );
    }
}

#[test]
fn a_callers_sampled_flag_decides_for_the_trace_it_continues() {
    filter();
    let d = get_dispatcher("tests::sampling::remote");
    let spans = d.add_span_handler(SimpleSpanHandler::default());
    // Whatever the trace-id's hash says at 0.5, the caller's flag decides, both ways.
    for n in 0..32u32 {
        let trace = format!(
            "{:032x}",
            0x4bf9_2f35_77b3_4da6_u128 * 1_000 + u128::from(n)
        );
        let kept = extract_traceparent(&format!("00-{trace}-00f067aa0ba902b7-01"), None).unwrap();
        let dropped =
            extract_traceparent(&format!("00-{trace}-00f067aa0ba902b7-00"), None).unwrap();
        kept.scope(|| d.in_span("kept", || d.in_span("kept_child", || ())));
        let sent = dropped.scope(|| {
            d.in_span("dropped", || {
                d.in_span("dropped_child", || inject_traceparent(&Context::current()))
            })
        });
        // Passed on: the same trace, not sampled.
        let (header, _) = sent.expect("a context inside the left-out span");
        let header = TraceParent::parse(&header).unwrap();
        assert!(!header.sampled);
        assert_eq!(
            format!("{:032x}", u128::from_be_bytes(header.trace_id)),
            trace
        );
    }
    let names: Vec<_> = spans.completed().iter().map(|s| s.name).collect();
    assert_eq!(names.len(), 64);
    assert!(
        names.iter().all(|name| name.starts_with("kept")),
        "{names:?}"
    );
}

#[span(dispatcher = "tests::sampling::carried")]
async fn left_out_root() -> (bool, Option<(String, Option<String>)>) {
    let on_task = instrument::spawn(async {
        get_dispatcher("tests::sampling_carried_task").in_span("on_task", || ());
    });
    on_task.await.unwrap();
    let on_thread = instrument::thread::spawn(|| {
        get_dispatcher("tests::sampling_carried_task").in_span("on_thread", || ());
        current_span().id().is_none()
    })
    .join()
    .unwrap();
    (on_thread, inject_traceparent(&Context::current()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decision_travels_with_contexts_into_tasks_and_threads() {
    filter();
    let below = get_dispatcher("tests::sampling_carried_task");
    let spans = below.add_span_handler(SimpleSpanHandler::default());
    // The root's dispatcher records (one with no handler makes no span, and so no decision).
    let roots =
        get_dispatcher("tests::sampling::carried").add_span_handler(SimpleSpanHandler::default());
    let (nothing_current_on_thread, header) = left_out_root().await;
    assert!(nothing_current_on_thread);
    assert!(spans.completed().is_empty(), "{:?}", spans.completed());
    assert!(roots.completed().is_empty());
    // A root sampled out here still names its trace to the next service, as not sampled.
    let header = TraceParent::parse(&header.unwrap().0).unwrap();
    assert!(!header.sampled);
}

#[test]
fn a_dispatcher_at_ratio_one_keeps_everything_and_tells_callees_so() {
    filter();
    let d = get_dispatcher("tests::sampling::kept");
    let spans = d.add_span_handler(SimpleSpanHandler::default());
    let header = d.in_span("root", || inject_traceparent(&Context::current()));
    assert!(TraceParent::parse(&header.unwrap().0).unwrap().sampled);
    assert_eq!(spans.completed().len(), 1);
}

#[span(dispatcher = "tests::sampling::none")]
fn left_out_sync(query: &str, fail: bool) -> Option<(String, Option<String>)> {
    get_dispatcher("tests::sampling_sync_child").in_span("child", || ());
    assert!(!fail, "failing inside {query}");
    inject_traceparent(&Context::current())
}

#[test]
fn a_left_out_sync_function_marks_its_body_and_restores_what_was_current() {
    filter();
    get_dispatcher("tests::sampling::none").add_span_handler(SimpleSpanHandler::default());
    let child = get_dispatcher("tests::sampling_sync_child");
    let spans = child.add_span_handler(SimpleSpanHandler::default());

    let (header, _) = left_out_sync("q", false).expect("a header from inside");
    assert!(!TraceParent::parse(&header).unwrap().sampled);
    assert!(std::panic::catch_unwind(|| left_out_sync("q", true)).is_err());
    assert!(spans.completed().is_empty(), "children of left-out roots");

    // Outside again, on return and after a panic: nothing is marked, spans record.
    assert!(Context::current().span_id().is_none());
    child.in_span("after", || ());
    assert_eq!(spans.completed().len(), 1);
}
