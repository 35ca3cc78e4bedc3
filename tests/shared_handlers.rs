//! Handlers added per request (`add_shared_span_handler`, `add_shared_event_handler`): they see
//! what happens while registered, are released once removed and their spans have ended, and
//! adding and removing them keeps nothing: a child process runs add/remove cycles under concurrent
//! spans (100,000 here; `INSTRUMENT_CHURN_CYCLES=1000000` for a million) and its resident memory
//! stays flat.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use instrument::events::LLMCompletionEndEvent;
use instrument::handlers::TokenCountingHandler;
use instrument::llm::CompletionResponse;
use instrument::{SpanEnd, SpanHandler, SpanStart, get_dispatcher};

#[path = "support/child_process.rs"]
mod child_process;
use child_process::{field, rss_kib, run_child};

/// Counts starts and ends, and notes when it is dropped.
#[derive(Default)]
struct Balance {
    started: AtomicUsize,
    ended: AtomicUsize,
    dropped: Option<Arc<AtomicBool>>,
}

impl SpanHandler for Balance {
    type Span = ();
    fn new_span(&self, _: &SpanStart<'_>) -> Option<()> {
        self.started.fetch_add(1, Ordering::Relaxed);
        Some(())
    }
    fn prepare_to_exit_span(&self, _: (), _: &SpanEnd<'_>) {
        self.ended.fetch_add(1, Ordering::Relaxed);
    }
    fn prepare_to_drop_span(&self, _: (), _: &SpanEnd<'_>) {
        self.ended.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Balance {
    fn drop(&mut self) {
        if let Some(dropped) = &self.dropped {
            dropped.store(true, Ordering::SeqCst);
        }
    }
}

fn completion(prompt: &str, text: &str, prompt_tokens: u64) -> LLMCompletionEndEvent {
    LLMCompletionEndEvent {
        prompt: prompt.into(),
        response: CompletionResponse {
            raw: Some(serde_json::json!({
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1}
            })),
            ..CompletionResponse::new(text)
        },
    }
}

#[test]
fn a_token_counter_per_request_counts_its_request_only() {
    let d = get_dispatcher("shared_requests");
    let first = Arc::new(TokenCountingHandler::new());
    d.add_shared_event_handler(Arc::clone(&first));
    d.in_span("request_1", || d.event(completion("a", "b", 10)));
    assert!(d.remove_event_handler(&*first));

    let second = Arc::new(TokenCountingHandler::new());
    d.add_shared_event_handler(Arc::clone(&second));
    d.in_span("request_2", || d.event(completion("c", "d", 20)));
    assert!(d.remove_event_handler(&*second));
    d.event(completion("e", "f", 40)); // after both were removed

    assert_eq!(first.prompt_llm_token_count(), 10);
    assert_eq!(second.prompt_llm_token_count(), 20);
    assert_eq!(Arc::strong_count(&first), 1, "released by the dispatcher");
    assert_eq!(Arc::strong_count(&second), 1);
    assert!(!d.remove_event_handler(&*first), "already removed");
}

#[test]
fn a_removed_handler_is_released_when_its_last_span_ends() {
    let d = get_dispatcher("shared_release");
    let dropped = Arc::new(AtomicBool::new(false));
    let handler = Arc::new(Balance {
        started: AtomicUsize::new(0),
        ended: AtomicUsize::new(0),
        dropped: Some(Arc::clone(&dropped)),
    });
    d.add_shared_span_handler(Arc::clone(&handler));
    assert_eq!(d.span_handler_count(), 1);
    let open = d.enter_span("long_call", &[]);
    assert!(d.remove_span_handler(&*handler));
    assert_eq!(d.span_handler_count(), 0);
    d.in_span("after_removal", || ());
    let weak = Arc::downgrade(&handler);
    drop(handler);
    // The open span still holds it: it ends on the handler that started it.
    assert!(!dropped.load(Ordering::SeqCst));
    open.exit(None);
    assert!(
        dropped.load(Ordering::SeqCst),
        "released with its last span"
    );
    assert!(weak.upgrade().is_none());
}

#[test]
fn shared_handlers_reach_the_spans_and_events_of_the_dispatchers_below() {
    let parent = get_dispatcher("shared_tree");
    let child = get_dispatcher("shared_tree::child");
    let spans = Arc::new(Balance::default());
    let tokens = Arc::new(TokenCountingHandler::new());
    parent.add_shared_span_handler(Arc::clone(&spans));
    parent.add_shared_event_handler(Arc::clone(&tokens));
    child.in_span("step", || child.event(completion("x", "y", 7)));
    // A failed span's drop event reaches shared event handlers too.
    child.enter_span("failed", &[]).drop_with(&"bad");
    assert_eq!(spans.started.load(Ordering::Relaxed), 2);
    assert_eq!(spans.ended.load(Ordering::Relaxed), 2);
    assert_eq!(tokens.prompt_llm_token_count(), 7);
    parent.remove_span_handler(&*spans);
    parent.remove_event_handler(&*tokens);
    assert!(!child.is_enabled());
}

#[test]
fn handlers_come_and_go_under_concurrent_spans_and_every_span_ends_where_it_started() {
    let d = get_dispatcher("shared_concurrent");
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(3));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (stop, barrier) = (Arc::clone(&stop), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let mut spans = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    d.in_span("work", || d.in_span("inner", || ()));
                    spans += 1;
                }
                spans
            })
        })
        .collect();
    barrier.wait();
    let mut handlers = Vec::new();
    for _ in 0..2_000 {
        let handler = Arc::new(Balance::default());
        d.add_shared_span_handler(Arc::clone(&handler));
        std::thread::yield_now();
        assert!(d.remove_span_handler(&*handler));
        handlers.push(handler);
    }
    stop.store(true, Ordering::Relaxed);
    let spans: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(spans > 0);
    for handler in &handlers {
        assert_eq!(
            handler.started.load(Ordering::Relaxed),
            handler.ended.load(Ordering::Relaxed)
        );
        assert_eq!(Arc::strong_count(handler), 1);
    }
    let seen: usize = handlers
        .iter()
        .map(|h| h.started.load(Ordering::Relaxed))
        .sum();
    assert!(seen > 0, "some spans ran while a handler was registered");
}

const CHURN_CHILD: &str = "INSTRUMENT_CHURN_CHILD";

/// The child's work: `INSTRUMENT_CHURN_CYCLES` add/remove cycles of a shared span handler and a
/// shared token counter under two threads of spans; prints the resident memory after a tenth of
/// the cycles and at the end.
#[test]
fn churn_child() {
    let Ok(cycles) = std::env::var(CHURN_CHILD) else {
        return; // only in the child process
    };
    let cycles: usize = cycles.parse().unwrap();
    let d = get_dispatcher("shared_churn");
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    d.in_span("work", || d.event(completion("p", "c", 1)));
                }
            })
        })
        .collect();
    let started = std::time::Instant::now();
    let mut warm = 0;
    for cycle in 0..cycles {
        if cycle == cycles / 10 {
            warm = rss_kib();
        }
        let spans = Arc::new(Balance::default());
        let tokens = Arc::new(TokenCountingHandler::new());
        d.add_shared_span_handler(Arc::clone(&spans));
        d.add_shared_event_handler(Arc::clone(&tokens));
        d.remove_span_handler(&*spans);
        d.remove_event_handler(&*tokens);
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    println!(
        "churn cycles={cycles} rss_warm_kib={warm} rss_end_kib={} seconds={:.2}",
        rss_kib(),
        elapsed.as_secs_f64()
    );
}

#[test]
fn adding_and_removing_handlers_keeps_memory_flat() {
    if std::env::var(CHURN_CHILD).is_ok() {
        return;
    }
    let cycles = std::env::var("INSTRUMENT_CHURN_CYCLES").unwrap_or_else(|_| "100000".into());
    let line = run_child("churn_child", CHURN_CHILD, &cycles, "churn cycles=");
    println!("{line}");
    let (warm, end) = (field(&line, "rss_warm_kib"), field(&line, "rss_end_kib"));
    // Nine tenths of the cycles after the first reading: anything kept per cycle would show as
    // megabytes (a leaked handler is over 100 bytes).
    assert!(
        end <= warm + 4096.0,
        "resident memory grew from {warm} KiB to {end} KiB: {line}"
    );
}
