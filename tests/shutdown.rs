//! `shutdown()` drops every open span with "dispatcher shutdown" and closes every handler once.
//! (Its own test binary: shutdown is process-wide.)

mod common;

use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};

use common::recorder_on;
use instrument::handlers::SimpleSpanHandler;
use instrument::handlers::tracing_bridge::TracingForwarder;
use instrument::{BatchSpanHandler, EndedSpan, SHUTDOWN, SpanId, Tags, get_dispatcher, shutdown};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Layer, SubscriberExt};

/// Collects the `outcome` recorded on forwarded spans.
#[derive(Clone, Default)]
struct Outcomes(Arc<Mutex<Vec<String>>>);

impl Visit for &Outcomes {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "outcome" {
            self.0.lock().unwrap().push(value.to_owned());
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber> Layer<S> for Outcomes {
    fn on_record(
        &self,
        _: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        values.record(&mut &*self);
    }
}

/// The name of the current `tracing` span, if any.
fn current_tracing_span() -> Option<&'static str> {
    tracing::Span::current().metadata().map(|m| m.name())
}

/// A batched handler that notes, when closed, how many spans ended by shutdown it had been given.
#[derive(Default)]
struct SeenWhenClosed {
    seen: std::sync::atomic::AtomicUsize,
    at_close: Mutex<Vec<usize>>,
}

impl BatchSpanHandler for SeenWhenClosed {
    fn handle_batch(&self, spans: &[EndedSpan]) {
        let shut = spans.iter().filter(|s| s.error() == Some(SHUTDOWN)).count();
        self.seen
            .fetch_add(shut, std::sync::atomic::Ordering::SeqCst);
    }

    fn close(&self) {
        let seen = self.seen.load(std::sync::atomic::Ordering::SeqCst);
        self.at_close.lock().unwrap().push(seen);
    }
}

#[test]
fn shutdown_drops_open_spans_everywhere_and_closes_handlers_once() {
    let d = get_dispatcher("shutdown_test");
    let recorder = recorder_on(d);
    let simple = d.add_span_handler(SimpleSpanHandler::default());
    let batched = d.add_batch_span_handler(SeenWhenClosed::default());

    // 1. A span open on another thread, blocked inside its body.
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        d.in_span("blocked_on_thread", || {
            entered_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
    });
    entered_rx.recv().unwrap();

    // 2. A manual guard held open.
    let guard = d.enter_span("held_guard", &[]);

    // 3. A future parked inside its span.
    let mut parked = Box::pin(async move {
        let mut guard = d.enter_span("parked_future", &[]);
        guard.in_scope(|| ());
        std::future::pending::<()>().await;
        drop(guard);
    });
    assert_eq!(
        parked
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop())),
        Poll::Pending
    );

    // 4. A span opened by id.
    let by_id = SpanId::new("by_id");
    d.span_enter(by_id, &[], None, Tags::new()).unwrap();

    // 5. A span forwarded to `tracing`, its `tracing` span entered on another thread.
    let forwarded = get_dispatcher("shutdown_forward");
    TracingForwarder::new().install(forwarded);
    let outcomes = Outcomes::default();
    let (forward_entered_tx, forward_entered_rx) = mpsc::channel();
    let (forward_release_tx, forward_release_rx) = mpsc::channel::<()>();
    let forward_worker = std::thread::spawn({
        let outcomes = outcomes.clone();
        move || {
            let subscriber = tracing_subscriber::registry().with(outcomes);
            tracing::subscriber::with_default(subscriber, || {
                let inside = forwarded.in_span("forwarded_on_thread", || {
                    forward_entered_tx.send(()).unwrap();
                    forward_release_rx.recv().unwrap();
                    current_tracing_span()
                });
                (inside, current_tracing_span())
            })
        }
    });
    forward_entered_rx.recv().unwrap();

    shutdown();

    let mut dropped: Vec<_> = recorder
        .ended()
        .into_iter()
        .map(|s| {
            assert!(!s.exited);
            assert_eq!(s.error.as_deref(), Some(SHUTDOWN));
            s.name
        })
        .collect();
    dropped.sort();
    assert_eq!(
        dropped,
        ["blocked_on_thread", "by_id", "held_guard", "parked_future"]
    );
    assert_eq!(
        recorder.closed.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "span and event sides closed"
    );
    // Batched handlers had every span delivered before they were closed.
    assert_eq!(*batched.at_close.lock().unwrap(), [4]);
    let mut kept: Vec<_> = simple
        .dropped_spans()
        .into_iter()
        .map(|s| (s.name, s.error().map(str::to_owned)))
        .collect();
    kept.sort();
    let shut = Some(SHUTDOWN.to_owned());
    assert_eq!(
        kept,
        [
            ("blocked_on_thread", shut.clone()),
            ("by_id", shut.clone()),
            ("held_guard", shut.clone()),
            ("parked_future", shut)
        ]
    );

    // The owners finish later: no second end reaches the handlers.
    release_tx.send(()).unwrap();
    worker.join().unwrap();
    // The forwarded span ended with the shutdown, and its body still left it when it returned.
    assert_eq!(*outcomes.0.lock().unwrap(), ["shutdown"]);
    forward_release_tx.send(()).unwrap();
    assert_eq!(
        forward_worker.join().unwrap(),
        (Some("instrument"), None),
        "entered until the body returned, then left"
    );
    drop(guard);
    drop(parked);
    assert!(
        d.span_exit(by_id, None).is_err(),
        "by-id span was ended by shutdown"
    );
    assert_eq!(recorder.ended().len(), 4);
    assert_eq!(
        simple.len(),
        4,
        "no second end reaches batched handlers either"
    );

    // A second shutdown is harmless: nothing open, nothing closed twice.
    shutdown();
    assert_eq!(recorder.ended().len(), 4);
    assert_eq!(recorder.closed.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(*batched.at_close.lock().unwrap(), [4], "closed once");

    // Spans made afterwards still work.
    d.in_span("after", || ());
    assert!(recorder.one("after").exited);
}
