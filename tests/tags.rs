//! Tags: scoped, replaced not merged, per thread and per task.

mod common;

use common::recorder_on;
use instrument::{Tags, current_tags, get_dispatcher, instrument_tags, instrument_tags_async};
use serde_json::json;

#[test]
fn spans_and_events_carry_the_tags_of_their_scope() {
    let d = get_dispatcher("tags::scope");
    let recorder = recorder_on(d);
    instrument_tags(Tags::from([("user", "ada"), ("tier", "pro")]), || {
        d.in_span("tagged", || {
            d.event(instrument::SpanDropEvent {
                span_id: instrument::SpanId::new("e"),
                err_str: String::new(),
            })
        });
        instrument_tags(Tags::from([("tier", "free")]), || d.in_span("inner", || ()));
    });
    d.in_span("untagged", || ());

    let tagged = recorder.one("tagged");
    assert_eq!(tagged.tags, Tags::from([("user", "ada"), ("tier", "pro")]));
    assert_eq!(recorder.events()[0].tags, tagged.tags);
    assert_eq!(
        recorder.one("inner").tags,
        Tags::from([("tier", "free")]),
        "replaced, not merged"
    );
    assert!(
        recorder.one("untagged").tags.is_empty(),
        "restored after the scope"
    );
}

#[test]
fn each_thread_sees_only_its_own_tags() {
    instrument_tags(Tags::from([("thread", "main")]), || {
        let other = std::thread::spawn(current_tags).join().unwrap();
        assert!(other.is_empty(), "a plain thread does not inherit tags");
        let carried = instrument::thread::spawn(current_tags).join().unwrap();
        assert_eq!(
            carried.get("thread"),
            Some(&json!("main")),
            "instrument::thread::spawn carries them"
        );
    });
}

#[test]
fn tags_survive_a_panic_in_the_scope() {
    let result = std::panic::catch_unwind(|| {
        instrument_tags(Tags::from([("k", "v")]), || panic!("boom"));
    });
    assert!(result.is_err());
    assert!(current_tags().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_task_sees_only_its_own_tags_across_awaits_and_threads() {
    let mut tasks = Vec::new();
    for i in 0..8 {
        tasks.push(tokio::spawn(instrument_tags_async(
            Tags::from([("task", i)]),
            async move {
                for _ in 0..5 {
                    tokio::task::yield_now().await;
                    assert_eq!(current_tags().get("task"), Some(&json!(i)));
                }
                i
            },
        )));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap(), i);
    }
    assert!(current_tags().is_empty());
}
