//! The work each benchmark case does, written once per library so that every case does the same work
//! in each: `#[instrument::span]`, `tracing::instrument` and `fastrace::trace` on identical bodies.
#![allow(dead_code, missing_docs, clippy::missing_panics_doc)]

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use fastrace::collector::{Config, Reporter, SpanContext, SpanRecord};
use instrument::handlers::SimpleSpanHandler;
use instrument::handlers::tracing_bridge::TracingForwarder;
use instrument::{EventEnvelope, EventHandler, SpanEnd, SpanHandler, SpanStart, get_dispatcher};
use tracing::Subscriber;
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// The work inside every span: a call that the optimiser cannot remove.
#[inline(never)]
pub fn plain(x: u64) -> u64 {
    black_box(x).wrapping_add(1)
}

// ---- instrument ----------------------------------------------------------------------------------

pub const IDLE: &str = "bench::idle";
pub const NOOP: &str = "bench::noop";
pub const SIMPLE: &str = "bench::simple";
pub const ARGS: &str = "bench::args";
pub const EVENT: &str = "bench::event";
pub const ASYNC: &str = "bench::async";
pub const FORWARD: &str = "bench::forward";
/// Recorded by a `SimpleSpanHandler`, with head sampling keeping no trace.
pub const SAMPLED: &str = "bench::sampled";

#[instrument::span(dispatcher = "bench::idle")]
#[inline(never)]
pub fn ours_idle(x: u64) -> u64 {
    plain(x)
}

#[instrument::span(dispatcher = "bench::noop")]
#[inline(never)]
pub fn ours_noop(x: u64) -> u64 {
    plain(x)
}

#[instrument::span(dispatcher = "bench::simple")]
#[inline(never)]
pub fn ours_simple(x: u64) -> u64 {
    plain(x)
}

#[instrument::span(dispatcher = "bench::noop")]
#[inline(never)]
pub fn ours_noop_nested(depth: u32, x: u64) -> u64 {
    if depth > 1 {
        ours_noop_nested(depth - 1, x)
    } else {
        plain(x)
    }
}

#[instrument::span(dispatcher = "bench::simple")]
#[inline(never)]
pub fn ours_simple_nested(depth: u32, x: u64) -> u64 {
    if depth > 1 {
        ours_simple_nested(depth - 1, x)
    } else {
        plain(x)
    }
}

#[instrument::span(dispatcher = "bench::args")]
#[inline(never)]
pub fn ours_args(query: &str, top_k: usize) -> usize {
    plain(query.len() as u64) as usize + top_k
}

/// The shape users write: a `&str` and a number in, a number out, recorded by
/// `SimpleSpanHandler` (`bench::simple`); `tracing_args` and `fastrace_shaped` do the same work.
#[instrument::span(dispatcher = "bench::simple")]
#[inline(never)]
pub fn ours_shaped(query: &str, top_k: usize) -> usize {
    plain(query.len() as u64) as usize + top_k
}

/// `ours_shaped`'s work with no span at all.
#[inline(never)]
pub fn plain_shaped(query: &str, top_k: usize) -> usize {
    plain(query.len() as u64) as usize + top_k
}

/// `ours_shaped` on a dispatcher with no handler.
#[instrument::span(dispatcher = "bench::idle")]
#[inline(never)]
pub fn ours_shaped_idle(query: &str, top_k: usize) -> usize {
    plain(query.len() as u64) as usize + top_k
}

/// `ours_shaped` on a dispatcher whose sampler keeps no trace: called outside any span, each call
/// is a root left out; inside a left-out span, a child left out.
#[instrument::span(dispatcher = "bench::sampled")]
#[inline(never)]
pub fn ours_sampled(query: &str, top_k: usize) -> usize {
    plain(query.len() as u64) as usize + top_k
}

/// `ours_shaped`, nested: each level calls the next, `depth` spans in all.
#[instrument::span(dispatcher = "bench::simple")]
#[inline(never)]
pub fn ours_shaped_nested(query: &str, depth: usize) -> usize {
    if depth > 1 {
        ours_shaped_nested(query, depth - 1)
    } else {
        plain(query.len() as u64) as usize
    }
}

/// An `async fn` of the same shape that yields once, as a call awaiting I/O does.
#[instrument::span(dispatcher = "bench::async")]
#[inline(never)]
pub async fn ours_shaped_async(query: &str, top_k: usize) -> usize {
    tokio::task::yield_now().await;
    plain(query.len() as u64) as usize + top_k
}

/// The same function as `tracing_args`, its spans sent on to `tracing` by `TracingForwarder`.
#[instrument::span(dispatcher = "bench::forward")]
#[inline(never)]
pub fn ours_forwarded(query: &str, top_k: usize) -> usize {
    plain(query.len() as u64) as usize + top_k
}

#[instrument::span(dispatcher = "bench::async")]
#[inline(never)]
pub async fn ours_async(x: u64) -> u64 {
    plain(x)
}

#[derive(instrument::Event, serde::Serialize)]
pub struct Tick {
    pub value: u64,
}

#[inline(never)]
pub fn ours_event(x: u64) {
    instrument::dispatcher!(EVENT).event(Tick { value: x });
}

/// Follows every span and does nothing with it.
pub struct NoopSpans;
impl SpanHandler for NoopSpans {
    type Span = ();
    fn new_span(&self, _: &SpanStart<'_>) -> Option<()> {
        Some(())
    }
    fn prepare_to_exit_span(&self, (): (), _: &SpanEnd<'_>) {}
    fn prepare_to_drop_span(&self, (): (), _: &SpanEnd<'_>) {}
}

/// Ignores every event.
pub struct NoopEvents;
impl EventHandler for NoopEvents {
    fn handle(&self, event: &EventEnvelope<'_>) {
        black_box(event);
    }
}

thread_local! {
    static TEXT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Reads every argument as `Debug` text into a reused buffer: the same work as `FieldsLayer`.
pub struct ArgReader;
impl SpanHandler for ArgReader {
    type Span = ();
    fn new_span(&self, start: &SpanStart<'_>) -> Option<()> {
        TEXT.with(|text| {
            let mut text = text.borrow_mut();
            text.clear();
            for arg in start.args() {
                if let Some(debug) = arg.debug() {
                    let _ = write!(text, "{}={debug:?} ", arg.name());
                }
            }
            black_box(text.len());
        });
        Some(())
    }
    fn prepare_to_exit_span(&self, (): (), _: &SpanEnd<'_>) {}
    fn prepare_to_drop_span(&self, (): (), _: &SpanEnd<'_>) {}
}

/// Registers the handlers of every instrument case, once per process; returns the
/// `SimpleSpanHandler` of the recorded case.
pub fn setup_instrument() -> &'static SimpleSpanHandler {
    static SIMPLE_HANDLER: OnceLock<&'static SimpleSpanHandler> = OnceLock::new();
    SIMPLE_HANDLER.get_or_init(|| {
        get_dispatcher(NOOP).add_span_handler(NoopSpans);
        get_dispatcher(ARGS).add_span_handler(ArgReader);
        get_dispatcher(EVENT).add_event_handler(NoopEvents);
        get_dispatcher(ASYNC).add_span_handler(SimpleSpanHandler::default());
        TracingForwarder::new().install(get_dispatcher(FORWARD));
        get_dispatcher(SAMPLED).add_span_handler(SimpleSpanHandler::default());
        instrument::set_filter(&format!("{SAMPLED}=0.0")).expect("a valid filter");
        get_dispatcher(SIMPLE).add_span_handler(SimpleSpanHandler::default())
    })
}

// ---- tracing -------------------------------------------------------------------------------------

#[tracing::instrument(skip_all)]
#[inline(never)]
pub fn tracing_span(x: u64) -> u64 {
    plain(x)
}

#[tracing::instrument(skip_all)]
#[inline(never)]
pub fn tracing_nested(depth: u32, x: u64) -> u64 {
    if depth > 1 {
        tracing_nested(depth - 1, x)
    } else {
        plain(x)
    }
}

#[tracing::instrument]
#[inline(never)]
pub fn tracing_args(query: &str, top_k: usize) -> usize {
    plain(query.len() as u64) as usize + top_k
}

#[tracing::instrument(skip_all)]
#[inline(never)]
pub async fn tracing_async(x: u64) -> u64 {
    plain(x)
}

#[tracing::instrument]
#[inline(never)]
pub async fn tracing_shaped_async(query: &str, top_k: usize) -> usize {
    tokio::task::yield_now().await;
    plain(query.len() as u64) as usize + top_k
}

#[inline(never)]
pub fn tracing_event(x: u64) {
    tracing::info!(value = x, "tick");
}

/// A layer that does nothing.
pub struct NoopLayer;
impl<S: Subscriber> Layer<S> for NoopLayer {}

/// A layer that stores each closed span's name and timings, bounded like `SimpleSpanHandler`.
pub struct TimingLayer {
    spans: Mutex<VecDeque<(&'static str, Instant, Instant)>>,
}

impl Default for TimingLayer {
    fn default() -> Self {
        Self {
            spans: Mutex::new(VecDeque::new()),
        }
    }
}

struct Started(Instant);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for TimingLayer {
    fn on_new_span(&self, _: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Started(Instant::now()));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            let start = span
                .extensions()
                .get::<Started>()
                .map_or_else(Instant::now, |s| s.0);
            let mut spans = self.spans.lock().unwrap();
            if spans.len() >= 100_000 {
                spans.pop_front();
            }
            spans.push_back((span.name(), start, Instant::now()));
        }
    }
}

/// A layer that reads every field of a new span as `Debug` text, the same work as `ArgReader`.
pub struct FieldsLayer;

struct DebugText<'a>(&'a mut String);
impl tracing::field::Visit for DebugText<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl<S: Subscriber> Layer<S> for FieldsLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        TEXT.with(|text| {
            let mut text = text.borrow_mut();
            text.clear();
            attrs.record(&mut DebugText(&mut text));
            black_box(text.len());
        });
    }
}

pub fn tracing_noop() -> tracing::Dispatch {
    tracing::Dispatch::new(tracing_subscriber::registry().with(NoopLayer))
}

pub fn tracing_timing() -> tracing::Dispatch {
    tracing::Dispatch::new(tracing_subscriber::registry().with(TimingLayer::default()))
}

pub fn tracing_fields() -> tracing::Dispatch {
    tracing::Dispatch::new(tracing_subscriber::registry().with(FieldsLayer))
}

// ---- fastrace ------------------------------------------------------------------------------------

#[fastrace::trace]
#[inline(never)]
pub fn fastrace_span(x: u64) -> u64 {
    plain(x)
}

#[fastrace::trace]
#[inline(never)]
pub fn fastrace_nested(depth: u32, x: u64) -> u64 {
    if depth > 1 {
        fastrace_nested(depth - 1, x)
    } else {
        plain(x)
    }
}

#[fastrace::trace]
#[inline(never)]
pub async fn fastrace_async(x: u64) -> u64 {
    plain(x)
}

#[fastrace::trace]
#[inline(never)]
pub fn fastrace_shaped(query: &str, top_k: usize) -> usize {
    plain(query.len() as u64) as usize + top_k
}

#[fastrace::trace]
#[inline(never)]
pub fn fastrace_shaped_nested(query: &str, depth: usize) -> usize {
    if depth > 1 {
        fastrace_shaped_nested(query, depth - 1)
    } else {
        plain(query.len() as u64) as usize
    }
}

/// Drops every batch of spans.
pub struct NoopReporter;
impl Reporter for NoopReporter {
    fn report(&mut self, spans: Vec<SpanRecord>) {
        black_box(spans);
    }
}

pub fn setup_fastrace() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| fastrace::set_reporter(NoopReporter, Config::default()));
}

/// Runs `f` under a fresh fastrace root with a local parent, as a traced request would.
pub fn under_fastrace_root<R>(f: impl FnOnce() -> R) -> R {
    let root = fastrace::Span::root("root", SpanContext::random());
    let _guard = root.set_local_parent();
    f()
}

// ---- the floor -----------------------------------------------------------------------------------

/// One recorded span's least possible work on this machine, written by hand for the bench: the
/// two clock reads every tracer makes (`instrument`'s, which are fastrace's `rdtsc`), and a
/// 40-byte record (id, parent, name, start, end) written into a thread-local ring that wraps.
/// No current span, no panic guard, no handler, no delivery: what no library can go below.
#[inline(never)]
pub fn floor_shaped(query: &str, top_k: usize) -> usize {
    let start = instrument::Timestamp::now();
    let value = plain(query.len() as u64) as usize + top_k;
    let end = instrument::Timestamp::now();
    FLOOR.with(|ring| ring.push(top_k as u64, "floor_shaped", start, end));
    value
}

thread_local! {
    static FLOOR: FloorRing = const { FloorRing::new() };
}

/// A record [`floor_shaped`] keeps.
type FloorRecord = (
    u64,
    u64,
    &'static str,
    instrument::Timestamp,
    instrument::Timestamp,
);

/// [`floor_shaped`]'s ring: 256 records, overwritten in turn.
pub struct FloorRing {
    next: std::cell::Cell<usize>,
    records: std::cell::UnsafeCell<[std::mem::MaybeUninit<FloorRecord>; 256]>,
}

impl FloorRing {
    const fn new() -> Self {
        Self {
            next: std::cell::Cell::new(0),
            records: std::cell::UnsafeCell::new([std::mem::MaybeUninit::uninit(); 256]),
        }
    }

    #[inline(always)]
    fn push(
        &self,
        id: u64,
        name: &'static str,
        start: instrument::Timestamp,
        end: instrument::Timestamp,
    ) {
        let next = self.next.get();
        // SAFETY: the ring is this thread's; `next` is always below 256.
        unsafe { (*self.records.get())[next].write((id, id.wrapping_sub(1), name, start, end)) };
        self.next.set((next + 1) % 256);
    }
}

// ---- shared drivers ------------------------------------------------------------------------------

/// Children per fastrace root: the root's cost is shared by this many spans.
pub const FASTRACE_BATCH: u64 = 100;

pub fn fastrace_batches(iters: u64, f: impl Fn(u64)) -> Duration {
    let start = Instant::now();
    let mut done = 0;
    while done < iters {
        let batch = FASTRACE_BATCH.min(iters - done);
        under_fastrace_root(|| {
            for i in 0..batch {
                f(i);
            }
        });
        done += batch;
    }
    let elapsed = start.elapsed();
    // fastrace finishes its spans on a background thread; let it catch up outside the timed region,
    // so that its backlog does not steal a core from the next case.
    fastrace::flush();
    elapsed
}

/// Two long-lived worker threads, as a server's pool has, for the throughput cases.
pub struct Workers {
    jobs: Vec<std::sync::mpsc::Sender<Job>>,
}

/// Calls to make, the function, a barrier that starts all workers at once, and where to send the
/// worker's own start and end times: the workers time themselves, since with every core busy the
/// coordinating thread may not run when they start.
pub type Job = (
    u64,
    fn(u64) -> u64,
    Arc<Barrier>,
    std::sync::mpsc::Sender<(Instant, Instant)>,
);

impl Workers {
    pub fn new(count: usize) -> Self {
        let jobs = (0..count)
            .map(|_| {
                let (send, receive) = std::sync::mpsc::channel::<Job>();
                std::thread::spawn(move || {
                    for (iters, f, barrier, times) in receive {
                        barrier.wait();
                        let start = Instant::now();
                        for i in 0..iters {
                            black_box(f(i));
                        }
                        times.send((start, Instant::now())).unwrap();
                    }
                });
                send
            })
            .collect();
        Self { jobs }
    }

    /// `iters` calls of `f` on each of `threads` workers at once; returns the wall time from the
    /// first worker's start to the last one's end.
    pub fn run(&self, threads: usize, iters: u64, f: fn(u64) -> u64) -> Duration {
        let barrier = Arc::new(Barrier::new(threads));
        let (send, receive) = std::sync::mpsc::channel();
        for job in &self.jobs[..threads] {
            job.send((iters, f, Arc::clone(&barrier), send.clone()))
                .unwrap();
        }
        drop(send);
        let times: Vec<(Instant, Instant)> = receive.iter().collect();
        let start = times.iter().map(|t| t.0).min().unwrap();
        let end = times.iter().map(|t| t.1).max().unwrap();
        end - start
    }
}

/// Waits for fastrace's background collector to drain, outside the timed region.
pub fn flushed(elapsed: Duration) -> Duration {
    fastrace::flush();
    elapsed
}

/// One fastrace child span, under a root made every `FASTRACE_BATCH` calls on this thread.
pub fn fastrace_rooted(i: u64) -> u64 {
    thread_local! {
        static ROOT: std::cell::RefCell<Option<(fastrace::Span, fastrace::local::LocalParentGuard)>> =
            const { std::cell::RefCell::new(None) };
    }
    ROOT.with(|root| {
        let mut root = root.borrow_mut();
        if i.is_multiple_of(FASTRACE_BATCH) {
            // Drop the guard before the span it guards, then start a new root.
            if let Some((span, guard)) = root.take() {
                drop(guard);
                drop(span);
            }
            let span = fastrace::Span::root("root", fastrace::collector::SpanContext::random());
            let guard = span.set_local_parent();
            *root = Some((span, guard));
        }
    });
    fastrace_span(i)
}
