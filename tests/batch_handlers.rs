//! Batched span handlers (`BatchSpanHandler`): the core records the spans and delivers them in
//! batches, with every guarantee of the synchronous kind: each span reaches each handler exactly
//! once whatever ended it, spans ended anywhere are seen after a flush, a panicking handler is
//! isolated, a dispatcher's shutdown ends open spans for its own handlers only, and a shared
//! handler is released once removed.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Waker};

use instrument::handlers::SimpleSpanHandler;
use instrument::{
    Arg, BATCH_LEN, BatchSpanHandler, Capture, DropReason, EndedSpan, SpanId, Tags, flush,
    get_dispatcher, handler_panics, instrument_tags, span,
};
use serde_json::{Value, json};

/// What a batched handler was given, one entry per span delivery.
#[derive(Debug, Clone)]
struct Got {
    id: SpanId,
    reason: Option<DropReason>,
    error: Option<String>,
    args: Option<Value>,
    result: Option<Value>,
    tags: Tags,
}

#[derive(Default)]
struct Collect {
    got: Mutex<Vec<Got>>,
    batches: AtomicUsize,
}

impl Collect {
    fn take(&self) -> Vec<Got> {
        std::mem::take(&mut *self.got.lock().unwrap())
    }

    fn handle(&self, spans: &[EndedSpan]) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.got
            .lock()
            .unwrap()
            .extend(spans.iter().map(|span| Got {
                id: span.id(),
                reason: span.drop_reason(),
                error: span.error().map(str::to_owned),
                args: span.args().cloned(),
                result: span.result().cloned(),
                tags: span.tags().clone(),
            }));
    }
}

/// Keeps ids, times and outcome only.
#[derive(Default)]
struct Plain(Collect);

impl BatchSpanHandler for Plain {
    fn handle_batch(&self, spans: &[EndedSpan]) {
        self.0.handle(spans);
    }
}

/// Asks for everything.
#[derive(Default)]
struct Everything(Collect);

impl BatchSpanHandler for Everything {
    const CAPTURE: Capture = Capture::EVERYTHING;

    fn handle_batch(&self, spans: &[EndedSpan]) {
        self.0.handle(spans);
    }
}

fn by_reason(got: &[Got]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for g in got {
        *counts.entry(format!("{:?}", g.reason)).or_default() += 1;
    }
    counts
}

#[span(dispatcher = "tests::batch::outcomes")]
fn fails(query: &str) -> Result<usize, String> {
    Err(format!("no match for {query}"))
}

#[span(dispatcher = "tests::batch::outcomes")]
fn panics(top_k: usize) -> usize {
    assert!(top_k < 1, "top_k too large");
    top_k
}

#[span(dispatcher = "tests::batch::outcomes")]
async fn waits(top_k: usize) -> usize {
    std::future::pending::<()>().await;
    top_k
}

#[test]
fn every_span_reaches_each_batched_handler_once_whatever_ended_it() {
    let dispatcher = get_dispatcher("tests::batch::outcomes");
    let first = dispatcher.add_batch_span_handler(Plain::default());
    let second = dispatcher.add_batch_span_handler(Plain::default());

    dispatcher.in_span("exits", || ());
    assert!(fails("q").is_err());
    assert!(std::panic::catch_unwind(|| panics(3)).is_err());
    {
        let mut future = pin!(waits(2));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(future.as_mut().poll(&mut cx).is_pending());
    } // dropped mid-span: cancelled
    dispatcher.enter_span("manual", &[]).drop_with(&"given up");
    flush();

    for handler in [first, second] {
        let got = handler.0.take();
        assert_eq!(got.len(), 5, "{got:?}");
        let ids: std::collections::HashSet<_> = got.iter().map(|g| g.id).collect();
        assert_eq!(ids.len(), 5, "each span once");
        assert_eq!(
            by_reason(&got),
            BTreeMap::from([
                ("None".to_owned(), 1),
                ("Some(Error)".to_owned(), 1),
                ("Some(Panic)".to_owned(), 1),
                ("Some(Cancelled)".to_owned(), 1),
                ("Some(Manual)".to_owned(), 1),
            ])
        );
        let error = got.iter().find(|g| g.reason == Some(DropReason::Error));
        assert_eq!(error.unwrap().error.as_deref(), Some("no match for q"));
        let panic = got.iter().find(|g| g.reason == Some(DropReason::Panic));
        assert!(
            panic
                .unwrap()
                .error
                .as_deref()
                .unwrap()
                .contains("top_k too large")
        );
    }
    flush();
    assert!(first.0.take().is_empty(), "nothing is delivered twice");
}

#[span(dispatcher = "tests::batch::capture")]
fn retrieve(query: &str, top_k: usize) -> usize {
    query.len() + top_k
}

#[span(dispatcher = "tests::batch::capture::plain")]
fn retrieve_plainly(query: &str, top_k: usize) -> usize {
    query.len() + top_k
}

#[test]
fn arguments_result_and_tags_are_captured_only_when_asked() {
    let everything =
        get_dispatcher("tests::batch::capture").add_batch_span_handler(Everything::default());
    let plain = get_dispatcher("tests::batch::capture::plain");
    plain.set_propagate(false);
    let plain = plain.add_batch_span_handler(Plain::default());

    let tags = Tags::from_iter([("user", json!("u-1"))]);
    instrument_tags(tags.clone(), || {
        assert_eq!(retrieve("what is rust", 3), 15);
        assert_eq!(retrieve_plainly("what is rust", 3), 15);
    });
    flush();

    let got = everything.0.take();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].args,
        Some(json!({"query": "what is rust", "top_k": 3}))
    );
    assert_eq!(got[0].result, Some(json!(15)));
    assert_eq!(got[0].tags, tags);

    let got = plain.0.take();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].args.as_ref(), got[0].result.as_ref()), (None, None));
    assert!(got[0].tags.is_empty());
}

#[test]
fn spans_ended_on_other_threads_are_delivered_by_a_flush_or_the_thread_exit() {
    let dispatcher = get_dispatcher("tests::batch::threads");
    let spans = dispatcher.add_span_handler(SimpleSpanHandler::default());

    // A worker that stays alive: its spans wait in its buffer until someone flushes.
    let (done_tx, done_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        for _ in 0..10 {
            dispatcher.in_span("on_worker", || ());
        }
        done_tx.send(()).unwrap();
        stop_rx.recv().unwrap();
    });
    done_rx.recv().unwrap();
    assert_eq!(spans.len(), 10, "a read flushes every thread's spans");
    stop_tx.send(()).unwrap();
    worker.join().unwrap();

    // A thread that exits without anyone flushing: its exit delivers.
    let counter =
        get_dispatcher("tests::batch::threads::exit").add_batch_span_handler(Plain::default());
    std::thread::spawn(|| {
        get_dispatcher("tests::batch::threads::exit").in_span("short_lived", || ())
    })
    .join()
    .unwrap();
    assert_eq!(
        counter.0.take().len(),
        1,
        "delivered when the thread exited"
    );
}

#[test]
fn a_full_buffer_delivers_without_a_flush() {
    let dispatcher = get_dispatcher("tests::batch::full");
    let handler = dispatcher.add_batch_span_handler(Plain::default());
    std::thread::spawn(move || {
        for _ in 0..3 * BATCH_LEN + 1 {
            dispatcher.in_span("many", || ());
        }
        // Still on the thread and not flushed here (other tests may flush at any time): no more
        // than one buffer's worth waits undelivered.
        assert!(handler.0.got.lock().unwrap().len() > 2 * BATCH_LEN);
    })
    .join()
    .unwrap();
    assert_eq!(handler.0.take().len(), 3 * BATCH_LEN + 1);
}

struct Panicking;

impl BatchSpanHandler for Panicking {
    fn handle_batch(&self, _: &[EndedSpan]) {
        panic!("batch handler bug");
    }
}

#[test]
fn a_panicking_batched_handler_loses_its_batch_only() {
    let dispatcher = get_dispatcher("tests::batch::panics");
    dispatcher.add_batch_span_handler(Panicking);
    let healthy = dispatcher.add_batch_span_handler(Plain::default());
    let before = handler_panics();
    dispatcher.in_span("one", || ());
    dispatcher.in_span("two", || ());
    flush();
    assert_eq!(healthy.0.take().len(), 2);
    assert!(handler_panics() > before);
    dispatcher.in_span("three", || ());
    flush();
    assert_eq!(
        healthy.0.take().len(),
        1,
        "still delivering after the panic"
    );
}

#[test]
fn a_dispatchers_shutdown_ends_open_spans_for_its_own_chain_only() {
    let upper = get_dispatcher("tests::batch::partial");
    let lower = get_dispatcher("tests::batch::partial::worker");
    let upper_handler = upper.add_batch_span_handler(Plain::default());
    let lower_handler = lower.add_batch_span_handler(Plain::default());

    let guard = lower.enter_span("job", &[Arg::new("top_k", &1)]);
    upper.shutdown(); // `upper`'s chain is `upper_handler` alone
    let got = upper_handler.0.take();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].reason, Some(DropReason::Shutdown));
    assert!(lower_handler.0.take().is_empty(), "the span goes on below");

    guard.exit(None);
    flush();
    let got = lower_handler.0.take();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].reason, None,
        "exited for the handler still following it"
    );
    assert!(upper_handler.0.take().is_empty(), "not ended twice");
}

#[test]
fn a_shared_batched_handler_is_released_once_removed() {
    let dispatcher = get_dispatcher("tests::batch::shared");
    let per_request = Arc::new(SimpleSpanHandler::default());
    dispatcher.add_shared_span_handler(Arc::clone(&per_request));
    dispatcher.in_span("request", || ());
    assert_eq!(per_request.completed().len(), 1);
    assert!(dispatcher.remove_span_handler(&*per_request));
    dispatcher.in_span("after", || ());
    flush();
    assert_eq!(per_request.completed().len(), 1, "nothing after removal");
    assert_eq!(Arc::strong_count(&per_request), 1, "released");
}

/// Reads another handler, which flushes, from inside a delivery.
struct Reads(&'static SimpleSpanHandler, AtomicUsize);

impl BatchSpanHandler for Reads {
    fn handle_batch(&self, spans: &[EndedSpan]) {
        self.1.fetch_add(spans.len(), Ordering::Relaxed);
        let _ = self.0.len();
        flush();
    }
}

#[test]
fn flushing_inside_a_delivery_does_not_wait_for_itself() {
    let dispatcher = get_dispatcher("tests::batch::reentrant");
    let simple = dispatcher.add_span_handler(SimpleSpanHandler::default());
    let reads = dispatcher.add_batch_span_handler(Reads(simple, AtomicUsize::new(0)));
    for _ in 0..(BATCH_LEN * 2 + 3) {
        dispatcher.in_span("s", || ());
    }
    flush();
    assert_eq!(reads.1.load(Ordering::Relaxed), BATCH_LEN * 2 + 3);
    assert_eq!(simple.len(), BATCH_LEN * 2 + 3);
}
