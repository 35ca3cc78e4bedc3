//! `shutdown()` drops every open span with "dispatcher shutdown" and closes every handler once.
//! (Its own test binary: shutdown is process-wide.)

mod common;

use std::sync::mpsc;
use std::task::{Context, Poll, Waker};

use common::recorder_on;
use instrument::{SHUTDOWN, SpanId, Tags, get_dispatcher, shutdown};

#[test]
fn shutdown_drops_open_spans_everywhere_and_closes_handlers_once() {
    let d = get_dispatcher("shutdown_test");
    let recorder = recorder_on(d);

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

    // The owners finish later: no second end reaches the handlers.
    release_tx.send(()).unwrap();
    worker.join().unwrap();
    drop(guard);
    drop(parked);
    assert!(
        d.span_exit(by_id, None).is_err(),
        "by-id span was ended by shutdown"
    );
    assert_eq!(recorder.ended().len(), 4);

    // A second shutdown is harmless: nothing open, nothing closed twice.
    shutdown();
    assert_eq!(recorder.ended().len(), 4);
    assert_eq!(recorder.closed.load(std::sync::atomic::Ordering::SeqCst), 2);

    // Spans made afterwards still work.
    d.in_span("after", || ());
    assert!(recorder.one("after").exited);
}
