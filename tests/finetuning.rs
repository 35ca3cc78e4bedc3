//! `FineTuningHandler`: each chat call becomes one OpenAI fine-tuning example, from callbacks or
//! instrumentation events; JSONL written whole or not at all; bounded storage.

use std::path::PathBuf;
use std::sync::Arc;

use instrument::callbacks::{CBEventType, CallbackError, CallbackManager, EventPayload, Payload};
use instrument::events::{
    LLMChatEndEvent, LLMChatStartEvent, LLMCompletionEndEvent, LLMCompletionStartEvent,
};
use instrument::get_dispatcher;
use instrument::handlers::{
    FineTuningError, FineTuningExample, FineTuningHandler, OpenAIFineTuningHandler,
};
use instrument::llm::{ChatMessage, ChatResponse, CompletionResponse, ToolMetadata};
use serde_json::{Map, Value, json};

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "instrument-finetuning-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn weather_tool() -> ToolMetadata {
    ToolMetadata::new("get_weather", "Weather in a city").with_parameters(json!({
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    }))
}

fn kwargs(value: Value) -> Map<String, Value> {
    let Value::Object(map) = value else {
        unreachable!()
    };
    map
}

fn call(
    manager: &CallbackManager,
    start: Option<Payload>,
    end: Payload,
) -> Result<(), CallbackError> {
    manager.event(CBEventType::Llm, start)?.on_end(Some(end))
}

#[test]
fn callback_calls_become_jsonl_examples() -> Result<(), CallbackError> {
    let dir = TempDir::new("callbacks");
    let finetuning = FineTuningHandler::new();
    let manager = CallbackManager::new(vec![Arc::new(finetuning.clone())]);

    let messages = vec![
        ChatMessage::system("Be brief."),
        ChatMessage::user("Capital of France?"),
    ];
    call(
        &manager,
        None,
        Payload::new()
            .with_serialized(EventPayload::Messages, &messages)
            .with_serialized(
                EventPayload::Response,
                &ChatResponse::new(ChatMessage::assistant("Paris.")),
            ),
    )?;
    // Tools given at the start, in OpenAI's tool form; the answer calls one.
    let start = Payload::new()
        .with_serialized(
            EventPayload::Messages,
            &[ChatMessage::user("Weather in Oslo?")],
        )
        .with(
            EventPayload::AdditionalKwargs,
            json!({"tools": [weather_tool().to_openai_tool()]}),
        );
    let tool_call = json!([{"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]);
    let answer = ChatMessage {
        content: None,
        ..ChatMessage::assistant("")
    }
    .with_kwarg("tool_calls", tool_call.clone());
    call(
        &manager,
        Some(start),
        Payload::new().with_serialized(EventPayload::Response, &ChatResponse::new(answer)),
    )?;
    // A plain string answer.
    call(
        &manager,
        None,
        Payload::new()
            .with(
                EventPayload::Messages,
                json!([{"role": "user", "content": "Hi"}]),
            )
            .with(EventPayload::Response, "Hello!"),
    )?;
    // No answer: no example.
    call(
        &manager,
        None,
        Payload::new().with_serialized(EventPayload::Messages, &messages),
    )?;
    // Not an LLM event: ignored.
    manager
        .event(CBEventType::Query, None)?
        .on_end(Some(Payload::new().with(EventPayload::Response, "x")))?;

    let path = dir.0.join("train.jsonl");
    assert_eq!(finetuning.save_finetuning_events(&path).unwrap(), 3);
    assert_eq!(
        lines(&path),
        [
            json!({"messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Capital of France?"},
                {"role": "assistant", "content": "Paris."},
            ]}),
            json!({
                "messages": [
                    {"role": "user", "content": "Weather in Oslo?"},
                    {"role": "assistant", "tool_calls": tool_call},
                ],
                "functions": [weather_tool().to_openai_function()],
            }),
            json!({"messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
            ]}),
        ]
    );
    let written: Vec<_> = finetuning
        .examples()
        .iter()
        .map(FineTuningExample::to_json)
        .collect();
    assert_eq!(written, lines(&path));
    assert_eq!(dir.entries(), ["train.jsonl"]);
    Ok(())
}

#[test]
fn instrumentation_events_become_examples() {
    let dir = TempDir::new("events");
    let finetuning = FineTuningHandler::new().with_verbose(false);
    let dispatcher = get_dispatcher("finetuning::instrumentation_events");
    dispatcher.add_event_handler(finetuning.clone());

    let messages = vec![ChatMessage::user("Weather in Oslo?")];
    // Inside a span, start and end are matched by the span.
    dispatcher.in_span("chat", || {
        dispatcher.event(LLMChatStartEvent {
            messages: messages.clone(),
            additional_kwargs: kwargs(json!({"tools": [weather_tool().to_openai_tool()]})),
            model_dict: Map::new(),
        });
        dispatcher.event(LLMChatEndEvent {
            messages: messages.clone(),
            response: Some(ChatResponse::new(ChatMessage::assistant("Sunny."))),
        });
    });
    // Outside any span, by thread; functions given in `functions` form.
    dispatcher.event(LLMChatStartEvent {
        messages: messages.clone(),
        additional_kwargs: kwargs(json!({"functions": [weather_tool().to_openai_function()]})),
        model_dict: Map::new(),
    });
    dispatcher.event(LLMChatEndEvent {
        messages: messages.clone(),
        response: Some(ChatResponse::new(ChatMessage::assistant("Rainy."))),
    });
    // No tools, and a stream that produced nothing.
    dispatcher.event(LLMChatEndEvent {
        messages: messages.clone(),
        response: Some(ChatResponse::new(ChatMessage::assistant("Cold."))),
    });
    dispatcher.event(LLMChatEndEvent {
        messages: messages.clone(),
        response: None,
    });
    // An answer with neither text nor tool calls (its content was not recorded): nothing to learn.
    let empty = ChatMessage {
        content: None,
        ..ChatMessage::assistant("")
    };
    dispatcher.event(LLMChatEndEvent {
        messages: messages.clone(),
        response: Some(ChatResponse::new(empty)),
    });

    let examples = finetuning.examples();
    assert_eq!(examples.len(), 3);
    assert_eq!(
        examples[0].to_json(),
        json!({
            "messages": [
                {"role": "user", "content": "Weather in Oslo?"},
                {"role": "assistant", "content": "Sunny."},
            ],
            "functions": [weather_tool().to_openai_function()],
        })
    );
    assert_eq!(examples[1].functions, [weather_tool().to_openai_function()]);
    assert!(examples[2].functions.is_empty());
    assert!(examples[2].to_json().get("functions").is_none());

    let path = dir.0.join("events.jsonl");
    assert_eq!(finetuning.save_finetuning_events(&path).unwrap(), 3);
    assert_eq!(lines(&path).len(), 3);
}

#[test]
fn saving_replaces_the_file_whole() -> Result<(), CallbackError> {
    let dir = TempDir::new("replace");
    let path = dir.0.join("train.jsonl");
    std::fs::write(&path, "old line one\nold line two\nold line three\n").unwrap();

    let finetuning = FineTuningHandler::new().with_verbose(false);
    let manager = CallbackManager::new(vec![Arc::new(finetuning.clone())]);
    call(
        &manager,
        None,
        Payload::new()
            .with(EventPayload::Messages, json!(["Hi"]))
            .with(EventPayload::Response, "Hello"),
    )?;
    assert_eq!(finetuning.save_finetuning_events(&path).unwrap(), 1);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Hello\"}]}\n"
    );
    assert_eq!(dir.entries(), ["train.jsonl"]);

    finetuning.clear();
    assert!(finetuning.is_empty());
    assert_eq!(finetuning.save_finetuning_events(&path).unwrap(), 0);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    Ok(())
}

#[test]
fn a_failed_write_is_an_error_and_leaves_no_file() -> Result<(), CallbackError> {
    let dir = TempDir::new("fail");
    let finetuning = FineTuningHandler::new().with_verbose(false);
    let manager = CallbackManager::new(vec![Arc::new(finetuning.clone())]);
    call(
        &manager,
        None,
        Payload::new()
            .with(EventPayload::Messages, json!(["Hi"]))
            .with(EventPayload::Response, "Hello"),
    )?;

    // The directory does not exist.
    let missing = dir.0.join("missing").join("train.jsonl");
    let err = finetuning.save_finetuning_events(&missing).unwrap_err();
    let FineTuningError::Write { path, .. } = &err else {
        unreachable!()
    };
    assert_eq!(path, &missing);
    assert!(std::error::Error::source(&err).is_some());
    assert!(err.to_string().contains("train.jsonl"));

    // The target is a non-empty directory: the rename fails, the target and the directory stay
    // as they were, and the temporary file is gone.
    let target = dir.0.join("taken");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), "kept").unwrap();
    assert!(finetuning.save_finetuning_events(&target).is_err());
    assert_eq!(dir.entries(), ["taken"]);
    assert_eq!(
        std::fs::read_to_string(target.join("keep")).unwrap(),
        "kept"
    );
    Ok(())
}

#[test]
fn storage_is_bounded_and_evicts_the_oldest() -> Result<(), CallbackError> {
    let finetuning = FineTuningHandler::with_capacity(2).with_verbose(false);
    let manager = CallbackManager::new(vec![Arc::new(finetuning.clone())]);
    for n in 0..3 {
        call(
            &manager,
            None,
            Payload::new()
                .with(EventPayload::Messages, json!([format!("q{n}")]))
                .with(EventPayload::Response, format!("a{n}")),
        )?;
    }
    assert_eq!(finetuning.capacity(), 2);
    assert_eq!(finetuning.len(), 2);
    assert_eq!(finetuning.evicted(), 1);
    let first: Vec<_> = finetuning
        .examples()
        .iter()
        .map(|e| e.messages[0]["content"].clone())
        .collect();
    assert_eq!(first, [json!("q1"), json!("q2")]);
    Ok(())
}

// As LlamaIndex's `OpenAIFineTuningHandler` records calls.

#[test]
fn a_prompt_at_the_start_is_the_user_message_and_a_completion_the_answer()
-> Result<(), CallbackError> {
    let finetuning = OpenAIFineTuningHandler::new().with_verbose(false);
    let manager = CallbackManager::new(vec![Arc::new(finetuning.clone())]);
    // A chat whose start gives only a prompt and whose end gives only the response.
    let chat = manager.event_with_id(
        CBEventType::Llm,
        Some(Payload::new().with(EventPayload::Prompt, "Capital of France?")),
        "chat-1",
    )?;
    chat.on_end(Some(Payload::new().with_serialized(
        EventPayload::Response,
        &ChatResponse::new(ChatMessage::assistant("Paris.")),
    )))?;
    // A completion call, prompt to completion, given in LlamaIndex's end payload.
    let complete = manager.on_event_start(
        CBEventType::Llm,
        Some(&Payload::new().with(EventPayload::Prompt, "1 + 1 =")),
        Some("completion-1"),
        None,
    )?;
    manager.on_event_end(
        CBEventType::Llm,
        Some(
            &Payload::new()
                .with(EventPayload::Prompt, "1 + 1 =")
                .with_serialized(EventPayload::Completion, &CompletionResponse::new("2")),
        ),
        Some(&complete),
    )?;

    let events = finetuning.get_finetuning_events();
    assert_eq!(
        events,
        [
            (
                "chat-1".to_owned(),
                json!({
                    "messages": [{"role": "user", "content": "Capital of France?"}],
                    "response": {"role": "assistant", "content": "Paris."},
                })
            ),
            (
                "completion-1".to_owned(),
                json!({
                    "messages": [{"role": "user", "content": "1 + 1 ="}],
                    "response": {"role": "assistant", "content": "2"},
                })
            ),
        ]
    );
    Ok(())
}

#[test]
fn completion_events_become_examples_too() {
    let finetuning = FineTuningHandler::new().with_verbose(false);
    let dispatcher = get_dispatcher("finetuning::completion");
    dispatcher.add_event_handler(finetuning.clone());
    dispatcher.in_span("complete", || {
        dispatcher.event(LLMCompletionStartEvent {
            prompt: "Say hi".into(),
            additional_kwargs: Map::new(),
            model_dict: Map::new(),
        });
        dispatcher.event(LLMCompletionEndEvent {
            prompt: "Say hi".into(),
            response: CompletionResponse::new("hi"),
        });
    });
    let examples = finetuning.examples();
    assert_eq!(examples.len(), 1);
    assert!(examples[0].event_id.starts_with("complete-"));
    assert_eq!(
        examples[0].to_json(),
        json!({"messages": [
            {"role": "user", "content": "Say hi"},
            {"role": "assistant", "content": "hi"},
        ]})
    );
}
