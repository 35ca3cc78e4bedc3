//! Span ids (the low 64 bits of a span's UUID, exported as the OTLP span id and sent as the
//! `traceparent` parent-id) do not repeat, within a process or across processes.

use std::collections::HashSet;

use instrument::{SpanId, TraceParent};

/// Ids each child process makes.
const PER_PROCESS: usize = 2_000;
/// Child processes started.
const PROCESSES: usize = 6;

/// In a child run: prints the span ids of `PER_PROCESS` fresh spans, one hex id a line.
#[test]
fn child_prints_span_ids() {
    if std::env::var_os("INSTRUMENT_PRINT_SPAN_IDS").is_none() {
        return; // only as a child of the test below
    }
    for _ in 0..PER_PROCESS {
        let id = TraceParent::parent_id_for(&SpanId::new("work"));
        println!("span-id {}", u64::from_be_bytes(id));
    }
}

#[test]
fn span_ids_do_not_repeat_across_processes() {
    if std::env::var_os("INSTRUMENT_PRINT_SPAN_IDS").is_some() {
        return;
    }
    let mut seen = HashSet::new();
    let mut firsts = HashSet::new();
    for _ in 0..PROCESSES {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .env("INSTRUMENT_PRINT_SPAN_IDS", "1")
            .args(["child_prints_span_ids", "--exact", "--nocapture"])
            .output()
            .unwrap();
        assert!(output.status.success());
        let ids: Vec<u64> = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter_map(|line| line.strip_prefix("span-id "))
            .map(|id| id.parse().unwrap())
            .collect();
        assert_eq!(ids.len(), PER_PROCESS);
        firsts.insert(ids[0]);
        for id in ids {
            assert_ne!(id, 0, "a span id is never all zeros");
            assert!(seen.insert(id), "span id {id:016x} repeated");
        }
    }
    assert_eq!(
        firsts.len(),
        PROCESSES,
        "every process starts somewhere else"
    );
}

#[test]
fn span_ids_do_not_repeat_within_a_process_across_threads() {
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                (0..10_000)
                    .map(|_| u64::from_be_bytes(TraceParent::parent_id_for(&SpanId::new("w"))))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for thread in threads {
        for id in thread.join().unwrap() {
            assert!(seen.insert(id), "span id {id:016x} repeated");
        }
    }
    assert_eq!(seen.len(), 40_000);
}

const NAMES_CHILD: &str = "INSTRUMENT_NAMES_CHILD";

/// The child's work: parses span ids with more distinct names than the table holds.
#[test]
fn names_child() {
    if std::env::var(NAMES_CHILD).is_err() {
        return; // only in the child process: the table of names is process-wide
    }
    let uuid = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736";
    let mut refused = 0;
    for i in 0..instrument::MAX_INTERNED_NAMES + 10 {
        if format!("name{i}-{uuid}")
            .parse::<instrument::SpanId>()
            .is_err()
        {
            refused += 1;
        }
    }
    println!(
        "names refused={refused} counted={}",
        instrument::interned_names_refused()
    );
}

#[test]
fn a_full_table_of_names_is_counted_and_reported_not_silent() {
    if std::env::var(NAMES_CHILD).is_ok() {
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["names_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(NAMES_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("names refused=10 counted=10"), "{stdout}");
    // Reported once, on the first refusal.
    assert_eq!(stderr.matches("distinct span names").count(), 1, "{stderr}");
}
