//! The headline ratios, measured in one process with the cases interleaved so that they share the
//! machine's state: `cargo bench --bench ratios`.
//!
//! Prints one `ratio <name> <value>` line per ratio, then the raw medians (ns per call, or per span for
//! the throughput cases). Each sample runs a case for about `SAMPLE_MS`; cases take turns, `ROUNDS`
//! times, and each case's median sample is used.

mod cases;

use std::hint::black_box;
use std::time::{Duration, Instant};

use cases::*;
use instrument::get_dispatcher;

const ROUNDS: usize = 21;
const SAMPLE_MS: u64 = 15;

/// A case: runs `iters` calls and returns the time taken.
type Case<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

fn timed(iters: u64, mut f: impl FnMut(u64)) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        f(i);
    }
    start.elapsed()
}

fn main() {
    setup_instrument();
    setup_fastrace();
    let timing = tracing_timing();
    let noop_layer = tracing_noop();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let runtime = &runtime;
    let workers = Workers::new(2);
    let workers = &workers;

    let mut cases: Vec<(&str, Case<'_>)> = vec![
        (
            "plain",
            Box::new(|n| {
                timed(n, |i| {
                    black_box(plain(i));
                })
            }),
        ),
        (
            "ours_idle",
            Box::new(|n| {
                timed(n, |i| {
                    black_box(ours_idle(i));
                })
            }),
        ),
        (
            "ours_recorded",
            Box::new(|n| {
                timed(n, |i| {
                    black_box(ours_simple(i));
                })
            }),
        ),
        (
            "fastrace_child",
            Box::new(|n| {
                fastrace_batches(n, |i| {
                    black_box(fastrace_span(i));
                })
            }),
        ),
        (
            "tracing_timing",
            Box::new({
                let timing = timing.clone();
                move |n| {
                    tracing::dispatcher::with_default(&timing, || {
                        timed(n, |i| {
                            black_box(tracing_span(i));
                        })
                    })
                }
            }),
        ),
        (
            "ours_nested4",
            Box::new(|n| {
                timed(n, |i| {
                    black_box(ours_simple_nested(4, i));
                })
            }),
        ),
        (
            "fastrace_nested4",
            Box::new(|n| {
                fastrace_batches(n, |i| {
                    black_box(fastrace_nested(4, i));
                })
            }),
        ),
        (
            "ours_forwarded",
            Box::new({
                let timing = timing.clone();
                move |n| {
                    tracing::dispatcher::with_default(&timing, || {
                        timed(n, |i| {
                            black_box(ours_forwarded("what is rust", i as usize));
                        })
                    })
                }
            }),
        ),
        (
            "tracing_args",
            Box::new({
                let timing = timing.clone();
                move |n| {
                    tracing::dispatcher::with_default(&timing, || {
                        timed(n, |i| {
                            black_box(tracing_args(black_box("what is rust"), i as usize));
                        })
                    })
                }
            }),
        ),
        (
            "ours_shaped",
            Box::new(|n| {
                timed(n, |i| {
                    black_box(ours_shaped(black_box("what is rust"), i as usize));
                })
            }),
        ),
        (
            "plain_shaped",
            Box::new(|n| {
                timed(n, |i| {
                    black_box(plain_shaped(black_box("what is rust"), i as usize));
                })
            }),
        ),
        (
            "floor_shaped",
            Box::new(|n| {
                timed(n, |i| {
                    black_box(floor_shaped(black_box("what is rust"), i as usize));
                })
            }),
        ),
        (
            "ours_shaped_idle",
            Box::new(|n| {
                timed(n, |i| {
                    black_box(ours_shaped_idle(black_box("what is rust"), i as usize));
                })
            }),
        ),
        (
            "ours_sampled_root",
            Box::new(|n| {
                timed(n, |i| {
                    black_box(ours_sampled(black_box("what is rust"), i as usize));
                })
            }),
        ),
        (
            "ours_sampled_child",
            Box::new(|n| {
                // One left-out root around the timed loop: every call is a child left out.
                get_dispatcher(SAMPLED).in_span("left_out_root", || {
                    timed(n, |i| {
                        black_box(ours_sampled(black_box("what is rust"), i as usize));
                    })
                })
            }),
        ),
        (
            "fastrace_shaped",
            Box::new(|n| {
                fastrace_batches(n, |i| {
                    black_box(fastrace_shaped(black_box("what is rust"), i as usize));
                })
            }),
        ),
        (
            "ours_shaped_nested4",
            Box::new(|n| {
                timed(n, |_| {
                    black_box(ours_shaped_nested(black_box("what is rust"), 4));
                })
            }),
        ),
        (
            "fastrace_shaped_nested4",
            Box::new(|n| {
                fastrace_batches(n, |_| {
                    black_box(fastrace_shaped_nested(black_box("what is rust"), 4));
                })
            }),
        ),
        (
            "ours_shaped_async",
            Box::new(move |n| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for i in 0..n {
                        black_box(ours_shaped_async("what is rust", i as usize).await);
                    }
                    start.elapsed()
                })
            }),
        ),
        (
            "tracing_shaped_async",
            Box::new({
                let timing = timing.clone();
                move |n| {
                    tracing::dispatcher::with_default(&timing, || {
                        runtime.block_on(async {
                            let start = Instant::now();
                            for i in 0..n {
                                black_box(tracing_shaped_async("what is rust", i as usize).await);
                            }
                            start.elapsed()
                        })
                    })
                }
            }),
        ),
        ("ours_event", Box::new(|n| timed(n, ours_event))),
        (
            "tracing_event",
            Box::new(move |n| {
                tracing::dispatcher::with_default(&noop_layer, || timed(n, tracing_event))
            }),
        ),
        ("plain_1_thread", Box::new(|n| workers.run(1, n, plain))),
        ("plain_2_threads", Box::new(|n| workers.run(2, n, plain))),
        (
            "fastrace_1_thread",
            Box::new(|n| flushed(workers.run(1, n, fastrace_rooted))),
        ),
        (
            "fastrace_2_threads",
            Box::new(|n| flushed(workers.run(2, n, fastrace_rooted))),
        ),
        (
            "ours_1_thread",
            Box::new(|n| workers.run(1, n, ours_simple)),
        ),
        (
            "ours_2_threads",
            Box::new(|n| workers.run(2, n, ours_simple)),
        ),
        (
            "ours_async",
            Box::new(move |n| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for i in 0..n {
                        black_box(ours_async(i).await);
                    }
                    start.elapsed()
                })
            }),
        ),
        (
            "tracing_async",
            Box::new(move |n| {
                tracing::dispatcher::with_default(&timing, || {
                    runtime.block_on(async {
                        let start = Instant::now();
                        for i in 0..n {
                            black_box(tracing_async(i).await);
                        }
                        start.elapsed()
                    })
                })
            }),
        ),
    ];

    // `INSTRUMENT_PROFILE=<case>` runs one case for a few seconds and stops: for `perf record`.
    if let Ok(only) = std::env::var("INSTRUMENT_PROFILE") {
        let (_, case) = cases
            .iter_mut()
            .find(|(name, _)| *name == only)
            .expect("no such case");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(4) {
            case(100_000);
        }
        return;
    }

    // Calibrate: iterations per sample so that one sample takes about SAMPLE_MS.
    let mut iters = Vec::new();
    for (_, case) in &mut cases {
        let mut n = 1_000u64;
        loop {
            let took = case(n);
            if took >= Duration::from_millis(SAMPLE_MS) / 4 || n >= 1 << 30 {
                let per = took.as_nanos() as f64 / n as f64;
                iters.push(((SAMPLE_MS as f64 * 1e6 / per) as u64).max(1_000));
                break;
            }
            n *= 4;
        }
    }

    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for _ in 0..ROUNDS {
        for (index, (_, case)) in cases.iter_mut().enumerate() {
            let n = iters[index];
            samples[index].push(case(n).as_nanos() as f64 / n as f64);
        }
    }

    let median = |name: &str| -> f64 {
        let index = cases.iter().position(|(n, _)| *n == name).unwrap();
        let mut s = samples[index].clone();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    };

    let one = median("ours_1_thread");
    let two = median("ours_2_threads");
    let ratios = [
        ("idle_vs_plain_ns", median("ours_idle") - median("plain")),
        (
            "shaped_idle_vs_plain_ns",
            median("ours_shaped_idle") - median("plain_shaped"),
        ),
        (
            "sampled_root_vs_plain_ns",
            median("ours_sampled_root") - median("plain_shaped"),
        ),
        (
            "sampled_child_vs_plain_ns",
            median("ours_sampled_child") - median("plain_shaped"),
        ),
        (
            "recorded_vs_fastrace",
            median("ours_recorded") / median("fastrace_child"),
        ),
        (
            "recorded_vs_tracing",
            median("ours_recorded") / median("tracing_timing"),
        ),
        (
            "nested4_vs_fastrace",
            median("ours_nested4") / median("fastrace_nested4"),
        ),
        // `TracingForwarder` under the same layer as tracing's own `#[instrument]`: the cost of
        // our span plus the `tracing` span it makes and enters, against the `tracing` span alone.
        (
            "forwarded_vs_tracing",
            median("ours_forwarded") / median("tracing_args"),
        ),
        // The shape users write: `(&str, usize) -> usize`, alone, nested four deep, and async
        // with one yield.
        (
            "shaped_vs_fastrace",
            median("ours_shaped") / median("fastrace_shaped"),
        ),
        // What no tracer can go below (two clock reads and a record), against fastrace: a
        // recorded span's ratio to fastrace cannot be smaller than this.
        (
            "floor_vs_fastrace",
            median("floor_shaped") / median("fastrace_shaped"),
        ),
        (
            "shaped_vs_tracing",
            median("ours_shaped") / median("tracing_args"),
        ),
        (
            "shaped_nested4_vs_fastrace",
            median("ours_shaped_nested4") / median("fastrace_shaped_nested4"),
        ),
        (
            "shaped_async_vs_tracing",
            median("ours_shaped_async") / median("tracing_shaped_async"),
        ),
        (
            "event_vs_tracing",
            median("ours_event") / median("tracing_event"),
        ),
        // Throughput: two threads do twice the spans in the measured time.
        ("two_threads_speedup", 2.0 * one / two),
        (
            "async_vs_tracing",
            median("ours_async") / median("tracing_async"),
        ),
    ];
    let reference = [
        (
            "plain_two_threads_speedup",
            2.0 * median("plain_1_thread") / median("plain_2_threads"),
        ),
        (
            "fastrace_two_threads_speedup",
            2.0 * median("fastrace_1_thread") / median("fastrace_2_threads"),
        ),
    ];
    for (name, value) in ratios.into_iter().chain(reference) {
        println!("ratio {name} {value:.3}");
    }
    println!();
    println!(
        "{:<20} {:>10} {:>10} {:>10}",
        "case", "median ns", "min ns", "max ns"
    );
    for (index, (name, _)) in cases.iter().enumerate() {
        let s = &samples[index];
        let min = s.iter().copied().fold(f64::INFINITY, f64::min);
        let max = s.iter().copied().fold(0.0, f64::max);
        println!("{name:<20} {:>10.1} {min:>10.1} {max:>10.1}", median(name));
    }
}
