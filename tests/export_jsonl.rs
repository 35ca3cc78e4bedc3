//! `JsonlExporter`: one line per span, read back whole; a full queue drops and counts, never blocks.

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use instrument::handlers::export::{
    ExportError, ExportedSpan, JsonlExporter, SpanStatus, read_jsonl,
};
use instrument::{Arg, Tags, current_span, get_dispatcher, instrument_tags};
use serde_json::json;

#[derive(instrument::Event, serde::Serialize)]
struct CacheHit {
    key: String,
}

/// A file path for one test, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "instrument-export-jsonl-{name}-{}.jsonl",
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

fn by_name<'a>(spans: &'a [ExportedSpan], name: &str) -> &'a ExportedSpan {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "{name}: {spans:#?}");
    found[0]
}

#[test]
fn a_tree_of_spans_reads_back_whole() {
    let file = TempFile::new("tree");
    let dispatcher = get_dispatcher("tests::export_jsonl::a_tree_of_spans_reads_back_whole");
    let exporter = JsonlExporter::create(&file.0).unwrap();
    exporter.register(dispatcher);

    let top_k = 3usize;
    let (query_id, retrieve_id) = instrument_tags(Tags::from([("user", "ada")]), || {
        let mut query = dispatcher.enter_span("query", &[Arg::new("question", &"why?")]);
        let query_id = query.id().unwrap();
        let retrieve_id = query.in_scope(|| {
            let mut retrieve = dispatcher.enter_span(
                "retrieve",
                &[Arg::new("top_k", &top_k), Arg::redacted("api_key")],
            );
            let id = retrieve.id().unwrap();
            retrieve.in_scope(|| {
                current_span().record("hits", 2);
                dispatcher.event(CacheHit { key: "q".into() });
                dispatcher.in_span("embed", || ());
            });
            retrieve.exit(None);
            let synthesize = dispatcher.enter_span("synthesize", &[]);
            synthesize.drop_with(&"model timed out");
            id
        });
        query.exit(None);
        (query_id, retrieve_id)
    });
    exporter.flush().unwrap();

    let spans = read_jsonl(&file.0).unwrap();
    assert_eq!(spans.len(), 4, "{spans:#?}");
    assert_eq!(exporter.written(), 4);
    assert_eq!(exporter.dropped(), 0);

    let query = by_name(&spans, "query");
    let retrieve = by_name(&spans, "retrieve");
    let embed = by_name(&spans, "embed");
    let synthesize = by_name(&spans, "synthesize");

    // Parents and traces.
    assert_eq!(query.span_id, query_id.to_string());
    assert_eq!(retrieve.span_id, retrieve_id.to_string());
    assert_eq!(query.parent_id, None);
    assert_eq!(retrieve.parent_id.as_ref(), Some(&query.span_id));
    assert_eq!(embed.parent_id.as_ref(), Some(&retrieve.span_id));
    assert_eq!(synthesize.parent_id.as_ref(), Some(&query.span_id));
    // The trace is the root's: its UUID as 32 hex digits, as OTLP and `traceparent` write it.
    let trace = query_id.uuid().simple().to_string();
    for span in &spans {
        assert_eq!(span.trace_id.as_ref(), Some(&trace), "{}", span.name);
        assert_eq!(span.dispatcher, dispatcher.name());
        // Times ordered, inside the parent.
        assert!(span.start_unix_nano <= span.end_unix_nano, "{span:?}");
        assert!(span.duration_ns <= span.end_unix_nano - span.start_unix_nano + 1_000);
        assert!(span.start_unix_nano >= query.start_unix_nano, "{span:?}");
        assert!(span.end_unix_nano <= query.end_unix_nano, "{span:?}");
        assert_eq!(span.attributes.tags["user"], json!("ada"));
    }
    assert!(embed.start_unix_nano >= retrieve.start_unix_nano);
    assert!(synthesize.start_unix_nano >= retrieve.end_unix_nano);

    // Arguments, metadata, events; the redacted argument stays redacted.
    assert_eq!(query.attributes.args["question"], json!("why?"));
    assert_eq!(retrieve.attributes.args["top_k"], json!(3));
    assert_eq!(retrieve.attributes.args["api_key"], json!("[REDACTED]"));
    assert_eq!(retrieve.attributes.metadata["hits"], json!(2));
    assert_eq!(retrieve.events.len(), 1, "{:?}", retrieve.events);
    let event = &retrieve.events[0];
    assert_eq!(event.name, "CacheHit");
    assert_eq!(event.attributes, json!({"key": "q"}));
    assert!(retrieve.start_unix_nano <= event.time_unix_nano);
    assert!(event.time_unix_nano <= retrieve.end_unix_nano);
    assert!(embed.events.is_empty());

    // Status and error.
    assert_eq!(query.status, SpanStatus::Ok);
    assert_eq!(query.error, None);
    assert_eq!(synthesize.status, SpanStatus::Error);
    assert_eq!(synthesize.error.as_deref(), Some("model timed out"));
    // The drop is also an event inside the dropped span.
    assert_eq!(synthesize.events.len(), 1);
    assert_eq!(synthesize.events[0].name, "SpanDropEvent");
}

#[test]
fn each_line_is_one_json_object() {
    let file = TempFile::new("lines");
    let dispatcher = get_dispatcher("tests::export_jsonl::each_line_is_one_json_object");
    let exporter = JsonlExporter::create(&file.0).unwrap();
    exporter.register(dispatcher);
    dispatcher.in_span("a", || dispatcher.in_span("b", || ()));
    exporter.flush().unwrap();
    let text = std::fs::read_to_string(&file.0).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        for key in [
            "span_id",
            "parent_id",
            "name",
            "trace_id",
            "start_unix_nano",
            "end_unix_nano",
            "duration_ns",
            "status",
            "attributes",
            "events",
        ] {
            assert!(line.get(key).is_some(), "{key} missing in {line}");
        }
        assert_eq!(line["status"], "ok");
    }
}

/// A writer whose writes wait until it is released, and which says when one starts waiting.
#[derive(Clone)]
struct BlockingWriter {
    released: Arc<(Mutex<bool>, Condvar)>,
    entered: mpsc::SyncSender<()>,
    written: Arc<Mutex<Vec<u8>>>,
}

impl Write for BlockingWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let _ = self.entered.try_send(());
        let (lock, released) = &*self.released;
        let mut open = lock.lock().unwrap();
        while !*open {
            open = released.wait(open).unwrap();
        }
        self.written.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_full_queue_drops_and_counts_instead_of_blocking() {
    let dispatcher =
        get_dispatcher("tests::export_jsonl::a_full_queue_drops_and_counts_instead_of_blocking");
    let released = Arc::new((Mutex::new(false), Condvar::new()));
    let (entered, has_entered) = mpsc::sync_channel(1);
    let written = Arc::new(Mutex::new(Vec::new()));
    let writer = BlockingWriter {
        released: Arc::clone(&released),
        entered,
        written: Arc::clone(&written),
    };
    let exporter = JsonlExporter::with_capacity(writer, 8).unwrap();
    exporter.register(dispatcher);

    // The first span reaches the writer, which then blocks in `write`.
    dispatcher.in_span("first", || ());
    has_entered
        .recv_timeout(Duration::from_secs(10))
        .expect("the writer thread never wrote");

    let started = Instant::now();
    for _ in 0..200 {
        dispatcher.in_span("flood", || ());
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "recording blocked: {:?}",
        started.elapsed()
    );
    assert!(exporter.dropped() > 0);

    {
        let (lock, cvar) = &*released;
        *lock.lock().unwrap() = true;
        cvar.notify_all();
    }
    exporter.flush().unwrap();
    assert_eq!(exporter.written() + exporter.dropped(), 201);
    let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
    let lines = text.lines().count() as u64;
    assert_eq!(lines, exporter.written());
    assert!((1..201).contains(&lines), "{lines}");
}

#[test]
fn a_malformed_line_is_an_error_with_its_number() {
    let file = TempFile::new("malformed");
    let dispatcher =
        get_dispatcher("tests::export_jsonl::a_malformed_line_is_an_error_with_its_number");
    let exporter = JsonlExporter::create(&file.0).unwrap();
    exporter.register(dispatcher);
    dispatcher.in_span("fine", || ());
    exporter.flush().unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file.0)
        .unwrap()
        .write_all(b"\n{\"not\": \"a span\"}\n")
        .unwrap();
    match read_jsonl(&file.0) {
        Err(ExportError::Json { path, line, .. }) => {
            assert_eq!(path, file.0);
            assert_eq!(line, 3);
        }
        other => panic!("expected a JSON error, got {other:?}"),
    }
}

#[test]
fn a_missing_file_is_an_io_error_with_its_path() {
    let file = TempFile::new("missing");
    let error = read_jsonl(&file.0).unwrap_err();
    assert!(
        matches!(&error, ExportError::Io { path, .. } if *path == file.0),
        "{error:?}"
    );
    assert!(error.to_string().contains(&*file.0.to_string_lossy()));
}

#[derive(serde::Serialize)]
struct Answer {
    text: String,
    api_key: String,
}

#[instrument::span(dispatcher = "tests::export_jsonl::results")]
fn answer(question: &str) -> Result<Answer, String> {
    if question.is_empty() {
        return Err("empty question".into());
    }
    Ok(Answer {
        text: format!("because {question}"),
        api_key: "sk-secret".into(),
    })
}

#[test]
fn lines_carry_the_return_value_redacted_like_everything_else() {
    let file = TempFile::new("results");
    let dispatcher = get_dispatcher("tests::export_jsonl::results");
    let exporter = JsonlExporter::create(&file.0).unwrap();
    exporter.register(dispatcher);
    assert!(answer("why").is_ok());
    assert!(answer("").is_err());
    exporter.flush().unwrap();

    let spans = read_jsonl(&file.0).unwrap();
    assert_eq!(spans.len(), 2);
    assert_eq!(
        spans[0].attributes.result,
        Some(json!({"text": "because why", "api_key": "[REDACTED]"}))
    );
    // A dropped span returned nothing to record.
    assert_eq!(spans[1].attributes.result, None);
    assert_eq!(spans[1].error.as_deref(), Some("empty question"));
    let text = std::fs::read_to_string(&file.0).unwrap();
    assert!(!text.contains("sk-secret"));
}
