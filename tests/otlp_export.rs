//! `OtlpExporter`: spans reach an OTLP/HTTP receiver as one trace with parent links, times, status
//! and OpenInference attributes; a backend that is down costs retries and counted drops, never the
//! traced code's time; shutdown flushes within its timeout.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use instrument::events::{
    EmbeddingEndEvent, EmbeddingStartEvent, LLMChatEndEvent, LLMChatStartEvent, RetrievalEndEvent,
    RetrievalStartEvent,
};
use instrument::handlers::export::otlp::proto::{KeyValue, Span, any_value, status};
use instrument::handlers::export::otlp::{Compression, OtlpError, OtlpExporter};
use instrument::llm::{ChatMessage, ChatResponse, NodeWithScore, QueryType, TextNode};
use instrument::{Arg, Tags, current_span, get_dispatcher, instrument_tags};
use serde_json::{Map, Value, json};

#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;
use otlp_receiver::{Answer, Receiver, Tls, spans};

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
    let receiver = Receiver::start(Answer::OK);
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
            .all(|r| r.header("content-type") == Some("application/x-protobuf"))
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
    let receiver = Receiver::start(Answer::OK);
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
fn llm_and_embedding_spans_also_carry_genai_attributes() {
    use instrument::handlers::tracing_bridge::InstrumentLayer;
    use tracing_subscriber::layer::SubscriberExt;

    let receiver = Receiver::start(Answer::OK);
    let name = "tests::otlp_export::llm_and_embedding_spans_also_carry_genai_attributes";
    let dispatcher = get_dispatcher(name);
    let exporter = OtlpExporter::new(receiver.url()).unwrap();
    exporter.register(dispatcher);

    // A native chat and embedding call.
    dispatcher.in_span("chat", || {
        let messages = vec![ChatMessage::user("What is a span?")];
        dispatcher.event(LLMChatStartEvent {
            messages: messages.clone(),
            additional_kwargs: map(json!({"temperature": 0.1})),
            model_dict: map(json!({"model": "gemini-2.0-flash", "class_name": "Gemini"})),
        });
        dispatcher.event(LLMChatEndEvent {
            messages,
            response: Some(
                ChatResponse::new(ChatMessage::assistant("A unit of work.")).with_raw(json!({
                    "model": "gemini-2.0-flash-001",
                    "usage_metadata": {"prompt_token_count": 12, "candidates_token_count": 5},
                })),
            ),
        });
    });
    dispatcher.in_span("embed", || {
        dispatcher.event(EmbeddingStartEvent {
            model_dict: map(json!({"model_name": "text-embedding-3-small"})),
        });
        dispatcher.event(EmbeddingEndEvent {
            chunks: vec!["span".into()],
            embeddings: vec![vec![0.5]],
        });
    });
    // A `tracing` span of another crate, recorded as the GenAI conventions say, bridged.
    let subscriber = tracing_subscriber::Registry::default().with(InstrumentLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!(
            target: "tests::otlp_export::llm_and_embedding_spans_also_carry_genai_attributes::rig",
            "chat gpt-4o-mini",
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = "openai",
            gen_ai.request.model = "gpt-4o-mini",
            gen_ai.response.model = tracing::field::Empty,
            gen_ai.usage.input_tokens = tracing::field::Empty,
            gen_ai.usage.output_tokens = tracing::field::Empty,
        );
        span.record("gen_ai.response.model", "gpt-4o-mini-2024-07-18");
        span.record("gen_ai.usage.input_tokens", 30_u64);
        span.record("gen_ai.usage.output_tokens", 4_u64);
    });
    exporter.flush(Duration::from_secs(5)).unwrap();

    let spans = spans(&receiver.take());
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let chat = by_name(&spans, "chat");
    assert_eq!(text(chat, "gen_ai.operation.name"), "chat");
    assert_eq!(text(chat, "gen_ai.provider.name"), "gcp.gen_ai");
    assert_eq!(text(chat, "gen_ai.request.model"), "gemini-2.0-flash");
    assert_eq!(text(chat, "gen_ai.response.model"), "gemini-2.0-flash-001");
    assert_eq!(int(chat, "gen_ai.usage.input_tokens"), 12);
    assert_eq!(int(chat, "gen_ai.usage.output_tokens"), 5);
    // OpenInference's, beside them, as before.
    assert_eq!(text(chat, "openinference.span.kind"), "LLM");
    assert_eq!(text(chat, "llm.provider"), "google");
    assert_eq!(text(chat, "llm.model_name"), "gemini-2.0-flash");
    assert_eq!(int(chat, "llm.token_count.total"), 17);

    let embed = by_name(&spans, "embed");
    assert_eq!(text(embed, "gen_ai.operation.name"), "embeddings");
    assert_eq!(
        text(embed, "gen_ai.request.model"),
        "text-embedding-3-small"
    );
    assert_eq!(
        text(embed, "embedding.model_name"),
        "text-embedding-3-small"
    );

    let bridged = by_name(&spans, "chat gpt-4o-mini");
    assert_eq!(text(bridged, "openinference.span.kind"), "LLM");
    assert_eq!(text(bridged, "gen_ai.operation.name"), "chat");
    assert_eq!(text(bridged, "gen_ai.provider.name"), "openai");
    assert_eq!(text(bridged, "gen_ai.request.model"), "gpt-4o-mini");
    assert_eq!(
        text(bridged, "gen_ai.response.model"),
        "gpt-4o-mini-2024-07-18"
    );
    assert_eq!(int(bridged, "gen_ai.usage.input_tokens"), 30);
    assert_eq!(int(bridged, "gen_ai.usage.output_tokens"), 4);
    assert_eq!(int(bridged, "llm.token_count.prompt"), 30);
    assert_eq!(text(bridged, "llm.model_name"), "gpt-4o-mini");
    exporter.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn failed_requests_are_retried() {
    let receiver = Receiver::start(Answer::fail_first(2));
    let dispatcher = get_dispatcher("tests::otlp_export::failed_requests_are_retried");
    let exporter = OtlpExporter::builder(receiver.url())
        .retry(
            Duration::from_millis(10),
            Duration::from_millis(40),
            Duration::from_secs(5),
        )
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
    let receiver = Receiver::start(Answer::fail_first(usize::MAX));
    let dispatcher =
        get_dispatcher("tests::otlp_export::an_unavailable_backend_costs_counted_drops_not_time");
    let exporter = OtlpExporter::builder(receiver.url())
        .queue_capacity(16)
        .max_batch_size(4)
        .max_delay(Duration::from_millis(1))
        .retry(
            Duration::from_millis(100),
            Duration::from_millis(200),
            Duration::from_millis(400),
        )
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
        .retry(
            Duration::from_millis(20),
            Duration::from_millis(40),
            Duration::from_millis(100),
        )
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
    let receiver = Receiver::start(Answer::OK);
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
        "ftp://phoenix.example",
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

#[test]
fn https_with_a_custom_ca_and_gzip_bodies() {
    let tls = Tls::self_signed("https_with_a_custom_ca");
    let receiver = Receiver::start_tls(Answer::OK, &tls);
    let dispatcher = get_dispatcher("tests::otlp_export::https_with_a_custom_ca_and_gzip_bodies");
    let exporter = OtlpExporter::builder(receiver.url_with_host())
        .ca_certificate(&tls.ca_file)
        .compression(Compression::Gzip)
        .max_batch_size(2)
        .build()
        .unwrap();
    exporter.register(dispatcher);

    for question in ["a", "b", "c", "d", "e"] {
        dispatcher.in_span("query", || {
            dispatcher.in_span("retrieve", || std::hint::black_box(question))
        });
    }
    exporter.shutdown(Duration::from_secs(5)).unwrap();

    let received = receiver.take();
    assert!(received.len() >= 5, "10 spans in batches of 2");
    assert!(received.iter().all(|r| r.gzipped));
    assert!(received.iter().all(|r| r.path == "/v1/traces"));
    let spans = spans(&received);
    assert_eq!(spans.len(), 10);
    assert_eq!(spans.iter().filter(|s| s.name == "query").count(), 5);
    assert_eq!(exporter.exported_spans(), 10);
    // Batches travel on kept-alive connections rather than one connection each.
    assert!(
        receiver.connections() < received.len(),
        "{} connections for {} requests",
        receiver.connections(),
        received.len()
    );
}

#[test]
fn an_untrusted_certificate_is_a_counted_error_and_the_program_goes_on() {
    let tls = Tls::self_signed("untrusted_server");
    let other = Tls::self_signed("untrusted_other_ca");
    let receiver = Receiver::start_tls(Answer::OK, &tls);
    // Trusting another CA, or only Mozilla's roots, cannot verify the self-signed server.
    for (name, exporter) in [
        (
            "tests::otlp_export::untrusted::other_ca",
            OtlpExporter::builder(receiver.url_with_host()).ca_certificate(&other.ca_file),
        ),
        (
            "tests::otlp_export::untrusted::webpki_roots",
            OtlpExporter::builder(receiver.url_with_host()),
        ),
    ] {
        let dispatcher = get_dispatcher(name);
        let exporter = exporter
            .retry(
                Duration::from_millis(10),
                Duration::from_millis(10),
                Duration::from_secs(30),
            )
            .build()
            .unwrap();
        exporter.register(dispatcher);
        let value = dispatcher.in_span("work", || 42);
        assert_eq!(value, 42);
        let result = exporter.shutdown(Duration::from_secs(5));
        let Err(OtlpError::Export(message)) = result else {
            panic!("{result:?}")
        };
        assert!(
            message.contains("certificate") || message.contains("Certificate"),
            "{message}"
        );
        assert_eq!(exporter.dropped_spans(), 1);
        assert_eq!(exporter.exported_spans(), 0);
    }
    // One handshake each, refused, and no retry for the 30 s allowed: a certificate that is not
    // trusted will not become trusted.
    assert_eq!(receiver.hits(), 0);
    let waited = Instant::now();
    while receiver.refused_handshakes() < 2 && waited.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(receiver.refused_handshakes(), 2);
}

#[test]
fn a_missing_or_empty_ca_file_is_refused_when_built() {
    let missing = std::env::temp_dir().join("instrument-no-such-ca.pem");
    let result = OtlpExporter::builder("https://127.0.0.1:1")
        .ca_certificate(&missing)
        .build();
    let Err(OtlpError::Endpoint { reason, .. }) = result else {
        panic!("{result:?}")
    };
    assert!(reason.contains("instrument-no-such-ca.pem"), "{reason}");

    let empty =
        std::env::temp_dir().join(format!("instrument-empty-ca-{}.pem", std::process::id()));
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let result = OtlpExporter::builder("https://127.0.0.1:1")
        .ca_certificate(&empty)
        .build();
    std::fs::remove_file(&empty).ok();
    assert!(
        matches!(&result, Err(OtlpError::Endpoint { reason, .. }) if reason.contains("no PEM certificate")),
        "{result:?}"
    );
}

#[test]
fn retry_after_is_honoured() {
    let receiver = Receiver::start(Answer::FailFirst {
        n: 1,
        status: 429,
        retry_after: Some("1"),
    });
    let dispatcher = get_dispatcher("tests::otlp_export::retry_after_is_honoured");
    let exporter = OtlpExporter::builder(receiver.url())
        .retry(
            Duration::from_millis(10),
            Duration::from_millis(10),
            Duration::from_secs(10),
        )
        .build()
        .unwrap();
    exporter.register(dispatcher);
    dispatcher.in_span("work", || ());
    exporter.shutdown(Duration::from_secs(5)).unwrap();

    let received = receiver.take();
    assert_eq!(received.len(), 2, "a 429, then the retry");
    let waited = received[1].at - received[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "retried after {waited:?}"
    );
    assert_eq!(exporter.exported_spans(), 1);
}

#[test]
fn other_client_errors_are_not_retried() {
    let receiver = Receiver::start(Answer::FailFirst {
        n: usize::MAX,
        status: 400,
        retry_after: None,
    });
    let dispatcher = get_dispatcher("tests::otlp_export::other_client_errors_are_not_retried");
    let exporter = OtlpExporter::builder(receiver.url())
        .retry(
            Duration::from_millis(10),
            Duration::from_millis(10),
            Duration::from_secs(10),
        )
        .build()
        .unwrap();
    exporter.register(dispatcher);
    dispatcher.in_span("work", || ());
    let result = exporter.shutdown(Duration::from_secs(5));
    assert!(
        matches!(&result, Err(OtlpError::Export(message)) if message.contains("400")),
        "{result:?}"
    );
    assert_eq!(receiver.hits(), 1);
    assert_eq!(exporter.dropped_spans(), 1);
}

#[test]
fn a_backend_busy_for_a_while_loses_nothing_that_fits_in_the_queue() {
    // 503 to the first 6 requests: with waits of 200 ms, then 300, 400, 400, 400, 400, each
    // jittered by ±50 %, that is a backend unavailable for at least 1.05 s whatever the jitter.
    let receiver = Receiver::start(Answer::fail_first(6));
    let dispatcher = get_dispatcher(
        "tests::otlp_export::a_backend_busy_for_a_while_loses_nothing_that_fits_in_the_queue",
    );
    let exporter = OtlpExporter::builder(receiver.url())
        .max_batch_size(64)
        .max_delay(Duration::from_millis(5))
        .retry(
            Duration::from_millis(200),
            Duration::from_millis(400),
            Duration::from_secs(20),
        )
        .build()
        .unwrap();
    exporter.register(dispatcher);
    let began = Instant::now();
    // 1,000 spans (2,000 messages) fit in the default queue of 8,192.
    record_spans(dispatcher, 1_000);
    exporter.shutdown(Duration::from_secs(20)).unwrap();
    let received = receiver.take();
    assert!(
        received[6].at - received[0].at >= Duration::from_secs(1),
        "busy for {:?}",
        received[6].at - received[0].at
    );
    assert!(began.elapsed() >= Duration::from_secs(1));
    assert_eq!(spans(&received).len(), 1_000);
    assert_eq!(exporter.exported_spans(), 1_000);
    assert_eq!(exporter.dropped_spans(), 0);
}

#[test]
fn a_server_asking_to_wait_for_ages_is_given_up_on_without_harm() {
    // Seconds that overflow any clock if added to now.
    let receiver = Receiver::start(Answer::FailFirst {
        n: 1,
        status: 503,
        retry_after: Some("9999999999999999999"),
    });
    let dispatcher = get_dispatcher("tests::otlp_export::retry_after_for_ages");
    let exporter = OtlpExporter::builder(receiver.url())
        .max_batch_size(1)
        .build()
        .unwrap();
    exporter.register(dispatcher);
    dispatcher.in_span("first", || ());
    let result = exporter.flush(Duration::from_secs(5));
    assert!(
        matches!(&result, Err(OtlpError::Export(message)) if message.contains("asked to wait")),
        "{result:?}"
    );
    // The exporter goes on: the next span is sent.
    dispatcher.in_span("second", || ());
    exporter.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(exporter.exported_spans(), 1);
    assert_eq!(exporter.dropped_spans(), 1);
}

#[test]
fn spans_a_receiver_rejects_are_counted_as_dropped() {
    let receiver = Receiver::start(Answer::Reject(1));
    let dispatcher = get_dispatcher("tests::otlp_export::partial_success");
    let exporter = OtlpExporter::new(receiver.url()).unwrap();
    exporter.register(dispatcher);
    dispatcher.in_span("query", || dispatcher.in_span("retrieve", || ()));
    let result = exporter.shutdown(Duration::from_secs(5));
    assert!(
        matches!(&result, Err(OtlpError::Export(message)) if message.contains("rejected 1 of 2")),
        "{result:?}"
    );
    assert_eq!(exporter.exported_spans(), 1);
    assert_eq!(exporter.dropped_spans(), 1);
}
