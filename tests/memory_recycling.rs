//! Handlers give their storage back for reuse when drained or cleared: on a long-running server
//! that drains a `SimpleSpanHandler` now and then, the resident memory stays at the first fill's.

use instrument::get_dispatcher;
use instrument::handlers::SimpleSpanHandler;

#[path = "support/child_process.rs"]
mod child_process;
use child_process::{field, rss_kib, run_child};

const DRAIN_CHILD: &str = "INSTRUMENT_DRAIN_CHILD";

/// The child's work: rounds of spans from two threads filling a handler, each round drained by
/// the main thread; prints the resident memory after the first round and after the last.
#[test]
fn drain_child() {
    let Ok(rounds) = std::env::var(DRAIN_CHILD) else {
        return; // only in the child process
    };
    let rounds: usize = rounds.parse().unwrap();
    let d = get_dispatcher("recycle_drain");
    let spans = d.add_span_handler(SimpleSpanHandler::with_capacity(50_000));
    let mut first = 0;
    for round in 0..rounds {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        d.in_span("work", || instrument::current_span().record("i", i));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(spans.drain().len(), 40_000);
        if round == 0 {
            first = rss_kib();
        }
    }
    println!(
        "drain rounds={rounds} rss_first_kib={first} rss_end_kib={}",
        rss_kib()
    );
}

#[test]
fn draining_and_refilling_keeps_memory_at_the_first_fill() {
    if std::env::var(DRAIN_CHILD).is_ok() {
        return;
    }
    let line = run_child("drain_child", DRAIN_CHILD, "20", "drain rounds=");
    println!("{line}");
    let (first, end) = (field(&line, "rss_first_kib"), field(&line, "rss_end_kib"));
    assert!(
        end <= first + 4096.0,
        "resident memory grew from {first} KiB to {end} KiB over the rounds: {line}"
    );
}
