//! `shutdown()` racing with spans starting and ending on other threads: every span still ends
//! exactly once, by its owner or by shutdown, and nothing is read after it is freed.
//! (Its own test binary: shutdown is process-wide.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use instrument::{SpanEnd, SpanHandler, SpanId, SpanStart, get_dispatcher, shutdown};

#[derive(Default)]
struct Ends {
    started: Mutex<Vec<SpanId>>,
    ended: Mutex<HashMap<SpanId, (usize, bool)>>,
}

impl SpanHandler for Ends {
    type Span = SpanId;
    fn new_span(&self, start: &SpanStart<'_>) -> Option<SpanId> {
        self.started.lock().unwrap().push(start.id());
        Some(start.id())
    }
    fn prepare_to_exit_span(&self, id: SpanId, end: &SpanEnd<'_>) {
        assert_eq!(id, end.id());
        self.ended.lock().unwrap().entry(id).or_insert((0, true)).0 += 1;
    }
    fn prepare_to_drop_span(&self, id: SpanId, end: &SpanEnd<'_>) {
        assert_eq!(id, end.id());
        let mut ended = self.ended.lock().unwrap();
        let entry = ended.entry(id).or_insert((0, false));
        entry.0 += 1;
        entry.1 = false;
    }
}

#[test]
fn every_span_ends_exactly_once_while_shutdown_races() {
    let d = get_dispatcher("shutdown_race");
    let ends = d.add_span_handler(Ends::default());
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                let mut depth_three = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    d.in_span("outer", || {
                        d.in_span("middle", || d.in_span("inner", || depth_three += 1));
                    });
                }
                depth_three
            });
        }
        // Shut down again and again while the workers run, until they have made plenty of spans
        // (however busy the machine is) and at least 200 shutdowns have raced with them.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut shutdowns = 0;
        while (shutdowns < 200 || ends.started.lock().unwrap().len() < 3000)
            && std::time::Instant::now() < deadline
        {
            shutdown();
            shutdowns += 1;
            std::thread::yield_now();
        }
        stop.store(true, Ordering::Relaxed);
    });

    let started = ends.started.lock().unwrap().clone();
    let ended = ends.ended.lock().unwrap();
    assert!(
        started.len() > 300,
        "the workers made spans: {}",
        started.len()
    );
    for id in &started {
        let (count, _) = ended.get(id).unwrap_or_else(|| panic!("{id} never ended"));
        assert_eq!(*count, 1, "{id} ended {count} times");
    }
    assert_eq!(ended.len(), started.len());
    let by_shutdown = ended.values().filter(|(_, exited)| !exited).count();
    println!("{} spans, {by_shutdown} ended by shutdown", started.len());
    assert_eq!(instrument::open_span_count(), 0);
}

/// The same race under the protocol used where `membarrier` is missing (one swap per release).
#[test]
fn the_fallback_protocol_holds_too() {
    if std::env::var_os("INSTRUMENT_NO_MEMBARRIER").is_some() {
        return; // already the child run
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .env("INSTRUMENT_NO_MEMBARRIER", "1")
        .args([
            "every_span_ends_exactly_once_while_shutdown_races",
            "--exact",
            "--test-threads=1",
        ])
        .status()
        .unwrap();
    assert!(status.success());
}
