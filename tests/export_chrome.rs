//! `ChromeTraceExporter`: a trace that Perfetto opens, one "X" event per span, bounded.

use std::path::PathBuf;

use instrument::handlers::export::ChromeTraceExporter;
use instrument::{Arg, current_span, get_dispatcher};
use serde_json::Value;

#[derive(instrument::Event, serde::Serialize)]
struct Token {
    text: String,
}

/// A file path for one test, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "instrument-export-chrome-{name}-{}.json",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn events_with_ph<'a>(trace: &'a Value, ph: &str) -> Vec<&'a Value> {
    trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["ph"] == ph)
        .collect()
}

fn named<'a>(events: &[&'a Value], name: &str) -> &'a Value {
    let found: Vec<_> = events.iter().filter(|e| e["name"] == name).collect();
    assert_eq!(found.len(), 1, "{name}");
    found[0]
}

#[test]
fn spans_from_two_threads_become_complete_events() {
    let file = TempFile::new("two_threads");
    let dispatcher = get_dispatcher("tests::export_chrome::spans_from_two_threads");
    let exporter = ChromeTraceExporter::new();
    exporter.register(dispatcher);

    let question = "why?";
    let mut query = dispatcher.enter_span(
        "query",
        &[Arg::new("question", &question), Arg::redacted("api_key")],
    );
    query.in_scope(|| {
        current_span().record("hits", 2);
        dispatcher.event(Token { text: "hi".into() });
        instrument::thread::spawn(move || dispatcher.in_span("worker", || ()))
            .join()
            .unwrap();
    });
    query.exit(None);
    dispatcher.enter_span("fails", &[]).drop_with(&"boom");
    exporter.write_to(&file.0).unwrap();

    let trace: Value = serde_json::from_str(&std::fs::read_to_string(&file.0).unwrap()).unwrap();
    assert_eq!(trace["displayTimeUnit"], "ms");
    let complete = events_with_ph(&trace, "X");
    assert_eq!(complete.len(), 3);
    for event in &complete {
        for key in ["name", "cat", "ph", "ts", "dur", "pid", "tid", "args"] {
            assert!(event.get(key).is_some(), "{key} missing in {event}");
        }
        assert_eq!(event["cat"], dispatcher.name());
        assert_eq!(event["pid"], std::process::id());
        assert!(event["ts"].as_f64().unwrap() >= 0.0);
        assert!(event["dur"].as_f64().unwrap() >= 0.0);
    }
    let query = named(&complete, "query");
    let worker = named(&complete, "worker");
    let fails = named(&complete, "fails");
    assert_ne!(query["tid"], worker["tid"]);
    assert_eq!(query["tid"], fails["tid"]);
    assert_eq!(worker["args"]["parent_id"], query["args"]["span_id"]);
    assert_eq!(query["args"]["args"]["question"], "why?");
    assert_eq!(query["args"]["args"]["api_key"], "[REDACTED]");
    assert_eq!(query["args"]["metadata"]["hits"], 2);
    assert_eq!(fails["args"]["error"], "boom");
    // The worker ran inside the query.
    let (q_ts, q_dur) = (
        query["ts"].as_f64().unwrap(),
        query["dur"].as_f64().unwrap(),
    );
    let w_ts = worker["ts"].as_f64().unwrap();
    assert!(q_ts <= w_ts && w_ts <= q_ts + q_dur);

    let instants = events_with_ph(&trace, "i");
    let token = named(&instants, "Token");
    assert_eq!(token["tid"], query["tid"]);
    assert_eq!(token["args"]["event"]["text"], "hi");
    assert_eq!(token["args"]["span_id"], query["args"]["span_id"]);
    // The drop of "fails" is an event inside it, too.
    assert_eq!(
        named(&instants, "SpanDropEvent")["args"]["span_id"],
        fails["args"]["span_id"]
    );

    let threads = events_with_ph(&trace, "M");
    assert!(
        threads.iter().any(|m| m["tid"] == worker["tid"]),
        "{threads:?}"
    );
}

#[test]
fn a_full_exporter_keeps_its_capacity_and_counts_the_rest() {
    let dispatcher = get_dispatcher("tests::export_chrome::a_full_exporter");
    let exporter = ChromeTraceExporter::with_capacity(3);
    exporter.register(dispatcher);
    for _ in 0..10 {
        dispatcher.in_span("s", || ());
    }
    assert_eq!(exporter.len(), 3);
    assert_eq!(exporter.dropped(), 7);
    let trace = exporter.to_json();
    assert_eq!(events_with_ph(&trace, "X").len(), 3);
    // Writing keeps what was kept.
    let mut out = Vec::new();
    exporter.write(&mut out).unwrap();
    let again: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(events_with_ph(&again, "X").len(), 3);
}
