//! `TokenCountingHandler`: provider usage (OpenAI, Anthropic with cache tokens, Gemini) first, the
//! tokenizer when usage is absent or zero, from callbacks and from instrumentation events;
//! embeddings, reset, bounded lists and the token budget.

use std::error::Error as _;
use std::sync::Arc;

use instrument::callbacks::{CBEventType, CallbackError, CallbackManager, EventPayload, Payload};
use instrument::events::{
    EmbeddingEndEvent, LLMChatEndEvent, LLMCompletionEndEvent, LLMPredictEndEvent,
};
use instrument::get_dispatcher;
use instrument::handlers::token_counting::{TokenBudgetExceeded, Tokenizer};
use instrument::handlers::{TokenCountingEvent, TokenCountingHandler};
use instrument::llm::{ChatMessage, ChatResponse, CompletionResponse};
use serde_json::{Value, json};

/// One token per whitespace-separated word, so expected counts can be read off the text.
fn words() -> Tokenizer {
    Tokenizer::new(|text| text.split_whitespace().count())
}

fn counter() -> TokenCountingHandler {
    TokenCountingHandler::new().with_tokenizer(words())
}

fn manager(counter: &TokenCountingHandler) -> CallbackManager {
    CallbackManager::new(vec![Arc::new(counter.clone())])
}

fn messages() -> Vec<ChatMessage> {
    vec![
        ChatMessage::system("Be brief."),
        ChatMessage::user("Capital of France?"),
    ]
}

fn chat_payload(raw: Option<Value>) -> Payload {
    let mut response = ChatResponse::new(ChatMessage::assistant("It is Paris."));
    response.raw = raw;
    Payload::new()
        .with_serialized(EventPayload::Messages, &messages())
        .with_serialized(EventPayload::Response, &response)
}

/// Ends one LLM callback event with `payload`.
fn llm_end(manager: &CallbackManager, payload: Payload) -> Result<(), CallbackError> {
    manager.event(CBEventType::Llm, None)?.on_end(Some(payload))
}

#[test]
fn openai_usage_from_raw() -> Result<(), CallbackError> {
    let counter = counter();
    let raw = json!({"id": "chatcmpl-1",
        "usage": {"prompt_tokens": 21, "completion_tokens": 4, "total_tokens": 25}});
    llm_end(&manager(&counter), chat_payload(Some(raw)))?;
    assert_eq!(counter.prompt_llm_token_count(), 21);
    assert_eq!(counter.completion_llm_token_count(), 4);
    assert_eq!(counter.total_llm_token_count(), 25);
    let event = &counter.llm_token_counts()[0];
    assert_eq!(event.prompt, "system: Be brief.\nuser: Capital of France?");
    assert_eq!(event.completion, "assistant: It is Paris.");
    assert_eq!(event.total_token_count, 25);
    assert!(!event.event_id.is_empty());
    Ok(())
}

#[test]
fn anthropic_usage_with_cache_tokens() -> Result<(), CallbackError> {
    let counter = counter();
    let raw = json!({"usage": {"input_tokens": 10, "output_tokens": 7,
        "cache_read_input_tokens": 100, "cache_creation_input_tokens": 30}});
    llm_end(&manager(&counter), chat_payload(Some(raw)))?;
    assert_eq!(counter.prompt_llm_token_count(), 140);
    assert_eq!(counter.completion_llm_token_count(), 7);
    assert_eq!(counter.total_llm_token_count(), 147);
    Ok(())
}

#[test]
fn gemini_usage_metadata() -> Result<(), CallbackError> {
    let counter = counter();
    let raw = json!({"usage_metadata": {"prompt_token_count": 9, "candidates_token_count": 3,
        "total_token_count": 12}});
    llm_end(&manager(&counter), chat_payload(Some(raw)))?;
    assert_eq!(
        (
            counter.prompt_llm_token_count(),
            counter.completion_llm_token_count()
        ),
        (9, 3)
    );
    Ok(())
}

#[test]
fn usage_in_additional_kwargs_when_raw_has_none() -> Result<(), CallbackError> {
    let counter = counter();
    let mut response = ChatResponse::new(ChatMessage::assistant("It is Paris."));
    response.raw = Some(json!({"id": "x"}));
    response
        .additional_kwargs
        .insert("prompt_tokens".into(), json!(11));
    response
        .additional_kwargs
        .insert("completion_tokens".into(), json!(2));
    let payload = Payload::new()
        .with_serialized(EventPayload::Messages, &messages())
        .with_serialized(EventPayload::Response, &response);
    llm_end(&manager(&counter), payload)?;
    assert_eq!(counter.total_llm_token_count(), 13);
    Ok(())
}

#[test]
fn tokenizer_when_usage_is_absent() -> Result<(), CallbackError> {
    let counter = counter();
    llm_end(&manager(&counter), chat_payload(None))?;
    // "system: Be brief." + "user: Capital of France?" = 3 + 4 words; "assistant: It is Paris." = 4.
    assert_eq!(counter.prompt_llm_token_count(), 7);
    assert_eq!(counter.completion_llm_token_count(), 4);
    Ok(())
}

#[test]
fn tokenizer_when_usage_is_zero() -> Result<(), CallbackError> {
    let counter = counter();
    let raw = json!({"usage": {"prompt_tokens": 0, "completion_tokens": 0}});
    llm_end(&manager(&counter), chat_payload(Some(raw)))?;
    assert_eq!(counter.prompt_llm_token_count(), 7);
    assert_eq!(counter.completion_llm_token_count(), 4);

    // Each count falls back on its own.
    counter.reset_counts();
    let raw = json!({"usage": {"prompt_tokens": 50, "completion_tokens": 0}});
    llm_end(&manager(&counter), chat_payload(Some(raw)))?;
    assert_eq!(counter.prompt_llm_token_count(), 50);
    assert_eq!(counter.completion_llm_token_count(), 4);
    Ok(())
}

#[test]
fn default_tokenizer_counts_when_usage_is_absent() -> Result<(), CallbackError> {
    let counter = TokenCountingHandler::new();
    llm_end(&manager(&counter), chat_payload(None))?;
    let tokenizer = Tokenizer::default();
    let event = &counter.llm_token_counts()[0];
    assert_eq!(
        event.prompt_token_count,
        tokenizer.count("system: Be brief.\nuser: Capital of France?") as u64
    );
    assert_eq!(
        event.completion_token_count,
        tokenizer.count("assistant: It is Paris.") as u64
    );
    assert!(event.prompt_token_count > 0);
    Ok(())
}

#[test]
fn completion_payloads_with_strings_or_responses() -> Result<(), CallbackError> {
    let counter = counter();
    let manager = manager(&counter);
    llm_end(
        &manager,
        Payload::new()
            .with(EventPayload::Prompt, "Complete this sentence")
            .with(EventPayload::Completion, "with three words"),
    )?;
    let response = CompletionResponse::new("a b")
        .with_raw(json!({"usage": {"prompt_tokens": 40, "completion_tokens": 8}}));
    llm_end(
        &manager,
        Payload::new()
            .with(EventPayload::Prompt, "ignored by usage")
            .with_serialized(EventPayload::Completion, &response),
    )?;
    let counts = counter.llm_token_counts();
    assert_eq!(
        (
            counts[0].prompt_token_count,
            counts[0].completion_token_count
        ),
        (3, 3)
    );
    assert_eq!(counts[1].completion, "a b");
    assert_eq!(counts[1].total_token_count, 48);
    assert_eq!(counter.total_llm_token_count(), 54);
    Ok(())
}

#[test]
fn other_events_and_empty_payloads_count_nothing() -> Result<(), CallbackError> {
    let counter = counter();
    let manager = manager(&counter);
    manager.event(CBEventType::Llm, None)?.on_end(None)?;
    llm_end(&manager, Payload::new().with(EventPayload::TopK, 3))?;
    manager
        .event(CBEventType::Query, None)?
        .on_end(Some(Payload::new().with(EventPayload::Response, "a b c")))?;
    assert!(counter.llm_token_counts().is_empty());
    assert_eq!(counter.total_llm_token_count(), 0);
    Ok(())
}

#[test]
fn embedding_chunks_from_callbacks() -> Result<(), CallbackError> {
    let counter = counter();
    manager(&counter)
        .event(CBEventType::Embedding, None)?
        .on_end(Some(
            Payload::new().with(EventPayload::Chunks, vec!["one two three", "four"]),
        ))?;
    assert_eq!(counter.total_embedding_token_count(), 4);
    let chunks = counter.embedding_token_counts();
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[0].prompt, "one two three");
    assert_eq!(
        (
            chunks[0].prompt_token_count,
            chunks[0].completion_token_count
        ),
        (3, 0)
    );
    assert_eq!(chunks[0].event_id, chunks[1].event_id);
    assert_eq!(counter.total_llm_token_count(), 0);
    Ok(())
}

#[test]
fn instrumentation_events() {
    let counter = counter();
    let dispatcher = get_dispatcher("token_counting::instrumentation_events");
    dispatcher.add_event_handler(counter.clone());

    dispatcher.event(LLMChatEndEvent {
        messages: messages(),
        response: Some(
            ChatResponse::new(ChatMessage::assistant("It is Paris.")).with_raw(
                json!({"usage": {"input_tokens": 5, "output_tokens": 2, "cache_read_input_tokens": 1}}),
            ),
        ),
    });
    dispatcher.event(LLMCompletionEndEvent {
        prompt: "Complete this".into(),
        response: CompletionResponse::new("done now"),
    });
    dispatcher.event(LLMChatEndEvent {
        messages: messages(),
        response: None,
    });
    dispatcher.event(EmbeddingEndEvent {
        chunks: vec!["a b".into(), "c".into()],
        embeddings: vec![vec![0.0], vec![1.0]],
    });
    // A prediction's tokens are counted by the chat or completion call it makes, not twice.
    dispatcher.event(LLMPredictEndEvent {
        output: "many words here".into(),
    });

    let counts = counter.llm_token_counts();
    assert_eq!(counts.len(), 3);
    assert_eq!(
        (
            counts[0].prompt_token_count,
            counts[0].completion_token_count
        ),
        (6, 2)
    );
    assert_eq!(
        (
            counts[1].prompt_token_count,
            counts[1].completion_token_count
        ),
        (2, 2)
    );
    assert_eq!(
        (
            counts[2].prompt_token_count,
            counts[2].completion_token_count
        ),
        (7, 0)
    );
    assert_ne!(counts[0].event_id, counts[1].event_id);
    assert_eq!(counter.total_llm_token_count(), 19);
    assert_eq!(counter.total_embedding_token_count(), 3);
}

#[test]
fn reset_counts_empties_lists_and_totals() -> Result<(), CallbackError> {
    let counter = counter();
    let manager = manager(&counter);
    llm_end(&manager, chat_payload(None))?;
    manager
        .event(CBEventType::Embedding, None)?
        .on_end(Some(Payload::new().with(EventPayload::Chunks, vec!["x"])))?;
    counter.reset_counts();
    assert!(counter.llm_token_counts().is_empty());
    assert!(counter.embedding_token_counts().is_empty());
    assert_eq!(
        [
            counter.prompt_llm_token_count(),
            counter.completion_llm_token_count(),
            counter.total_llm_token_count(),
            counter.total_embedding_token_count(),
        ],
        [0; 4]
    );
    llm_end(&manager, chat_payload(None))?;
    assert_eq!(counter.total_llm_token_count(), 11);
    Ok(())
}

#[test]
fn lists_are_bounded_but_totals_count_everything() -> Result<(), CallbackError> {
    let counter = TokenCountingHandler::with_capacity(2).with_tokenizer(words());
    let manager = manager(&counter);
    for n in 1..=3u64 {
        let raw = json!({"usage": {"prompt_tokens": n, "completion_tokens": 1}});
        llm_end(&manager, chat_payload(Some(raw)))?;
    }
    let kept: Vec<_> = counter
        .llm_token_counts()
        .iter()
        .map(|e| e.prompt_token_count)
        .collect();
    assert_eq!(kept, [2, 3]);
    assert_eq!(counter.evicted(), 1);
    assert_eq!(counter.capacity(), 2);
    assert_eq!(counter.prompt_llm_token_count(), 6);
    Ok(())
}

#[test]
fn budget_exceeded_refuses_the_next_event_at_its_start() -> Result<(), CallbackError> {
    let counter = counter().with_token_budget(30);
    assert_eq!(counter.token_budget(), Some(30));
    let manager = manager(&counter);
    let raw = json!({"usage": {"prompt_tokens": 20, "completion_tokens": 5}});
    llm_end(&manager, chat_payload(Some(raw.clone())))?;
    assert!(counter.check_budget().is_ok());

    // The call that crosses the budget runs and ends normally, counted...
    let llm = manager.event(CBEventType::Llm, None)?;
    llm.on_end(Some(chat_payload(Some(raw))))?;
    // ... and the next event of any type is refused at its start, before it runs.
    let err = manager.event(CBEventType::Llm, None).unwrap_err();
    assert_eq!(
        err.message(),
        "Token budget exceeded! Limit: 30, Current: 50"
    );
    let retrieve = manager.event(CBEventType::Retrieve, None).unwrap_err();
    assert_eq!(retrieve.to_string(), err.to_string());
    assert_eq!(err.handler_name(), "TokenCountingHandler");
    let source = err
        .source()
        .and_then(|s| s.downcast_ref::<TokenBudgetExceeded>());
    assert_eq!(
        source,
        Some(&TokenBudgetExceeded {
            limit: 30,
            current: 50
        })
    );
    // The call is counted all the same.
    assert_eq!(counter.total_llm_token_count(), 50);
    assert_eq!(
        counter.check_budget(),
        Err(TokenBudgetExceeded {
            limit: 30,
            current: 50
        })
    );
    counter.reset_counts();
    assert!(counter.check_budget().is_ok());
    Ok(())
}

#[test]
fn budget_on_the_instrumentation_path_is_checked_not_raised() {
    let counter = counter().with_token_budget(5);
    let dispatcher = get_dispatcher("token_counting::budget");
    dispatcher.add_event_handler(counter.clone());
    dispatcher.event(LLMCompletionEndEvent {
        prompt: "one two three".into(),
        response: CompletionResponse::new("four five six"),
    });
    assert_eq!(
        counter.check_budget().unwrap_err().to_string(),
        "Token budget exceeded! Limit: 5, Current: 6"
    );
}

#[test]
fn token_counting_event_serializes_with_llamaindex_field_names() {
    let event = TokenCountingEvent {
        event_id: "e".into(),
        prompt: "p".into(),
        prompt_token_count: 1,
        completion: "c".into(),
        completion_token_count: 2,
        total_token_count: 3,
        ..TokenCountingEvent::default()
    };
    assert_eq!(
        serde_json::to_value(&event).unwrap(),
        json!({"event_id": "e", "prompt": "p", "prompt_token_count": 1, "completion": "c",
               "completion_token_count": 2, "total_token_count": 3})
    );
}

#[test]
fn one_counter_accounts_concurrent_requests_apart_by_tag_and_by_trace() {
    let counter = TokenCountingHandler::new()
        .with_totals_by_tag("request_id")
        .with_totals_by_trace();
    let dispatcher = get_dispatcher("token_counting::per_request");
    dispatcher.add_event_handler(counter.clone());
    let requests: Vec<_> = (1..=4u64)
        .map(|n| {
            std::thread::spawn(move || {
                let tags = instrument::Tags::from([("request_id", format!("req-{n}"))]);
                instrument::instrument_tags(tags, || {
                    dispatcher.in_span("handle", || {
                        for _ in 0..n {
                            dispatcher.event(LLMCompletionEndEvent {
                                prompt: "p".into(),
                                response: CompletionResponse {
                                    raw: Some(json!({"usage": {
                                        "prompt_tokens": 10 * n, "completion_tokens": n
                                    }})),
                                    ..CompletionResponse::new("c")
                                },
                            });
                        }
                        instrument::Context::current_trace_id().unwrap()
                    })
                })
            })
        })
        .collect();
    let traces: Vec<[u8; 16]> = requests.into_iter().map(|r| r.join().unwrap()).collect();
    for (n, trace) in (1..=4u64).zip(traces) {
        let by_tag = counter.cost_totals_for_tag(&format!("req-{n}"));
        assert_eq!((by_tag.calls, by_tag.prompt_tokens), (n, 10 * n * n));
        assert_eq!(by_tag.completion_tokens, n * n);
        assert_eq!(counter.cost_totals_for_trace(trace), by_tag);
        // Taken when the request is done: nothing is kept for it afterwards.
        assert_eq!(
            counter.take_cost_totals_for_tag(&format!("req-{n}")),
            by_tag
        );
        assert_eq!(counter.take_cost_totals_for_trace(trace), by_tag);
        assert_eq!(counter.cost_totals_for_trace(trace).calls, 0);
    }
    assert_eq!(counter.cost_totals().calls, 1 + 2 + 3 + 4);
    assert_eq!(counter.cost_totals_for_tag("never").calls, 0);
}
