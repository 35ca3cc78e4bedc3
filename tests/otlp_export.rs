//! `OtlpExporter`: spans reach an OTLP/HTTP receiver as one trace with parent links, times, status
//! and OpenInference attributes; a backend that is down costs retries and counted drops, never the
//! traced code's time; shutdown flushes within its timeout.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use instrument::events::{
    EmbeddingEndEvent, EmbeddingStartEvent, LLMChatEndEvent, LLMChatStartEvent, RetrievalEndEvent,
    RetrievalStartEvent,
};
use instrument::handlers::otlp::proto::{
    ExportTraceServiceRequest, KeyValue, Message, Span, any_value, status,
};
use instrument::handlers::otlp::{OtlpError, OtlpExporter};
use instrument::llm::{ChatMessage, ChatResponse, NodeWithScore, QueryType, TextNode};
use instrument::{Arg, Tags, current_span, get_dispatcher, instrument_tags};
use serde_json::{Map, Value, json};

/// What the receiver answers.
#[derive(Clone, Copy)]
enum Answer {
    /// `503` to the first `n` requests, `200` after.
    FailFirst(usize),
    /// Reads the request and never answers (until the receiver is dropped).
    Hang,
}

/// One request as received.
struct Received {
    path: String,
    content_type: String,
    request: ExportTraceServiceRequest,
}

/// An OTLP/HTTP receiver on 127.0.0.1, on its own thread; it stops when dropped.
struct Receiver {
    address: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, hits, stop) = (received.clone(), hits.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let hit = hits.fetch_add(1, Ordering::AcqRel);
                    serve(stream, answer, hit, &received, &stop);
                }
            })
        };
        Self {
            address,
            received,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::Acquire)
    }

    fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().unwrap())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    stream: TcpStream,
    answer: Answer,
    hit: usize,
    received: &Mutex<Vec<Received>>,
    stop: &AtomicBool,
) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return; // the wake-up connection
    }
    let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
    let (mut length, mut content_type) = (0, String::new());
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap(),
            "content-type" => content_type = value.trim().to_owned(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let mut stream = reader.into_inner();
    let status = match answer {
        Answer::Hang => {
            while !stop.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(5));
            }
            return;
        }
        Answer::FailFirst(n) if hit < n => "503 Service Unavailable",
        Answer::FailFirst(_) => "200 OK",
    };
    if status.starts_with("200") {
        received.lock().unwrap().push(Received {
            path,
            content_type,
            request: ExportTraceServiceRequest::decode(body.as_slice()).unwrap(),
        });
    }
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
    );
}

fn spans(received: &[Received]) -> Vec<Span> {
    received
        .iter()
        .flat_map(|r| &r.request.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.iter().cloned())
        .collect()
}

fn by_name<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "{name}: {spans:#?}");
    found[0]
}

fn value<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn text<'a>(span: &'a Span, key: &str) -> &'a str {
    match value(&span.attributes, key) {
        Some(any_value::Value::StringValue(text)) => text,
        other => panic!("{}: {key} is {other:?}", span.name),
    }
}

fn int(span: &Span, key: &str) -> i64 {
    match value(&span.attributes, key) {
        Some(any_value::Value::IntValue(n)) => *n,
        other => panic!("{}: {key} is {other:?}", span.name),
    }
}

fn double(span: &Span, key: &str) -> f64 {
    match value(&span.attributes, key) {
        Some(any_value::Value::DoubleValue(x)) => *x,
        other => panic!("{}: {key} is {other:?}", span.name),
    }
}

fn json_attr(span: &Span, key: &str) -> Value {
    serde_json::from_str(text(span, key)).unwrap()
}

fn map(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

#[test]
fn a_tree_is_one_trace_with_links_times_and_errors() {
    let receiver = Receiver::start(Answer::FailFirst(0));
    let dispatcher =
        get_dispatcher("tests::otlp_export::a_tree_is_one_trace_with_links_times_and_errors");
    let exporter = OtlpExporter::builder(receiver.url())
        .service_name("rag-server")
        .project_name("rag")
        .build()
        .unwrap();
    exporter.register(dispatcher);

    let root_id = instrument_tags(
        Tags::from([("session_id", "s-1"), ("user_id", "ada")]),
        || {
            let mut query = dispatcher.enter_span(
                "query",
                &[Arg::new("question", &"why?"), Arg::redacted("api_key")],
            );
            let id = query.id().unwrap();
            query.in_scope(|| {
                current_span().record("hits", 2);
                dispatcher.in_span("retrieve", || dispatcher.in_span("embed", || ()));
                dispatcher
                    .enter_span("synthesize", &[])
                    .drop_with(&"model timed out");
            });
            query.exit(Some(Arg::new("return", &"because")));
            id
        },
    );
    exporter.shutdown(Duration::from_secs(5)).unwrap();

    let received = receiver.take();
    assert!(received.iter().all(|r| r.path == "/v1/traces"));
    assert!(
        received
            .iter()
            .all(|r| r.content_type == "application/x-protobuf")
    );
    let resource = received[0].request.resource_spans[0]
        .resource
        .as_ref()
        .unwrap();
    let resource_text = |key| match value(&resource.attributes, key) {
        Some(any_value::Value::StringValue(text)) => text.as_str(),
        other => panic!("{key} is {other:?}"),
    };
    assert_eq!(resource_text("service.name"), "rag-server");
    assert_eq!(resource_text("openinference.project.name"), "rag");
    let scope = &received[0].request.resource_spans[0].scope_spans[0];
    assert_eq!(
        scope.scope.as_ref().unwrap().name,
        "tests::otlp_export::a_tree_is_one_trace_with_links_times_and_errors"
    );

    let spans = spans(&received);
    assert_eq!(spans.len(), 4, "{spans:#?}");
    assert_eq!(exporter.exported_spans(), 4);
    assert_eq!(exporter.dropped_spans(), 0);
    let (query, retrieve, embed, synthesize) = (
        by_name(&spans, "query"),
        by_name(&spans, "retrieve"),
        by_name(&spans, "embed"),
        by_name(&spans, "synthesize"),
    );

    // One trace, named after the root's UUID; span ids are the low 64 bits of each UUID.
    let uuid = root_id.uuid();
    assert_eq!(query.trace_id, uuid.as_bytes().to_vec());
    assert!(spans.iter().all(|s| s.trace_id == query.trace_id));
    assert_eq!(query.span_id, uuid.as_bytes()[8..].to_vec());
    assert!(query.parent_span_id.is_empty());
    assert_eq!(retrieve.parent_span_id, query.span_id);
    assert_eq!(synthesize.parent_span_id, query.span_id);
    assert_eq!(embed.parent_span_id, retrieve.span_id);
    let ids: std::collections::HashSet<_> = spans.iter().map(|s| s.span_id.clone()).collect();
    assert_eq!(ids.len(), 4);

    // Times: children inside their parents, all recent.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    for span in &spans {
        assert!(span.start_time_unix_nano <= span.end_time_unix_nano);
        assert!(now - span.start_time_unix_nano < 60_000_000_000, "{span:?}");
    }
    for (child, parent) in [(retrieve, query), (synthesize, query), (embed, retrieve)] {
        assert!(child.start_time_unix_nano >= parent.start_time_unix_nano);
        assert!(child.end_time_unix_nano <= parent.end_time_unix_nano);
    }

    // Status: the dropped span is an error with its message, the others OK.
    let error = synthesize.status.as_ref().unwrap();
    assert_eq!(error.code, status::StatusCode::Error as i32);
    assert_eq!(error.message, "model timed out");
    for span in [query, retrieve, embed] {
        assert_eq!(
            span.status.as_ref().unwrap().code,
            status::StatusCode::Ok as i32
        );
    }

    // The span's own attributes.
    assert_eq!(text(query, "openinference.span.kind"), "CHAIN");
    assert_eq!(
        json_attr(query, "input.value"),
        json!({"question": "why?", "api_key": "[REDACTED]"})
    );
    assert_eq!(text(query, "input.mime_type"), "application/json");
    assert_eq!(text(query, "output.value"), "because");
    assert_eq!(json_attr(query, "metadata"), json!({"hits": 2}));
    assert_eq!(text(query, "session.id"), "s-1");
    assert_eq!(text(query, "user.id"), "ada");
    match value(&query.attributes, "tag.tags") {
        Some(any_value::Value::ArrayValue(list)) => assert_eq!(list.values.len(), 2),
        other => panic!("tag.tags is {other:?}"),
    }
}

#[test]
fn a_pipeline_gets_openinference_attributes() {
    let receiver = Receiver::start(Answer::FailFirst(0));
    let dispatcher = get_dispatcher("tests::otlp_export::a_pipeline_gets_openinference_attributes");
    let exporter = OtlpExporter::new(receiver.url()).unwrap();
    exporter.register(dispatcher);

    let nodes = vec![
        NodeWithScore::new(
            TextNode::new("Spans nest.")
                .with_id("n1")
                .with_metadata("file", "a.md"),
            0.9,
        ),
        NodeWithScore::new(TextNode::new("Events mark moments.").with_id("n2"), 0.5),
    ];
    dispatcher.in_span("query", || {
        dispatcher.in_span("retrieve", || {
            let query = QueryType::Str("what is a span?".into());
            dispatcher.event(RetrievalStartEvent {
                str_or_query_bundle: query.clone(),
            });
            dispatcher.in_span("embed", || {
                dispatcher.event(EmbeddingStartEvent {
                    model_dict: map(json!({"model_name": "text-embedding-3-small"})),
                });
                dispatcher.event(EmbeddingEndEvent {
                    chunks: vec!["what is a span?".into()],
                    embeddings: vec![vec![0.25, -0.5, 1.0]],
                });
            });
            dispatcher.event(RetrievalEndEvent {
                str_or_query_bundle: query,
                nodes: nodes.clone(),
            });
        });
        dispatcher.in_span("chat", || {
            let messages = vec![
                ChatMessage::system("Be brief."),
                ChatMessage::user("What is a span?"),
            ];
            dispatcher.event(LLMChatStartEvent {
                messages: messages.clone(),
                additional_kwargs: map(json!({"temperature": 0.1})),
                model_dict: map(json!({"model": "gpt-4o-mini", "class_name": "OpenAI"})),
            });
            dispatcher.event(LLMChatEndEvent {
                messages,
                response: Some(
                    ChatResponse::new(ChatMessage::assistant("A unit of work."))
                        .with_raw(json!({"usage": {"prompt_tokens": 12, "completion_tokens": 5}})),
                ),
            });
        });
    });
    exporter.flush(Duration::from_secs(5)).unwrap();

    let spans = spans(&receiver.take());
    assert_eq!(spans.len(), 4, "{spans:#?}");
    assert_eq!(
        text(by_name(&spans, "query"), "openinference.span.kind"),
        "CHAIN"
    );

    let chat = by_name(&spans, "chat");
    assert_eq!(text(chat, "openinference.span.kind"), "LLM");
    assert_eq!(text(chat, "llm.model_name"), "gpt-4o-mini");
    assert_eq!(text(chat, "llm.provider"), "openai");
    assert_eq!(
        json_attr(chat, "llm.invocation_parameters"),
        json!({"model": "gpt-4o-mini", "temperature": 0.1})
    );
    assert_eq!(text(chat, "llm.input_messages.0.message.role"), "system");
    assert_eq!(
        text(chat, "llm.input_messages.0.message.content"),
        "Be brief."
    );
    assert_eq!(text(chat, "llm.input_messages.1.message.role"), "user");
    assert_eq!(
        text(chat, "llm.input_messages.1.message.content"),
        "What is a span?"
    );
    assert_eq!(
        text(chat, "llm.output_messages.0.message.role"),
        "assistant"
    );
    assert_eq!(
        text(chat, "llm.output_messages.0.message.content"),
        "A unit of work."
    );
    assert_eq!(int(chat, "llm.token_count.prompt"), 12);
    assert_eq!(int(chat, "llm.token_count.completion"), 5);
    assert_eq!(int(chat, "llm.token_count.total"), 17);
    assert_eq!(
        json_attr(chat, "input.value")[1]["content"],
        "What is a span?"
    );
    assert_eq!(text(chat, "input.mime_type"), "application/json");
    assert_eq!(text(chat, "output.value"), "A unit of work.");
    let event_names: Vec<_> = chat.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(event_names, ["LLMChatStartEvent", "LLMChatEndEvent"]);

    let retrieve = by_name(&spans, "retrieve");
    assert_eq!(text(retrieve, "openinference.span.kind"), "RETRIEVER");
    assert_eq!(text(retrieve, "input.value"), "what is a span?");
    assert_eq!(text(retrieve, "retrieval.documents.0.document.id"), "n1");
    assert_eq!(
        text(retrieve, "retrieval.documents.0.document.content"),
        "Spans nest."
    );
    assert_eq!(
        double(retrieve, "retrieval.documents.0.document.score"),
        0.9
    );
    assert_eq!(
        json_attr(retrieve, "retrieval.documents.0.document.metadata"),
        json!({"file": "a.md"})
    );
    assert_eq!(text(retrieve, "retrieval.documents.1.document.id"), "n2");
    assert_eq!(
        double(retrieve, "retrieval.documents.1.document.score"),
        0.5
    );

    let embed = by_name(&spans, "embed");
    assert_eq!(text(embed, "openinference.span.kind"), "EMBEDDING");
    assert_eq!(
        text(embed, "embedding.model_name"),
        "text-embedding-3-small"
    );
    assert_eq!(
        text(embed, "embedding.embeddings.0.embedding.text"),
        "what is a span?"
    );
    match value(&embed.attributes, "embedding.embeddings.0.embedding.vector") {
        Some(any_value::Value::ArrayValue(list)) => {
            let vector: Vec<_> = list
                .values
                .iter()
                .map(|v| match v.value {
                    Some(any_value::Value::DoubleValue(x)) => x,
                    _ => panic!("{v:?}"),
                })
                .collect();
            assert_eq!(vector, [0.25, -0.5, 1.0]);
        }
        other => panic!("vector is {other:?}"),
    }
    exporter.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn failed_requests_are_retried() {
    let receiver = Receiver::start(Answer::FailFirst(2));
    let dispatcher = get_dispatcher("tests::otlp_export::failed_requests_are_retried");
    let exporter = OtlpExporter::builder(receiver.url())
        .backoff(Duration::from_millis(10), Duration::from_millis(40))
        .max_attempts(5)
        .build()
        .unwrap();
    exporter.register(dispatcher);

    for _ in 0..3 {
        dispatcher.in_span("work", || ());
    }
    exporter.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(receiver.hits(), 3, "two 503s, then a success");
    assert_eq!(spans(&receiver.take()).len(), 3);
    assert_eq!(exporter.exported_spans(), 3);
    assert_eq!(exporter.dropped_spans(), 0);
}

/// Records `n` spans and returns how long the traced code took.
fn record_spans(dispatcher: &'static instrument::Dispatcher, n: usize) -> Duration {
    let began = Instant::now();
    for i in 0..n {
        dispatcher.in_span("work", || std::hint::black_box(i));
    }
    began.elapsed()
}

#[test]
fn an_unavailable_backend_costs_counted_drops_not_time() {
    let receiver = Receiver::start(Answer::FailFirst(usize::MAX));
    let dispatcher =
        get_dispatcher("tests::otlp_export::an_unavailable_backend_costs_counted_drops_not_time");
    let exporter = OtlpExporter::builder(receiver.url())
        .queue_capacity(16)
        .max_batch_size(4)
        .max_delay(Duration::from_millis(1))
        .max_attempts(3)
        .backoff(Duration::from_millis(100), Duration::from_millis(200))
        .build()
        .unwrap();
    exporter.register(dispatcher);

    let took = record_spans(dispatcher, 2_000);
    assert!(
        took < Duration::from_secs(1),
        "the traced code waited {took:?}"
    );
    let began = Instant::now();
    let result = exporter.shutdown(Duration::from_secs(2));
    assert!(
        matches!(result, Err(OtlpError::Export(_) | OtlpError::Timeout(_))),
        "{result:?}"
    );
    assert!(began.elapsed() < Duration::from_millis(2500));
    assert!(
        receiver.hits() >= 3,
        "retried: {} requests",
        receiver.hits()
    );
    assert_eq!(exporter.exported_spans(), 0);
    // Most spans did not fit in the queue while the worker was retrying; all are counted.
    assert!(
        exporter.dropped_spans() >= 1_000,
        "{}",
        exporter.dropped_spans()
    );
}

#[test]
fn a_refused_connection_costs_counted_drops_not_time() {
    // A port nothing listens on: bind, note it, close.
    let address = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dispatcher =
        get_dispatcher("tests::otlp_export::a_refused_connection_costs_counted_drops_not_time");
    let exporter = OtlpExporter::builder(format!("http://{address}"))
        .queue_capacity(16)
        .max_batch_size(4)
        .max_delay(Duration::from_millis(1))
        .max_attempts(3)
        .backoff(Duration::from_millis(20), Duration::from_millis(40))
        .build()
        .unwrap();
    exporter.register(dispatcher);

    let took = record_spans(dispatcher, 2_000);
    assert!(
        took < Duration::from_secs(1),
        "the traced code waited {took:?}"
    );
    let result = exporter.shutdown(Duration::from_secs(2));
    assert!(matches!(result, Err(OtlpError::Export(_))), "{result:?}");
    assert_eq!(exporter.exported_spans(), 0);
    assert_eq!(exporter.dropped_spans(), 2_000);
}

#[test]
fn shutdown_flushes_within_its_timeout() {
    let receiver = Receiver::start(Answer::FailFirst(0));
    let dispatcher = get_dispatcher("tests::otlp_export::shutdown_flushes_within_its_timeout");
    let exporter = OtlpExporter::builder(receiver.url())
        .max_delay(Duration::from_secs(600))
        .max_batch_size(10_000)
        .build()
        .unwrap();
    exporter.register(dispatcher);

    record_spans(dispatcher, 50);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(receiver.hits(), 0, "nothing is due before the flush");
    let began = Instant::now();
    exporter.shutdown(Duration::from_secs(2)).unwrap();
    assert!(began.elapsed() < Duration::from_secs(2));
    assert_eq!(spans(&receiver.take()).len(), 50);
    assert_eq!(exporter.exported_spans(), 50);

    // Shut down: a second call does nothing, flushing is refused, later spans are counted.
    exporter.shutdown(Duration::from_secs(1)).unwrap();
    assert!(matches!(
        exporter.flush(Duration::from_secs(1)),
        Err(OtlpError::Stopped)
    ));
    record_spans(dispatcher, 5);
    assert_eq!(exporter.dropped_spans(), 5);
}

#[test]
fn shutdown_gives_up_at_its_timeout() {
    let receiver = Receiver::start(Answer::Hang);
    let dispatcher = get_dispatcher("tests::otlp_export::shutdown_gives_up_at_its_timeout");
    let exporter = OtlpExporter::builder(receiver.url())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    exporter.register(dispatcher);

    record_spans(dispatcher, 3);
    let began = Instant::now();
    let result = exporter.shutdown(Duration::from_millis(300));
    let took = began.elapsed();
    assert!(matches!(result, Err(OtlpError::Timeout(_))), "{result:?}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[test]
fn bad_endpoints_are_refused() {
    for bad in [
        "localhost:6006",
        "https://phoenix.example",
        "http://host:99999",
    ] {
        assert!(
            matches!(OtlpExporter::new(bad), Err(OtlpError::Endpoint { .. })),
            "{bad}"
        );
    }
    let exporter = OtlpExporter::new("http://127.0.0.1:6006/").unwrap();
    assert_eq!(exporter.url(), "http://127.0.0.1:6006/v1/traces");
    exporter.shutdown(Duration::from_secs(1)).unwrap();
}
