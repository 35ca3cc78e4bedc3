//! `tracing` spans that follow the OpenTelemetry GenAI conventions (as `rig` records its model
//! calls: fields declared empty, recorded as the call goes on) become LLM calls on instrument's
//! side: the catalog's events inside the bridged span, counted by `TokenCountingHandler` and
//! collected by `FineTuningHandler` as native calls are.

mod common;

use common::{SeenEvent, recorder_on};
use instrument::get_dispatcher;
use instrument::handlers::token_counting::Tokenizer;
use instrument::handlers::tracing_bridge::InstrumentLayer;
use instrument::handlers::{FineTuningExample, FineTuningHandler, TokenCountingHandler};
use serde_json::{Value, json};
use tracing::field::Empty;
use tracing_subscriber::Registry;
use tracing_subscriber::layer::SubscriberExt;

fn bridged<R>(f: impl FnOnce() -> R) -> R {
    tracing::subscriber::with_default(Registry::default().with(InstrumentLayer::new()), f)
}

/// A token counter that counts words, so that counts without reported usage are easy to check.
fn word_counter() -> TokenCountingHandler {
    TokenCountingHandler::new()
        .with_tokenizer(Tokenizer::new(|text| text.split_whitespace().count()))
}

fn classes(events: &[SeenEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.class_name).collect()
}

fn event<'a>(events: &'a [SeenEvent], class_name: &str) -> &'a Value {
    let found: Vec<_> = events
        .iter()
        .filter(|e| e.class_name == class_name)
        .collect();
    assert_eq!(found.len(), 1, "{class_name}: {events:#?}");
    &found[0].json
}

/// A chat span as rig's agent declares it: the operation known, everything else `Empty`.
macro_rules! chat_span {
    ($target:literal) => {
        tracing::info_span!(
            target: $target,
            "chat",
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = Empty,
            gen_ai.request.model = Empty,
            gen_ai.request.temperature = Empty,
            gen_ai.request.max_tokens = Empty,
            gen_ai.system_instructions = Empty,
            gen_ai.response.id = Empty,
            gen_ai.response.model = Empty,
            gen_ai.response.finish_reasons = Empty,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
            gen_ai.input.messages = Empty,
            gen_ai.output.messages = Empty,
        )
    };
}

#[test]
fn a_chat_span_recorded_late_is_an_llm_call() {
    let app = get_dispatcher("genai_chat");
    let recorder = recorder_on(app);
    let counter = app.add_event_handler(word_counter());
    let finetuning = app.add_event_handler(FineTuningHandler::new());

    bridged(|| {
        let span = chat_span!("genai_chat::agent");
        // Known once the request is routed and sent.
        span.record("gen_ai.provider.name", "openai");
        span.record("gen_ai.request.model", "gpt-4o-mini");
        span.record("gen_ai.request.temperature", 0.2);
        span.record("gen_ai.request.max_tokens", 256_u64);
        span.record(
            "gen_ai.system_instructions",
            r#"[{"type":"text","content":"Be brief."}]"#,
        );
        span.record(
            "gen_ai.input.messages",
            json!([
                {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
                {"role": "assistant", "parts": [
                    {"type": "tool_call", "id": "call_1", "name": "weather", "arguments": {"city": "Paris"}}
                ]},
                {"role": "user", "parts": [
                    {"type": "tool_call_response", "id": "call_1", "response": "rainy, 14°C"}
                ]},
            ])
            .to_string()
            .as_str(),
        );
        span.in_scope(|| {
            // Known when the answer arrives.
            span.record("gen_ai.response.id", "chatcmpl-1");
            span.record("gen_ai.response.model", "gpt-4o-mini-2024-07-18");
            span.record("gen_ai.usage.input_tokens", 42_u64);
            span.record("gen_ai.usage.output_tokens", 7_u64);
        });
        // Recorded after the call's future finished, just before the span closes.
        span.record(
            "gen_ai.output.messages",
            r#"[{"role":"assistant","parts":[{"type":"text","content":"Rainy, 14°C."}],"finish_reason":"stop"}]"#,
        );
    });

    let chat = recorder.one("chat");
    assert!(chat.exited);
    let events = recorder.events();
    assert_eq!(classes(&events), ["LLMChatStartEvent", "LLMChatEndEvent"]);
    assert!(events.iter().all(|e| e.span_id == Some(chat.id)));

    let start = event(&events, "LLMChatStartEvent");
    let conversation = json!([
        {"role": "system", "content": "Be brief.", "additional_kwargs": {}},
        {"role": "user", "content": "Weather in Paris?", "additional_kwargs": {}},
        {"role": "assistant", "content": null, "additional_kwargs": {"tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}
        ]}},
        {"role": "tool", "content": "rainy, 14°C", "additional_kwargs": {"tool_call_id": "call_1"}},
    ]);
    assert_eq!(start["messages"], conversation);
    assert_eq!(
        start["model_dict"],
        json!({"model": "gpt-4o-mini", "provider": "openai"})
    );
    assert_eq!(
        start["additional_kwargs"],
        json!({"temperature": 0.2, "max_tokens": 256})
    );

    let end = event(&events, "LLMChatEndEvent");
    assert_eq!(end["messages"], conversation);
    assert_eq!(
        end["response"]["message"],
        json!({"role": "assistant", "content": "Rainy, 14°C.", "additional_kwargs": {}})
    );
    assert_eq!(
        end["response"]["raw"],
        json!({
            "id": "chatcmpl-1",
            "model": "gpt-4o-mini-2024-07-18",
            "usage": {"input_tokens": 42, "output_tokens": 7},
        })
    );
    assert_eq!(
        end["response"]["additional_kwargs"],
        json!({"finish_reasons": ["stop"]})
    );

    // The provider's usage, as for a native call.
    assert_eq!(counter.prompt_llm_token_count(), 42);
    assert_eq!(counter.completion_llm_token_count(), 7);
    let counted = &counter.llm_token_counts()[0];
    assert_eq!(counted.completion, "assistant: Rainy, 14°C.");

    // The conversation as a fine-tuning example, the answer last.
    let examples: Vec<_> = finetuning
        .examples()
        .iter()
        .map(FineTuningExample::to_json)
        .collect();
    assert_eq!(examples.len(), 1);
    let roles: Vec<_> = examples[0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "assistant"]);
    assert_eq!(examples[0]["messages"][4]["content"], "Rainy, 14°C.");
    assert_eq!(examples[0]["messages"][3]["tool_call_id"], "call_1");
}

#[test]
fn without_content_capture_the_tokens_still_count() {
    // Content capture is opt-in in the conventions (and in rig): only names and usage arrive.
    let app = get_dispatcher("genai_no_content");
    let recorder = recorder_on(app);
    let counter = app.add_event_handler(word_counter());
    let finetuning = app.add_event_handler(FineTuningHandler::new());
    bridged(|| {
        let span = chat_span!("genai_no_content");
        span.record("gen_ai.provider.name", "anthropic");
        span.record("gen_ai.request.model", "claude-sonnet-4");
        span.record("gen_ai.usage.input_tokens", 1200_u64);
        span.record("gen_ai.usage.output_tokens", 80_u64);
    });
    let events = recorder.events();
    assert_eq!(classes(&events), ["LLMChatStartEvent", "LLMChatEndEvent"]);
    let end = event(&events, "LLMChatEndEvent");
    assert_eq!(end["response"]["message"]["content"], Value::Null);
    assert_eq!(counter.total_llm_token_count(), 1280);
    // Nothing to learn from: no example.
    assert!(finetuning.is_empty());
}

#[test]
fn completion_tool_and_agent_spans_emit_their_events() {
    let app = get_dispatcher("genai_ops");
    let recorder = recorder_on(app);
    let counter = app.add_event_handler(word_counter());
    bridged(|| {
        let agent = tracing::info_span!(
            target: "genai_ops",
            "invoke_agent",
            gen_ai.operation.name = "invoke_agent",
            gen_ai.agent.name = "forecaster",
            gen_ai.prompt = Empty,
            gen_ai.completion = Empty,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
        );
        agent.record("gen_ai.prompt", "Weather in Paris?");
        agent.in_scope(|| {
            let tool = tracing::info_span!(
                target: "genai_ops",
                "execute_tool",
                gen_ai.operation.name = "execute_tool",
                gen_ai.tool.type = "function",
                gen_ai.tool.name = Empty,
                gen_ai.tool.call.id = Empty,
                gen_ai.tool.call.arguments = Empty,
                gen_ai.tool.call.result = Empty,
            );
            tool.record("gen_ai.tool.name", "weather");
            tool.record("gen_ai.tool.call.id", "call_1");
            tool.record("gen_ai.tool.call.arguments", r#"{"city":"Paris"}"#);
            tool.record("gen_ai.tool.call.result", "rainy");
            drop(tool);

            let completion = tracing::info_span!(
                target: "genai_ops",
                "text_completion davinci",
                gen_ai.operation.name = "text_completion",
                gen_ai.request.model = "davinci-002",
                gen_ai.usage.input_tokens = 3_u64,
                gen_ai.usage.output_tokens = 2_u64,
                gen_ai.input.messages = r#"[{"role":"user","parts":[{"type":"text","content":"Say it:"}]}]"#,
                gen_ai.output.messages = r#"[{"role":"assistant","parts":[{"type":"text","content":"Rainy."}],"finish_reason":"stop"}]"#,
            );
            drop(completion);
        });
        // The run's totals: not a model call of its own, so not counted again.
        agent.record("gen_ai.usage.input_tokens", 3_u64);
        agent.record("gen_ai.usage.output_tokens", 2_u64);
        agent.record("gen_ai.completion", "Rainy.");
    });

    let agent = recorder.one("invoke_agent");
    let tool = recorder.one("execute_tool");
    let completion = recorder.one("text_completion davinci");
    assert_eq!(tool.parent, Some(agent.id));
    assert_eq!(completion.parent, Some(agent.id));
    let events = recorder.events();
    let in_span = |id| -> Vec<_> {
        events
            .iter()
            .filter(|e| e.span_id == Some(id))
            .map(|e| e.class_name)
            .collect()
    };
    assert_eq!(in_span(tool.id), ["LLMToolCallEvent"]);
    assert_eq!(
        in_span(completion.id),
        ["LLMCompletionStartEvent", "LLMCompletionEndEvent"]
    );
    assert_eq!(
        in_span(agent.id),
        ["AgentChatWithStepStartEvent", "AgentChatWithStepEndEvent"]
    );

    let call = event(&events, "LLMToolCallEvent");
    assert_eq!(call["tool_id"], "call_1");
    assert_eq!(call["tool"]["name"], "weather");
    assert_eq!(call["arguments"], r#"{"city":"Paris"}"#);
    let start = event(&events, "LLMCompletionStartEvent");
    assert_eq!(start["prompt"], "Say it:");
    assert_eq!(start["model_dict"], json!({"model": "davinci-002"}));
    let end = event(&events, "LLMCompletionEndEvent");
    assert_eq!(end["response"]["text"], "Rainy.");
    assert_eq!(
        event(&events, "AgentChatWithStepStartEvent")["user_msg"],
        "Weather in Paris?"
    );
    assert_eq!(
        event(&events, "AgentChatWithStepEndEvent")["response"],
        "Rainy."
    );
    assert_eq!(counter.prompt_llm_token_count(), 3);
    assert_eq!(counter.completion_llm_token_count(), 2);
    assert_eq!(counter.llm_token_counts().len(), 1);
}

#[test]
fn an_embeddings_span_is_an_embedding_call() {
    let app = get_dispatcher("genai_embed");
    let recorder = recorder_on(app);
    bridged(|| {
        let span = tracing::info_span!(
            target: "genai_embed",
            "embeddings",
            gen_ai.operation.name = "embeddings",
            gen_ai.provider.name = "openai",
            gen_ai.request.model = "text-embedding-3-small",
            gen_ai.embeddings.dimension.count = 512_u64,
            gen_ai.response.model = Empty,
            gen_ai.usage.input_tokens = Empty,
        );
        span.record("gen_ai.response.model", "text-embedding-3-small");
        span.record("gen_ai.usage.input_tokens", 9_u64);
    });
    let span = recorder.one("embeddings");
    let events = recorder.events();
    assert_eq!(
        classes(&events),
        ["EmbeddingStartEvent", "EmbeddingEndEvent"]
    );
    assert!(events.iter().all(|e| e.span_id == Some(span.id)));
    assert_eq!(
        event(&events, "EmbeddingStartEvent")["model_dict"],
        json!({"model": "text-embedding-3-small", "provider": "openai"})
    );
    assert_eq!(
        event(&events, "EmbeddingEndEvent"),
        &json!({"chunks": [], "embeddings": []})
    );
}

#[test]
fn malformed_messages_never_panic_and_keep_what_is_readable() {
    let app = get_dispatcher("genai_malformed");
    let recorder = recorder_on(app);
    let counter = app.add_event_handler(word_counter());
    bridged(|| {
        let not_json = chat_span!("genai_malformed");
        not_json.record("gen_ai.request.model", "m");
        not_json.record(
            "gen_ai.input.messages",
            "[{\"role\": \"user\", \"parts\": [",
        );
        not_json.record("gen_ai.output.messages", "}}");
        not_json.record("gen_ai.usage.input_tokens", "lots");
        drop(not_json);

        let wrong_shape = chat_span!("genai_malformed");
        wrong_shape.record(
            "gen_ai.input.messages",
            r#"{"role": 5, "parts": [{"type": "text"}, {"type": "tool_call"}, 7, "hello there"]}"#,
        );
        wrong_shape.record("gen_ai.output.messages", "[1, 2, 3]");
        wrong_shape.record("gen_ai.system_instructions", "[null]");
        drop(wrong_shape);
    });
    let spans = recorder.by_name("chat");
    assert_eq!(spans.len(), 2);
    assert!(spans.iter().all(|s| s.exited));
    let events = recorder.events();
    assert_eq!(
        classes(&events),
        [
            "LLMChatStartEvent",
            "LLMChatEndEvent",
            "LLMChatStartEvent",
            "LLMChatEndEvent"
        ]
    );
    // Text that is not JSON is read as the message's text.
    assert_eq!(
        events[0].json["messages"],
        json!([{"role": "user", "content": "[{\"role\": \"user\", \"parts\": [", "additional_kwargs": {}}])
    );
    assert_eq!(events[0].json["model_dict"], json!({"model": "m"}));
    assert_eq!(events[1].json["response"]["message"]["content"], "}}");
    // Of a message of the wrong shape, the readable text part.
    assert_eq!(
        events[2].json["messages"],
        json!([{"role": "user", "content": "hello there", "additional_kwargs": {}}])
    );
    assert_eq!(events[3].json["response"], Value::Null);
    // Usage that is no count: the tokenizer counts instead (two calls, words counted).
    assert_eq!(counter.llm_token_counts().len(), 2);
    assert_eq!(counter.prompt_llm_token_count(), 5 + 3);
}

#[test]
fn a_failed_call_emits_its_start_only_and_the_span_is_dropped() {
    let app = get_dispatcher("genai_failed");
    let recorder = recorder_on(app);
    let counter = app.add_event_handler(word_counter());
    bridged(|| {
        let span = tracing::info_span!(
            target: "genai_failed",
            "chat gpt-4o",
            gen_ai.operation.name = "chat",
            gen_ai.request.model = "gpt-4o",
            error = Empty,
        );
        span.record("error", "429 Too Many Requests");
    });
    let span = recorder.one("chat gpt-4o");
    assert!(!span.exited);
    assert_eq!(span.error.as_deref(), Some("429 Too Many Requests"));
    let events = recorder.events();
    assert_eq!(
        classes(&events),
        ["LLMChatStartEvent", "SpanDropEvent"],
        "{events:#?}"
    );
    assert_eq!(counter.llm_token_counts().len(), 0);
}

#[test]
fn legacy_fields_are_read_and_the_bridge_can_be_told_not_to() {
    let app = get_dispatcher("genai_legacy");
    let recorder = recorder_on(app);
    let counter = app.add_event_handler(word_counter());
    let legacy = || {
        // Before `gen_ai.operation.name` and `gen_ai.provider.name`: `gen_ai.system`, the
        // `prompt_tokens`/`completion_tokens` usage names, and `gen_ai.prompt`/`gen_ai.completion`.
        tracing::info_span!(
            target: "genai_legacy",
            "openai.chat",
            gen_ai.system = "openai",
            gen_ai.request.model = "gpt-3.5-turbo",
            gen_ai.prompt = r#"[{"role": "user", "content": "Hi"}]"#,
            gen_ai.completion = "Hello!",
            gen_ai.usage.prompt_tokens = 8_u64,
            gen_ai.usage.completion_tokens = 2_u64,
        )
        .in_scope(|| ());
    };
    bridged(legacy);
    let events = recorder.events();
    assert_eq!(classes(&events), ["LLMChatStartEvent", "LLMChatEndEvent"]);
    assert_eq!(
        event(&events, "LLMChatStartEvent")["model_dict"],
        json!({"model": "gpt-3.5-turbo", "provider": "openai"})
    );
    assert_eq!(
        event(&events, "LLMChatEndEvent")["response"]["message"]["content"],
        "Hello!"
    );
    assert_eq!(counter.total_llm_token_count(), 10);

    // Not wanted (the app emits LLM events around these calls itself): plain spans only.
    tracing::subscriber::with_default(
        Registry::default().with(InstrumentLayer::new().without_genai()),
        legacy,
    );
    assert_eq!(recorder.by_name("openai.chat").len(), 2);
    assert_eq!(recorder.events().len(), 2);
    assert_eq!(counter.total_llm_token_count(), 10);
}

#[test]
fn spans_outside_the_conventions_emit_nothing() {
    let app = get_dispatcher("genai_plain");
    let recorder = recorder_on(app);
    bridged(|| {
        tracing::info_span!(target: "genai_plain", "GET", url = "/v1/chat", model = "gpt-4o")
            .in_scope(|| ());
        tracing::info_span!(
            target: "genai_plain",
            "create_agent",
            gen_ai.operation.name = "create_agent",
            gen_ai.agent.name = "forecaster",
        )
        .in_scope(|| ());
    });
    assert_eq!(recorder.ended().len(), 2);
    assert!(recorder.events().is_empty());
}

#[test]
fn instructions_already_in_the_conversation_are_not_repeated() {
    // rig records the preamble both as `gen_ai.system_instructions` and as the conversation's
    // first message.
    let app = get_dispatcher("genai_instructions");
    let recorder = recorder_on(app);
    bridged(|| {
        let span = chat_span!("genai_instructions");
        span.record(
            "gen_ai.system_instructions",
            r#"[{"type":"text","content":"Be brief."}]"#,
        );
        span.record(
            "gen_ai.input.messages",
            r#"[{"role":"system","parts":[{"type":"text","content":"Be brief."}]},
                {"role":"user","parts":[{"type":"text","content":"Hi"}]}]"#,
        );
    });
    let events = recorder.events();
    assert_eq!(
        event(&events, "LLMChatStartEvent")["messages"],
        json!([
            {"role": "system", "content": "Be brief.", "additional_kwargs": {}},
            {"role": "user", "content": "Hi", "additional_kwargs": {}},
        ])
    );
}
