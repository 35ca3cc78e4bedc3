//! Every case side by side with `tracing` and `fastrace`, in one criterion run:
//! `cargo bench --bench compare`. Each group does the same work in each library; see
//! `cases/mod.rs` for the functions and handlers, and BENCHMARKS.md for what each case measures.

mod cases;

use std::hint::black_box;
use std::time::Duration;

use cases::*;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn per_call(c: &mut Criterion) {
    let noop = tracing::Dispatch::none();
    let mut group = c.benchmark_group("no_handler");
    group.bench_function("plain", |b| b.iter(|| plain(black_box(1))));
    group.bench_function("instrument", |b| b.iter(|| ours_idle(black_box(1))));
    group.bench_function("tracing", |b| {
        tracing::dispatcher::with_default(&noop, || b.iter(|| tracing_span(black_box(1))));
    });
    group.bench_function("fastrace", |b| b.iter(|| fastrace_span(black_box(1))));
    group.finish();
}

fn one_span(c: &mut Criterion) {
    setup_instrument();
    setup_fastrace();
    let noop_layer = tracing_noop();
    let timing = tracing_timing();
    let mut group = c.benchmark_group("one_span");
    group.bench_function("instrument/noop_handler", |b| {
        b.iter(|| ours_noop(black_box(1)))
    });
    group.bench_function("instrument/simple_span_handler", |b| {
        b.iter(|| ours_simple(black_box(1)))
    });
    group.bench_function("tracing/noop_layer", |b| {
        tracing::dispatcher::with_default(&noop_layer, || b.iter(|| tracing_span(black_box(1))));
    });
    group.bench_function("tracing/timing_layer", |b| {
        tracing::dispatcher::with_default(&timing, || b.iter(|| tracing_span(black_box(1))));
    });
    group.bench_function("fastrace/child_of_root", |b| {
        b.iter_custom(|iters| {
            fastrace_batches(iters, |i| {
                black_box(fastrace_span(i));
            })
        });
    });
    group.finish();
}

fn nesting(c: &mut Criterion) {
    setup_instrument();
    setup_fastrace();
    let noop_layer = tracing_noop();
    let timing = tracing_timing();
    let mut group = c.benchmark_group("nested");
    for depth in [1u32, 2, 4, 8] {
        group.bench_with_input(
            BenchmarkId::new("instrument/noop_handler", depth),
            &depth,
            |b, &d| {
                b.iter(|| ours_noop_nested(d, black_box(1)));
            },
        );
        group.bench_with_input(
            BenchmarkId::new("instrument/simple_span_handler", depth),
            &depth,
            |b, &d| {
                b.iter(|| ours_simple_nested(d, black_box(1)));
            },
        );
        group.bench_with_input(
            BenchmarkId::new("tracing/noop_layer", depth),
            &depth,
            |b, &d| {
                tracing::dispatcher::with_default(&noop_layer, || {
                    b.iter(|| tracing_nested(d, black_box(1)))
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("tracing/timing_layer", depth),
            &depth,
            |b, &d| {
                tracing::dispatcher::with_default(&timing, || {
                    b.iter(|| tracing_nested(d, black_box(1)))
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("fastrace/child_of_root", depth),
            &depth,
            |b, &d| {
                b.iter_custom(|iters| {
                    fastrace_batches(iters, |i| {
                        black_box(fastrace_nested(d, i));
                    })
                });
            },
        );
    }
    group.finish();
}

fn arguments(c: &mut Criterion) {
    setup_instrument();
    let fields = tracing_fields();
    let mut group = c.benchmark_group("two_args_read");
    group.bench_function("instrument", |b| {
        b.iter(|| ours_args(black_box("what is a span"), black_box(4)))
    });
    group.bench_function("tracing", |b| {
        tracing::dispatcher::with_default(&fields, || {
            b.iter(|| tracing_args(black_box("what is a span"), black_box(4)));
        });
    });
    group.finish();
}

fn events(c: &mut Criterion) {
    setup_instrument();
    let noop_layer = tracing_noop();
    let mut group = c.benchmark_group("event");
    group.bench_function("instrument/noop_handler", |b| {
        b.iter(|| ours_event(black_box(1)))
    });
    group.bench_function("tracing/noop_layer", |b| {
        tracing::dispatcher::with_default(&noop_layer, || b.iter(|| tracing_event(black_box(1))));
    });
    group.finish();
}

fn throughput(c: &mut Criterion) {
    setup_instrument();
    let workers = Workers::new(2);
    let mut group = c.benchmark_group("throughput_simple_span_handler");
    for threads in [1usize, 2] {
        group.throughput(criterion::Throughput::Elements(threads as u64));
        group.bench_with_input(
            BenchmarkId::new("instrument", threads),
            &threads,
            |b, &t| {
                b.iter_custom(|iters| workers.run(t, iters, ours_simple));
            },
        );
    }
    group.finish();
}

fn async_spans(c: &mut Criterion) {
    setup_instrument();
    setup_fastrace();
    let timing = tracing_timing();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("async_span");
    group.bench_function("instrument/simple_span_handler", |b| {
        b.iter(|| runtime.block_on(ours_async(black_box(1))));
    });
    group.bench_function("tracing/timing_layer", |b| {
        tracing::dispatcher::with_default(&timing, || {
            b.iter(|| runtime.block_on(tracing_async(black_box(1))))
        });
    });
    group.bench_function("fastrace/child_of_root", |b| {
        b.iter_custom(|iters| {
            fastrace_batches(iters, |i| {
                black_box(runtime.block_on(fastrace_async(i)));
            })
        });
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40)
}

criterion_group! {
    name = benches;
    config = config();
    targets = per_call, one_span, nesting, arguments, events, throughput, async_spans
}
criterion_main!(benches);
