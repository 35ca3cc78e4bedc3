//! The real `async-openai` client, wrapped by `InstrumentedClient`, against an OpenAI-compatible
//! server on 127.0.0.1: each call is a span with the catalog's events, and what token counting,
//! fine-tuning, the callback debug handler and the OTLP exporter saw is what the server said.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage, ChatCompletionTool,
    ChatCompletionTools, CreateChatCompletionRequestArgs, FunctionObjectArgs,
};
use async_openai::types::completions::CreateCompletionRequestArgs;
use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
use common::{Recorder, recorder_on};
use instrument::callbacks::{CBEventType, CallbackBridge, CallbackManager};
use instrument::events::{
    EmbeddingEndEvent, LLMChatEndEvent, LLMChatInProgressEvent, LLMChatStartEvent,
    LLMCompletionEndEvent, LLMToolCallEvent,
};
use instrument::handlers::export::otlp::OtlpExporter;
use instrument::handlers::openai::InstrumentedClient;
use instrument::handlers::{DebugHandler, FineTuningHandler, TokenCountingHandler};
use instrument::{Dispatcher, get_dispatcher};

#[path = "support/openai_server.rs"]
mod openai_server;
#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;
use openai_server::{CHAT_USAGE, OpenAiServer, PIECES};
use otlp_receiver::{Answer, Receiver, spans};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn client(
    server: &OpenAiServer,
    dispatcher: &'static Dispatcher,
) -> InstrumentedClient<OpenAIConfig> {
    // The tests' `async-openai` is built with rustls but no provider of its own (see Cargo.toml).
    // (ring's is deprecated only for lacking post-quantum key exchange.)
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = OpenAIConfig::new()
        .with_api_base(server.api_base())
        .with_api_key("sk-test");
    InstrumentedClient::new(async_openai::Client::with_config(config)).with_dispatcher(dispatcher)
}

fn chat_request(model: &str) -> async_openai::types::chat::CreateChatCompletionRequest {
    CreateChatCompletionRequestArgs::default()
        .model(model)
        .temperature(0.2)
        .messages([
            ChatCompletionRequestSystemMessage::from("Answer briefly.").into(),
            ChatCompletionRequestUserMessage::from("Say hello").into(),
        ])
        .build()
        .unwrap()
}

/// The JSON of every event of type `E` the recorder saw, in order.
fn events<E: instrument::Event>(recorder: &Recorder) -> Vec<serde_json::Value> {
    recorder
        .events()
        .into_iter()
        .filter(|event| event.class_name == std::any::type_name::<E>().rsplit("::").next().unwrap())
        .map(|event| event.json)
        .collect()
}

#[test]
fn a_chat_is_a_span_that_every_handler_sees() {
    let server = OpenAiServer::start();
    let receiver = Receiver::start(Answer::OK);
    let dispatcher = get_dispatcher("tests::openai_client::chat");
    let recorder = recorder_on(dispatcher);
    let tokens = dispatcher.add_event_handler(TokenCountingHandler::new());
    let finetuning = dispatcher.add_event_handler(FineTuningHandler::new().with_verbose(false));
    let debug = Arc::new(DebugHandler::new().with_writer(std::io::sink()));
    CallbackBridge::new(CallbackManager::new(vec![debug.clone()])).register(dispatcher);
    let otlp = OtlpExporter::builder(receiver.url()).build().unwrap();
    otlp.register(dispatcher);

    let client = client(&server, dispatcher);
    let response = runtime()
        .block_on(client.chat(chat_request("gpt-4o-mini")))
        .unwrap();
    assert_eq!(
        response.choices[0].message.content.as_deref(),
        Some(PIECES.concat().as_str())
    );

    // One span, named as LlamaIndex names it, with its start and end events inside.
    let span = recorder.one("OpenAI.chat");
    assert!(span.exited);
    let start = &events::<LLMChatStartEvent>(recorder)[0];
    assert_eq!(start["messages"][1]["content"], "Say hello");
    assert_eq!(start["model_dict"]["model"], "gpt-4o-mini");
    // `async-openai` keeps the temperature as an f32.
    let temperature = start["additional_kwargs"]["temperature"].as_f64().unwrap();
    assert!((temperature - 0.2).abs() < 1e-6, "{temperature}");
    let end = &events::<LLMChatEndEvent>(recorder)[0];
    assert_eq!(end["response"]["message"]["content"], PIECES.concat());
    assert_eq!(
        end["response"]["raw"]["usage"]["prompt_tokens"],
        CHAT_USAGE.0
    );
    assert!(
        recorder
            .events()
            .iter()
            .all(|event| event.span_id == Some(span.id))
    );

    // Token counting read the server's usage; fine-tuning kept the conversation.
    assert_eq!(tokens.prompt_llm_token_count(), CHAT_USAGE.0);
    assert_eq!(tokens.completion_llm_token_count(), CHAT_USAGE.1);
    let examples = finetuning.examples();
    assert_eq!(examples.len(), 1);
    let roles: Vec<_> = examples[0]
        .messages
        .iter()
        .map(|m| m["role"].clone())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant"]);
    // The debug handler, through the callback bridge, paired the LLM start and end.
    let pairs = debug.get_event_pairs(Some(CBEventType::Llm));
    assert_eq!(pairs.len(), 1);

    // The OTLP exporter sent an LLM span with the model, the messages and the tokens.
    otlp.shutdown(Duration::from_secs(5)).unwrap();
    let exported = spans(&receiver.take());
    let llm = exported.iter().find(|s| s.name == "OpenAI.chat").unwrap();
    let attr = |key: &str| otlp_receiver::string_attr(&llm.attributes, key).map(str::to_owned);
    assert_eq!(attr("openinference.span.kind").as_deref(), Some("LLM"));
    assert_eq!(attr("llm.model_name").as_deref(), Some("gpt-4o-mini"));
    assert_eq!(
        attr("llm.input_messages.1.message.content").as_deref(),
        Some("Say hello")
    );
    let tokens_attr = llm
        .attributes
        .iter()
        .find(|kv| kv.key == "llm.token_count.total")
        .and_then(|kv| kv.value.clone());
    assert!(tokens_attr.is_some(), "{:?}", llm.attributes);
    // What it cost, from the built-in price of gpt-4o-mini ($0.15 and $0.60 per million).
    let cost = llm
        .attributes
        .iter()
        .find(|kv| kv.key == "llm.cost.total")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            instrument::handlers::export::otlp::proto::any_value::Value::DoubleValue(x) => Some(*x),
            _ => None,
        })
        .unwrap();
    let expected = (CHAT_USAGE.0 as f64 * 0.15 + CHAT_USAGE.1 as f64 * 0.60) / 1e6;
    assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
}

#[test]
fn a_streamed_chat_reports_each_delta_and_one_end_with_the_usage() {
    let server = OpenAiServer::start();
    let dispatcher = get_dispatcher("tests::openai_client::stream");
    let recorder = recorder_on(dispatcher);
    let tokens = dispatcher.add_event_handler(TokenCountingHandler::new());
    let client = client(&server, dispatcher);

    let text = runtime().block_on(async {
        let mut stream = client
            .stream_chat(chat_request("gpt-4o-mini"))
            .await
            .unwrap();
        let mut text = String::new();
        while let Some(chunk) = futures_next(&mut stream).await {
            let chunk = chunk.unwrap();
            if let Some(choice) = chunk.choices.first() {
                text.push_str(choice.delta.content.as_deref().unwrap_or_default());
            }
        }
        text
    });
    assert_eq!(text, PIECES.concat());
    // The wrapper asked the server for the usage.
    let (_, sent) = server.requests().pop().unwrap();
    assert_eq!(sent["stream_options"]["include_usage"], true);

    let span = recorder.one("OpenAI.stream_chat");
    assert!(span.exited);
    let deltas: Vec<_> = events::<LLMChatInProgressEvent>(recorder)
        .iter()
        .map(|event| event["response"]["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(deltas, PIECES);
    let ends = events::<LLMChatEndEvent>(recorder);
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0]["response"]["message"]["content"], PIECES.concat());
    assert_eq!(tokens.prompt_llm_token_count(), CHAT_USAGE.0);
    assert_eq!(tokens.completion_llm_token_count(), CHAT_USAGE.1);
}

#[test]
fn a_stream_dropped_early_is_cancelled_with_no_end_event() {
    let server = OpenAiServer::start();
    let dispatcher = get_dispatcher("tests::openai_client::cancelled");
    let recorder = recorder_on(dispatcher);
    let client = client(&server, dispatcher);
    runtime().block_on(async {
        let mut stream = client
            .stream_chat(chat_request("gpt-4o-mini"))
            .await
            .unwrap();
        let _first = futures_next(&mut stream).await;
    });
    let span = recorder.one("OpenAI.stream_chat");
    assert!(!span.exited);
    assert_eq!(span.error.as_deref(), Some("cancelled"));
    assert!(events::<LLMChatEndEvent>(recorder).is_empty());
}

#[test]
fn tool_calls_in_answers_are_reported() {
    let server = OpenAiServer::start();
    let dispatcher = get_dispatcher("tests::openai_client::tools");
    let recorder = recorder_on(dispatcher);
    let client = client(&server, dispatcher);
    let tool = ChatCompletionTools::Function(ChatCompletionTool {
        function: FunctionObjectArgs::default()
            .name("add")
            .description("Adds two numbers")
            .parameters(serde_json::json!({"type": "object", "properties": {"a": {}, "b": {}}}))
            .build()
            .unwrap(),
    });
    let request = CreateChatCompletionRequestArgs::default()
        .model("gpt-4o-mini")
        .messages([ChatCompletionRequestUserMessage::from("What is 2 + 3?").into()])
        .tools(vec![tool])
        .build()
        .unwrap();
    runtime().block_on(client.chat(request)).unwrap();

    let start = &events::<LLMChatStartEvent>(recorder)[0];
    assert_eq!(
        start["additional_kwargs"]["tools"][0]["function"]["name"],
        "add"
    );
    let end = &events::<LLMChatEndEvent>(recorder)[0];
    assert_eq!(
        end["response"]["message"]["additional_kwargs"]["tool_calls"][0]["function"]["name"],
        "add"
    );
    let calls = events::<LLMToolCallEvent>(recorder);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["tool_id"], "call_add_1");
    assert_eq!(calls[0]["tool"]["name"], "add");
    assert_eq!(calls[0]["arguments"], "{\"a\":2,\"b\":3}");
}

#[test]
fn embeddings_and_completions_are_reported() {
    let server = OpenAiServer::start();
    let dispatcher = get_dispatcher("tests::openai_client::embeddings");
    let recorder = recorder_on(dispatcher);
    let tokens = dispatcher.add_event_handler(TokenCountingHandler::new());
    let client = client(&server, dispatcher);
    let runtime = runtime();
    let request = CreateEmbeddingRequestArgs::default()
        .model("text-embedding-3-small")
        .input(vec!["first chunk", "second"])
        .build()
        .unwrap();
    runtime.block_on(client.embed(request)).unwrap();
    let end = &events::<EmbeddingEndEvent>(recorder)[0];
    assert_eq!(end["chunks"], serde_json::json!(["first chunk", "second"]));
    assert_eq!(end["embeddings"][0], serde_json::json!([11.0, 0.5, -0.25]));
    assert_eq!(end["embeddings"][1][0], 6.0);
    assert!(tokens.total_embedding_token_count() > 0);
    assert!(
        recorder
            .one("OpenAIEmbedding.get_text_embedding_batch")
            .exited
    );

    let request = CreateCompletionRequestArgs::default()
        .model("gpt-3.5-turbo-instruct")
        .prompt("1, 2, 3,")
        .build()
        .unwrap();
    runtime.block_on(client.complete(request)).unwrap();
    let end = &events::<LLMCompletionEndEvent>(recorder)[0];
    assert_eq!(end["prompt"], "1, 2, 3,");
    assert_eq!(end["response"]["text"], " 4, 5");
    assert_eq!(tokens.completion_llm_token_count(), 4);
}

#[test]
fn api_errors_drop_the_span_with_the_error() {
    let server = OpenAiServer::start();
    let dispatcher = get_dispatcher("tests::openai_client::errors");
    let recorder = recorder_on(dispatcher);
    let client = client(&server, dispatcher);
    let runtime = runtime();
    for model in ["rate-limited", "broken"] {
        let result = runtime.block_on(client.chat(chat_request(model)));
        assert!(result.is_err(), "{model}");
        let result = runtime.block_on(client.stream_chat(chat_request(model)));
        assert!(result.is_err(), "{model}");
    }
    let spans = recorder.ended();
    assert_eq!(spans.len(), 4);
    for span in &spans {
        assert!(!span.exited, "{}", span.name);
        let error = span.error.as_deref().unwrap_or_default();
        assert!(
            error.contains("Rate limit") || error.contains("server had an error"),
            "{}: {error}",
            span.name
        );
    }
    assert!(events::<LLMChatEndEvent>(recorder).is_empty());
    assert_eq!(events::<LLMChatStartEvent>(recorder).len(), 4);
}

/// The next item of a stream (no `futures` dependency needed).
async fn futures_next<S: futures_core::Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await
}
