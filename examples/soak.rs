//! Memory under load: 10 million spans (with arguments, nested, on two threads) through a
//! `SimpleSpanHandler` with its default capacity, then one million futures cancelled mid-span.
//!
//! Run with `cargo run --release --example soak`. It prints peak RSS after 1M and after 10M spans
//! (they must be within 10% of each other: storage is bounded), and, for the cancelled futures, the
//! open spans left (must be 0) and RSS before and after (must stay flat). It exits non-zero when a
//! check fails.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};

use instrument::handlers::SimpleSpanHandler;
use instrument::{get_dispatcher, open_span_count, span};

#[span(dispatcher = "soak")]
fn lookup(query: &str, top_k: usize) -> usize {
    score(top_k) + score(top_k + query.len())
}

#[span(dispatcher = "soak")]
fn score(k: usize) -> usize {
    std::hint::black_box(k) + 1
}

#[span(dispatcher = "soak")]
async fn stalled(request: usize) -> usize {
    std::future::pending::<()>().await;
    request
}

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| {
            line.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Makes 10M spans (three per `lookup` call) on two long-lived threads; `at_1m` runs when the first
/// million are done and both threads wait.
fn ten_million_spans(at_1m: impl FnOnce()) {
    let barrier = std::sync::Barrier::new(3);
    std::thread::scope(|scope| {
        for thread in 0..2 {
            let barrier = &barrier;
            scope.spawn(move || {
                let calls = |spans: usize| {
                    for i in 0..spans / 3 {
                        std::hint::black_box(lookup("what is a span", i % 8 + thread));
                    }
                };
                calls(500_000);
                barrier.wait();
                barrier.wait();
                calls(4_500_000);
            });
        }
        barrier.wait();
        at_1m();
        barrier.wait();
    });
}

/// Starts `count` spans in futures and drops each future before it completes.
fn cancel_futures(count: usize) {
    let mut cx = Context::from_waker(Waker::noop());
    for request in 0..count {
        let mut future = pin!(stalled(request));
        assert!(future.as_mut().poll(&mut cx).is_pending());
        // Dropped here, mid-span.
    }
}

fn main() {
    let spans = get_dispatcher("soak").add_span_handler(SimpleSpanHandler::default());
    let mut ok = true;

    let mut peak_1m = 0;
    ten_million_spans(|| peak_1m = status_kib("VmHWM:"));
    let peak_10m = status_kib("VmHWM:");
    let growth = peak_10m as f64 / peak_1m as f64 - 1.0;
    println!("peak RSS after  1M spans: {peak_1m} KiB");
    println!(
        "peak RSS after 10M spans: {peak_10m} KiB ({:+.1}%)",
        growth * 100.0
    );
    println!(
        "kept {} spans (capacity {}), evicted {}",
        spans.len(),
        spans.capacity(),
        spans.evicted()
    );
    ok &= growth.abs() <= 0.10;

    // The first 100k fill the handler with dropped spans (each keeps its error text); after that,
    // memory must stay flat however many more are cancelled.
    cancel_futures(100_000);
    let rss_100k = status_kib("VmRSS:");
    cancel_futures(900_000);
    let rss_1m = status_kib("VmRSS:");
    let open = open_span_count();
    println!("1M futures cancelled mid-span: {open} spans left open");
    println!("RSS after 100k cancelled: {rss_100k} KiB, after 1M: {rss_1m} KiB");
    ok &= open == 0;
    ok &= rss_1m <= rss_100k + rss_100k / 10;

    if ok {
        println!("ok");
    } else {
        println!("FAILED");
        std::process::exit(1);
    }
}
