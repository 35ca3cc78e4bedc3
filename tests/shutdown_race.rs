//! `shutdown()` racing with spans starting and ending on other threads, with other shutdowns, and
//! with handlers that end spans from inside a shutdown: every span still ends exactly once, by its
//! owner or by shutdown, nothing is read after it is freed, and nothing hangs.
//! (Its own test binary: shutdown is process-wide. The tests run in parallel here on purpose: each
//! one's shutdowns race with the others' spans too, and the invariant still holds for all of them.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use instrument::{SpanEnd, SpanGuard, SpanHandler, SpanId, SpanStart, get_dispatcher, shutdown};

/// Counts how many times each span ends.
#[derive(Default)]
struct Ends {
    started: Mutex<Vec<SpanId>>,
    ended: Mutex<HashMap<SpanId, (usize, bool)>>,
}

impl SpanHandler for Ends {
    type Span = Box<SpanId>; // boxed, so that a double end would be a double free
    fn new_span(&self, start: &SpanStart<'_>) -> Option<Box<SpanId>> {
        self.started.lock().unwrap().push(start.id());
        Some(Box::new(start.id()))
    }
    fn prepare_to_exit_span(&self, id: Box<SpanId>, end: &SpanEnd<'_>) {
        assert_eq!(*id, end.id());
        self.ended.lock().unwrap().entry(*id).or_insert((0, true)).0 += 1;
    }
    fn prepare_to_drop_span(&self, id: Box<SpanId>, end: &SpanEnd<'_>) {
        assert_eq!(*id, end.id());
        let mut ended = self.ended.lock().unwrap();
        let entry = ended.entry(*id).or_insert((0, false));
        entry.0 += 1;
        entry.1 = false;
    }
}

impl Ends {
    /// Asserts every started span ended exactly once; returns (spans, ended by shutdown).
    fn check(&self) -> (usize, usize) {
        let started = self.started.lock().unwrap().clone();
        let ended = self.ended.lock().unwrap();
        for id in &started {
            let (count, _) = ended.get(id).unwrap_or_else(|| panic!("{id} never ended"));
            assert_eq!(*count, 1, "{id} ended {count} times");
        }
        assert_eq!(ended.len(), started.len());
        (
            started.len(),
            ended.values().filter(|(_, exited)| !exited).count(),
        )
    }
}

/// Calls `shutdown` again and again until `enough` holds and at least `at_least` calls were made (or
/// 30 s passed, however busy the machine is).
fn keep_shutting_down(at_least: usize, enough: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut calls = 0;
    while (calls < at_least || !enough()) && Instant::now() < deadline {
        shutdown();
        calls += 1;
        std::thread::yield_now();
    }
}

#[test]
fn race_spans_ending_on_their_own_threads() {
    let d = get_dispatcher("shutdown_race::own_threads");
    let ends = d.add_span_handler(Ends::default());
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    d.in_span("outer", || {
                        d.in_span("middle", || d.in_span("inner", || ()))
                    });
                }
            });
        }
        keep_shutting_down(200, || ends.started.lock().unwrap().len() >= 3000);
        stop.store(true, Ordering::Relaxed);
    });
    let (spans, by_shutdown) = ends.check();
    println!("{spans} spans, {by_shutdown} ended by shutdown");
    assert!(spans >= 3000, "the workers made spans: {spans}");
}

#[test]
fn race_spans_ended_on_another_thread() {
    let d = get_dispatcher("shutdown_race::other_thread");
    let ends = d.add_span_handler(Ends::default());
    let stop = AtomicBool::new(false);
    let (send, receive) = std::sync::mpsc::sync_channel::<SpanGuard>(64);
    std::thread::scope(|scope| {
        let stop = &stop;
        scope.spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..8 {
                    if send.send(d.enter_span("moved", &[])).is_err() {
                        return;
                    }
                }
                d.in_span("local", || ());
            }
        });
        scope.spawn(move || receive.into_iter().for_each(drop));
        keep_shutting_down(500, || ends.started.lock().unwrap().len() >= 3000);
        stop.store(true, Ordering::Relaxed);
    });
    ends.check();
}

#[test]
fn race_two_shutdowns_at_once() {
    let d = get_dispatcher("shutdown_race::two_shutdowns");
    let ends = d.add_span_handler(Ends::default());
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    d.in_span("outer", || d.in_span("inner", || ()));
                }
            });
        }
        let other = scope.spawn(|| keep_shutting_down(500, || true));
        keep_shutting_down(500, || ends.started.lock().unwrap().len() >= 2000);
        other.join().unwrap();
        stop.store(true, Ordering::Relaxed);
    });
    ends.check();
}

static HELD: Mutex<Vec<SpanGuard>> = Mutex::new(Vec::new());

/// Ends other spans (drops their guards) from inside its own drop at shutdown.
struct DropsOthers;
impl SpanHandler for DropsOthers {
    type Span = ();
    fn new_span(&self, _: &SpanStart<'_>) -> Option<()> {
        Some(())
    }
    fn prepare_to_exit_span(&self, (): (), _: &SpanEnd<'_>) {}
    fn prepare_to_drop_span(&self, (): (), _: &SpanEnd<'_>) {
        let held: Vec<SpanGuard> = HELD.lock().unwrap().drain(..).collect();
        drop(held);
    }
}

#[test]
fn race_a_handler_ending_spans_inside_shutdown_does_not_hang() {
    let d = get_dispatcher("shutdown_race::reentrant");
    d.add_span_handler(DropsOthers);
    let ends = d.add_span_handler(Ends::default());
    let first = d.enter_span("first", &[]);
    let second = d.enter_span("second", &[]);
    let third = d.enter_span("third", &[]);
    HELD.lock().unwrap().extend([first, second, third]);
    shutdown();
    ends.check();
}

/// The same races under the protocol used where `membarrier` is missing (one swap per release).
#[test]
fn the_fallback_protocol_holds_too() {
    if std::env::var_os("INSTRUMENT_NO_MEMBARRIER").is_some() {
        return; // already the child run
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .env("INSTRUMENT_NO_MEMBARRIER", "1")
        .arg("race_")
        .status()
        .unwrap();
    assert!(status.success());
}
