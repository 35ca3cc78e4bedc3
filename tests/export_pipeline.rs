//! One export pipeline feeding JSON Lines and OTLP at once: both show the same spans with the same
//! trace ids, parents and times, for a local trace and for one continued from a `traceparent`.

use std::collections::BTreeMap;
use std::time::Duration;

use instrument::handlers::export::otlp::OtlpConfig;
use instrument::handlers::export::{ChromeTraceExporter, ExportPipeline, read_jsonl};
use instrument::{
    capture_propagation_context, extract_traceparent, get_dispatcher, with_propagation_context,
};

#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;
use otlp_receiver::{Answer, Receiver, spans};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Span name → (trace id, parent span id as 16 hex digits or "", start, end).
type Seen = BTreeMap<String, (String, String, u64, u64)>;

#[test]
fn jsonl_and_otlp_from_one_pipeline_agree() {
    let receiver = Receiver::start(Answer::OK);
    let path = std::env::temp_dir().join(format!(
        "instrument-test-pipeline-{}.jsonl",
        std::process::id()
    ));
    let pipeline = ExportPipeline::builder()
        .jsonl_file(&path)
        .unwrap()
        .otlp(&OtlpConfig::collector(&receiver.url()))
        .unwrap()
        .build()
        .unwrap();
    let dispatcher = get_dispatcher("tests::export_pipeline::jsonl_and_otlp_agree");
    pipeline.register(dispatcher);
    // The Chrome trace writer keeps its own buffers, and names the same traces.
    let chrome = ChromeTraceExporter::new();
    chrome.register(dispatcher);

    dispatcher.in_span("query", || {
        dispatcher.in_span("retrieve", || dispatcher.in_span("embed", || ()));
        dispatcher.in_span("synthesize", || ());
    });
    // A request from another service: its spans continue the caller's trace.
    let upstream = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let remote = extract_traceparent(upstream, None).unwrap();
    let _attached = remote.attach();
    let carried = dispatcher.in_span("handle", || {
        dispatcher.in_span("lookup", || ());
        capture_propagation_context().to_json()
    });
    drop(_attached);
    // The request's context carried as JSON to a worker: its span joins the same trace.
    let text = carried.to_string();
    std::thread::spawn(move || {
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        with_propagation_context(&value, || dispatcher.in_span("background", || ())).unwrap();
    })
    .join()
    .unwrap();

    pipeline.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(pipeline.sinks(), [("jsonl", 7, 0), ("otlp", 7, 0)]);

    let from_jsonl: Seen = read_jsonl(&path)
        .unwrap()
        .into_iter()
        .map(|span| {
            // `name-uuid`: the OTLP span id is the UUID's low 64 bits, its last 16 hex digits.
            let parent = span
                .parent_id
                .map(|parent| {
                    parent.replace('-', "")[parent.replace('-', "").len() - 16..].to_owned()
                })
                .unwrap_or_default();
            (
                span.name,
                (
                    span.trace_id.unwrap(),
                    parent,
                    span.start_unix_nano,
                    span.end_unix_nano,
                ),
            )
        })
        .collect();
    std::fs::remove_file(&path).ok();
    let from_otlp: Seen = spans(&receiver.take())
        .into_iter()
        .map(|span| {
            (
                span.name,
                (
                    hex(&span.trace_id),
                    hex(&span.parent_span_id),
                    span.start_time_unix_nano,
                    span.end_time_unix_nano,
                ),
            )
        })
        .collect();
    assert_eq!(from_jsonl.len(), 7);
    assert_eq!(from_jsonl, from_otlp);
    let chrome_path = path.with_extension("trace.json");
    chrome.write_to(&chrome_path).unwrap();
    let trace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&chrome_path).unwrap()).unwrap();
    std::fs::remove_file(&chrome_path).ok();
    let complete: Vec<_> = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["ph"] == "X")
        .collect();
    assert_eq!(complete.len(), 7);
    for event in complete {
        let name = event["name"].as_str().unwrap();
        assert_eq!(
            event["args"]["trace_id"],
            from_otlp[name].0.as_str(),
            "{name}"
        );
    }

    let trace = |name: &str| from_otlp[name].0.clone();
    for name in ["retrieve", "embed", "synthesize"] {
        assert_eq!(trace(name), trace("query"), "{name}");
    }
    assert_eq!(trace("handle"), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(trace("lookup"), trace("handle"));
    assert_eq!(
        from_otlp["handle"].1, "00f067aa0ba902b7",
        "the remote span is the parent"
    );
    assert_ne!(trace("handle"), trace("query"));
    assert_eq!(trace("background"), trace("handle"));
    // Its parent is `handle`, as `lookup`'s is.
    assert_eq!(from_otlp["background"].1, from_otlp["lookup"].1);
}

#[test]
fn a_hanging_otlp_backend_does_not_hold_up_the_jsonl_file() {
    let receiver = Receiver::start(Answer::Hang);
    let path = std::env::temp_dir().join(format!(
        "instrument-test-pipeline-hang-{}.jsonl",
        std::process::id()
    ));
    let pipeline = ExportPipeline::builder()
        .jsonl_file(&path)
        .unwrap()
        .otlp(
            &OtlpConfig::collector(&receiver.url())
                .max_batch_size(10)
                .max_delay(Duration::from_millis(1))
                .timeout(Duration::from_secs(60)),
        )
        .unwrap()
        .build()
        .unwrap();
    let dispatcher = get_dispatcher("tests::export_pipeline::hanging_backend");
    pipeline.register(dispatcher);

    // The first batch goes out and hangs; meanwhile every span still reaches the file.
    for _ in 0..200 {
        dispatcher.in_span("work", || ());
    }
    let waited = std::time::Instant::now();
    let mut lines = 0;
    while waited.elapsed() < Duration::from_secs(10) {
        lines = std::fs::read_to_string(&path).unwrap().lines().count();
        if lines == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(lines, 200, "the file is held up by the OTLP backend");
    // The first batch reaches the backend (and hangs there); on a loaded machine, a moment later.
    while receiver.hits() == 0 && waited.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(receiver.hits() >= 1);
    let result = pipeline.shutdown(Duration::from_millis(200));
    assert!(
        result.is_err(),
        "the OTLP sink could not finish: {result:?}"
    );
    std::fs::remove_file(&path).ok();
}
