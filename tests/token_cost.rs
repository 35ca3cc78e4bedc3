//! Cost beside tokens: `TokenCountingHandler` prices each call from the provider's usage (cached
//! prompt tokens, cache writes, thinking tokens) and a price table (built-in and dated, or the
//! user's), by model, with unknown models counted but not priced; totals per model and overall,
//! across threads, and reset.

use std::sync::Arc;
use std::thread;

use instrument::callbacks::{CBEventType, CallbackError, CallbackManager, EventPayload, Payload};
use instrument::events::{
    EmbeddingEndEvent, EmbeddingStartEvent, LLMChatEndEvent, LLMChatStartEvent,
    LLMCompletionEndEvent, LLMCompletionStartEvent,
};
use instrument::handlers::TokenCountingHandler;
use instrument::handlers::token_counting::{
    CostTotals, Price, PriceError, PriceTable, Tokenizer, Usd,
};
use instrument::llm::{ChatMessage, ChatResponse, CompletionResponse};
use instrument::{Dispatcher, get_dispatcher};
use serde_json::{Map, Value, json};

/// One token per whitespace-separated word, so counts without usage can be read off the text.
fn words() -> Tokenizer {
    Tokenizer::new(|text| text.split_whitespace().count())
}

/// A counter with the built-in prices on a dispatcher of its own.
fn counter_on(name: &str) -> (TokenCountingHandler, &'static Dispatcher) {
    let counter = TokenCountingHandler::new().with_tokenizer(words());
    let dispatcher = get_dispatcher(name);
    dispatcher.add_event_handler(counter.clone());
    (counter, dispatcher)
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A chat call as an integration reports it: the start names the model in its settings, the end
/// carries the provider's raw response.
fn chat(dispatcher: &Dispatcher, settings_model: Option<&str>, raw: Value) {
    dispatcher.event(LLMChatStartEvent {
        messages: vec![ChatMessage::user("Capital of France?")],
        additional_kwargs: Map::new(),
        model_dict: object(settings_model.map_or(json!({}), |m| json!({"model": m}))),
    });
    dispatcher.event(LLMChatEndEvent {
        messages: vec![ChatMessage::user("Capital of France?")],
        response: Some(ChatResponse::new(ChatMessage::assistant("Paris.")).with_raw(raw)),
    });
}

/// A completion call of `model` reporting `prompt` and `completion` tokens.
fn completion(dispatcher: &Dispatcher, model: &str, prompt: u64, completion: u64) {
    dispatcher.event(LLMCompletionStartEvent {
        prompt: "Complete this".into(),
        additional_kwargs: Map::new(),
        model_dict: object(json!({"model": model, "temperature": 0.0})),
    });
    dispatcher.event(LLMCompletionEndEvent {
        prompt: "Complete this".into(),
        response: CompletionResponse::new("done")
            .with_raw(json!({"usage": {"prompt_tokens": prompt, "completion_tokens": completion}})),
    });
}

fn dollars(text: &str) -> Usd {
    text.parse().unwrap()
}

#[test]
fn openai_chat_with_cached_prompt_tokens() {
    let (counter, dispatcher) = counter_on("token_cost::openai");
    chat(
        dispatcher,
        Some("gpt-4o-mini"),
        json!({"model": "gpt-4o-mini-2024-07-18", "usage": {
            "prompt_tokens": 2000, "completion_tokens": 300, "total_tokens": 2300,
            "prompt_tokens_details": {"cached_tokens": 1536, "audio_tokens": 0}}}),
    );

    let event = &counter.llm_token_counts()[0];
    assert_eq!(event.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    assert_eq!(
        (event.prompt_token_count, event.cached_prompt_token_count),
        (2000, 1536)
    );
    // gpt-4o-mini: $0.15 per million prompt tokens, $0.075 cached, $0.60 completion.
    let cost = event.cost.unwrap();
    assert_eq!(cost.uncached_prompt, dollars("0.0000696")); // 464 tokens
    assert_eq!(cost.cached_prompt, dollars("0.0001152")); // 1,536 tokens
    assert_eq!(cost.completion, dollars("0.00018")); // 300 tokens
    assert_eq!(cost.total().to_string(), "$0.0003648");
    assert_eq!(counter.cost_totals().cost(), Some(cost));
}

#[test]
fn anthropic_chat_with_cache_reads_and_both_kinds_of_cache_write() {
    let (counter, dispatcher) = counter_on("token_cost::anthropic");
    chat(
        dispatcher,
        None,
        json!({"model": "claude-sonnet-4-20250514", "usage": {
            "input_tokens": 100, "output_tokens": 50,
            "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 1000,
            "cache_creation": {"ephemeral_5m_input_tokens": 600, "ephemeral_1h_input_tokens": 400}}}),
    );

    // Sonnet 4: $3 input, $0.30 cache hits, $3.75 five-minute and $6 one-hour writes, $15 output.
    let cost = counter.llm_token_counts()[0].cost.unwrap();
    assert_eq!(cost.uncached_prompt, dollars("0.0003"));
    assert_eq!(cost.cached_prompt, dollars("0.0006"));
    assert_eq!(cost.cache_write, dollars("0.00465"));
    assert_eq!(cost.completion, dollars("0.00075"));
    assert_eq!(cost.total().to_string(), "$0.0063");

    let totals = counter.cost_by_model()["claude-sonnet-4-20250514"];
    assert_eq!(
        (
            totals.prompt_tokens,
            totals.cached_prompt_tokens,
            totals.cache_write_tokens,
            totals.completion_tokens,
        ),
        (3100, 2000, 1000, 50)
    );
}

#[test]
fn gemini_chats_thinking_tokens_long_prompts_and_cache_reads() {
    let (counter, dispatcher) = counter_on("token_cost::gemini");
    // The Python SDK's snake_case usage; thinking tokens are billed as output.
    chat(
        dispatcher,
        None,
        json!({"model_version": "gemini-2.5-flash", "usage_metadata": {
            "prompt_token_count": 1200, "candidates_token_count": 300, "thoughts_token_count": 500,
            "total_token_count": 2000}}),
    );
    // The REST API's camelCase, the model named only by the start, with its path; a prompt over
    // 200,000 tokens is billed at the long-context rates ($2.50 and $15 instead of $1.25 and $10).
    chat(
        dispatcher,
        Some("models/gemini-2.5-pro"),
        json!({"usageMetadata": {"promptTokenCount": 250_000, "candidatesTokenCount": 1000}}),
    );
    // Google's cached-prompt rate is not in the built-in table: that call has no cost.
    chat(
        dispatcher,
        None,
        json!({"modelVersion": "gemini-2.5-flash", "usageMetadata": {
            "promptTokenCount": 5000, "candidatesTokenCount": 10, "cachedContentTokenCount": 4096}}),
    );

    let calls = counter.llm_token_counts();
    assert_eq!(
        (
            calls[0].completion_token_count,
            calls[0].cost.unwrap().total()
        ),
        (800, dollars("0.00236"))
    );
    assert_eq!(calls[1].model.as_deref(), Some("models/gemini-2.5-pro"));
    assert_eq!(calls[1].cost.unwrap().total().to_string(), "$0.64");
    assert_eq!(calls[2].cost, None);
    assert_eq!(calls[2].cached_prompt_token_count, 4096);

    let flash = counter.cost_by_model()["gemini-2.5-flash"];
    assert_eq!((flash.calls, flash.unpriced_calls), (2, 1));
    assert_eq!(flash.prompt_tokens, 6200);
    assert_eq!(flash.priced_cost.total(), dollars("0.00236"));
    assert_eq!(flash.cost(), None);
    assert_eq!(counter.unpriced_models(), ["gemini-2.5-flash"]);
}

#[test]
fn embeddings_cost_their_input_only() {
    let (counter, dispatcher) = counter_on("token_cost::embedding");
    dispatcher.event(EmbeddingStartEvent {
        model_dict: object(json!({"model_name": "text-embedding-3-small", "embed_batch_size": 10})),
    });
    dispatcher.event(EmbeddingEndEvent {
        chunks: vec!["one two three".into(), "four five".into()],
        embeddings: vec![vec![0.1], vec![0.2]],
    });

    // $0.02 per million tokens is 20,000 picodollars a token.
    let chunks = counter.embedding_token_counts();
    assert_eq!(
        chunks[0].cost.unwrap().uncached_prompt.picodollars(),
        60_000
    );
    assert_eq!(chunks[1].cost.unwrap().total().picodollars(), 40_000);
    assert_eq!(chunks[0].model.as_deref(), Some("text-embedding-3-small"));

    let totals = counter.cost_by_model()["text-embedding-3-small"];
    assert_eq!(
        (totals.calls, totals.prompt_tokens, totals.completion_tokens),
        (1, 5, 0)
    );
    let cost = totals.cost().unwrap();
    assert_eq!(cost.completion, Usd::ZERO);
    assert_eq!(cost.total().to_string(), "$0.0000001");
    assert_eq!(counter.total_embedding_token_count(), 5);
}

#[test]
fn the_built_in_prices_are_dated_and_used_by_default() {
    assert_eq!(PriceTable::BUILTIN_PRICES_CHECKED, "2026-12-06");
    let (counter, dispatcher) = counter_on("token_cost::builtin");
    assert_eq!(counter.prices(), &PriceTable::builtin());
    // Claude 3.5 Haiku: $0.80 and $4 per million tokens; `-latest` finds `claude-3-5-haiku`.
    completion(dispatcher, "claude-3-5-haiku-latest", 1_000_000, 1_000_000);
    let cost = counter.cost_totals().cost().unwrap();
    assert_eq!(cost.total().to_string(), "$4.80");
    assert_eq!(cost.total().dollars(), 4.8);
}

#[test]
fn a_users_table_overrides_the_built_in_prices() -> Result<(), PriceError> {
    let negotiated = PriceTable::builtin().with_model(
        "gpt-4o",
        Price::per_million(2.0, 8.0)?.with_cached_prompt(1.0)?,
    )?;
    let counter = TokenCountingHandler::new()
        .with_tokenizer(words())
        .with_prices(negotiated);
    let dispatcher = get_dispatcher("token_cost::override");
    dispatcher.add_event_handler(counter.clone());

    completion(dispatcher, "gpt-4o-2024-08-06", 1_000_000, 1_000_000);
    completion(dispatcher, "gpt-4o-mini", 1_000_000, 1_000_000);
    let calls = counter.llm_token_counts();
    assert_eq!(calls[0].cost.unwrap().total().to_string(), "$10.00");
    // The rest of the built-in table still applies.
    assert_eq!(calls[1].cost.unwrap().total().to_string(), "$0.75");

    // An empty table prices nothing, and counts everything.
    let unpriced = TokenCountingHandler::new().with_prices(PriceTable::new());
    let dispatcher = get_dispatcher("token_cost::override_empty");
    dispatcher.add_event_handler(unpriced.clone());
    completion(dispatcher, "gpt-4o", 10, 5);
    assert_eq!(unpriced.llm_token_counts()[0].cost, None);
    assert_eq!(unpriced.total_llm_token_count(), 15);
    assert!(Price::per_million(f64::NAN, 1.0).is_err());
    Ok(())
}

#[test]
fn prefix_matching_takes_the_longest_entry_and_only_version_tags() {
    let (counter, dispatcher) = counter_on("token_cost::prefix");
    // The first gpt-4o snapshot costs more than later ones ($5 and $15 per million tokens against
    // $2.50 and $10), and has its own entry.
    completion(dispatcher, "gpt-4o-2024-05-13", 1_000_000, 100_000);
    completion(dispatcher, "gpt-4o-2024-11-20", 1_000_000, 100_000);
    completion(dispatcher, "claude-3-7-sonnet-20250219", 1_000_000, 100_000);
    // Other models that merely start like a priced one.
    completion(dispatcher, "gpt-4o-mini-tts", 1_000_000, 100_000);
    completion(dispatcher, "o3-pro", 1_000_000, 100_000);

    let totals: Vec<_> = counter
        .llm_token_counts()
        .iter()
        .map(|call| call.cost.map(|cost| cost.total().to_string()))
        .collect();
    assert_eq!(
        totals,
        [
            Some("$6.50".to_owned()),
            Some("$3.50".to_owned()),
            Some("$4.50".to_owned()),
            None,
            None
        ]
    );
    let table = counter.prices();
    assert_eq!(
        table.lookup("gpt-4o-2024-05-13").map(|(entry, _)| entry),
        Some("gpt-4o-2024-05-13")
    );
    assert_eq!(
        table.lookup("gpt-4o-2024-11-20").map(|(entry, _)| entry),
        Some("gpt-4o")
    );
    assert_eq!(counter.unpriced_models(), ["gpt-4o-mini-tts", "o3-pro"]);
}

#[test]
fn unknown_models_are_counted_but_not_priced() {
    let (counter, dispatcher) = counter_on("token_cost::unknown");
    completion(dispatcher, "my-local-llama", 40, 10);
    completion(dispatcher, "gpt-4.1-nano", 1_000_000, 1_000_000);
    // Nothing names the model here.
    dispatcher.event(LLMCompletionEndEvent {
        prompt: "three more words".into(),
        response: CompletionResponse::new("and two"),
    });

    let calls = counter.llm_token_counts();
    assert_eq!(calls[0].model.as_deref(), Some("my-local-llama"));
    assert_eq!((calls[0].total_token_count, calls[0].cost), (50, None));
    assert_eq!((calls[2].model.as_deref(), calls[2].cost), (None, None));
    assert_eq!(counter.total_llm_token_count(), 2_000_055);

    let totals = counter.cost_totals();
    assert_eq!((totals.calls, totals.unpriced_calls), (3, 2));
    assert_eq!(totals.prompt_tokens, 1_000_043);
    assert_eq!(totals.cost(), None);
    // What is known stays known: gpt-4.1-nano, $0.10 and $0.40 per million tokens.
    assert_eq!(totals.priced_cost.total().to_string(), "$0.50");
    assert_eq!(counter.unpriced_models(), ["", "my-local-llama"]);
    let by_model = counter.cost_by_model();
    assert_eq!(by_model["my-local-llama"].cost(), None);
    assert_eq!(
        by_model["gpt-4.1-nano"].cost().unwrap().total(),
        dollars("0.5")
    );
}

#[test]
fn totals_per_model_and_overall_after_calls_on_two_threads() {
    let (counter, dispatcher) = counter_on("token_cost::threads");
    const CALLS: u64 = 500;
    thread::scope(|scope| {
        for model in ["gpt-4o-mini", "claude-haiku-4-5"] {
            scope.spawn(move || {
                for _ in 0..CALLS {
                    completion(dispatcher, model, 1_000, 100);
                }
            });
        }
    });
    // Inside spans, a call within a call meets its own start.
    dispatcher.in_span("agent", || {
        dispatcher.event(LLMChatStartEvent {
            messages: vec![],
            additional_kwargs: object(json!({"model": "o4-mini"})),
            model_dict: Map::new(),
        });
        completion(dispatcher, "o3", 1_000, 100);
        dispatcher.event(LLMChatEndEvent {
            messages: vec![],
            response: Some(
                ChatResponse::new(ChatMessage::assistant("done"))
                    .with_raw(json!({"usage": {"prompt_tokens": 1_000, "completion_tokens": 100}})),
            ),
        });
    });

    let by_model = counter.cost_by_model();
    let mini = by_model["gpt-4o-mini"];
    // Per call: 1,000 × $0.15 + 100 × $0.60 per million = $0.00021, exactly, 500 times.
    assert_eq!(
        mini,
        CostTotals {
            calls: CALLS,
            prompt_tokens: 1_000 * CALLS,
            completion_tokens: 100 * CALLS,
            priced_cost: mini.priced_cost,
            ..CostTotals::default()
        }
    );
    assert_eq!(mini.cost().unwrap().total(), dollars("0.105"));
    // Haiku 4.5: 1,000 × $1 + 100 × $5 per million = $0.0015 a call.
    assert_eq!(
        by_model["claude-haiku-4-5"].cost().unwrap().total(),
        dollars("0.75")
    );
    // o3 ($2, $8) and o4-mini ($1.10, $4.40): $0.0028 and $0.00154.
    assert_eq!(by_model["o3"].cost().unwrap().total(), dollars("0.0028"));
    assert_eq!(
        by_model["o4-mini"].cost().unwrap().total(),
        dollars("0.00154")
    );

    let overall = counter.cost_totals();
    assert_eq!(overall.calls, 2 * CALLS + 2);
    assert_eq!(overall.prompt_tokens, 1_000 * (2 * CALLS + 2));
    assert_eq!(
        overall.cost().unwrap().total(),
        dollars("0.105") + dollars("0.75") + dollars("0.0028") + dollars("0.00154")
    );
    assert_eq!(overall.cost().unwrap().total().to_string(), "$0.85934");
    assert!(counter.unpriced_models().is_empty());
}

#[test]
fn the_callback_side_prices_with_the_model_its_start_named() -> Result<(), CallbackError> {
    let counter = TokenCountingHandler::new().with_tokenizer(words());
    let manager = CallbackManager::new(vec![Arc::new(counter.clone())]);
    let llm = manager.event(
        CBEventType::Llm,
        Some(Payload::new().with(EventPayload::Serialized, json!({"model": "gpt-4.1"}))),
    )?;
    let response = ChatResponse::new(ChatMessage::assistant("Paris.")).with_raw(json!({
        "usage": {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000,
                  "prompt_tokens_details": {"cached_tokens": 500_000}}}));
    llm.on_end(Some(
        Payload::new()
            .with_serialized(EventPayload::Messages, &[ChatMessage::user("Capital?")])
            .with_serialized(EventPayload::Response, &response),
    ))?;
    // gpt-4.1: 500,000 × $2 + 500,000 × $0.50 + 1,000,000 × $8 per million.
    let call = &counter.llm_token_counts()[0];
    assert_eq!(call.model.as_deref(), Some("gpt-4.1"));
    assert_eq!(call.cost.unwrap().total().to_string(), "$9.25");
    Ok(())
}

#[test]
fn reset_sets_cost_totals_to_zero() {
    let (counter, dispatcher) = counter_on("token_cost::reset");
    completion(dispatcher, "gpt-4o", 1_000, 100);
    completion(dispatcher, "unknown-model", 1_000, 100);
    assert_eq!(counter.cost_totals().calls, 2);

    counter.reset_counts();
    assert_eq!(counter.cost_totals(), CostTotals::default());
    assert_eq!(counter.cost_totals().cost().unwrap().total(), Usd::ZERO);
    assert!(counter.cost_by_model().is_empty());
    assert!(counter.unpriced_models().is_empty());

    completion(dispatcher, "gpt-4o", 1_000, 100);
    // 1,000 × $2.50 + 100 × $10 per million.
    assert_eq!(
        counter.cost_totals().cost().unwrap().total().to_string(),
        "$0.0035"
    );
}

#[test]
fn the_cost_serialises_beside_llamaindex_fields_as_exact_decimals() {
    let (counter, dispatcher) = counter_on("token_cost::serialise");
    completion(dispatcher, "gpt-4o-mini", 2_000, 300);
    let json = serde_json::to_value(&counter.llm_token_counts()[0]).unwrap();
    assert_eq!(json["model"], "gpt-4o-mini");
    assert_eq!(
        json["cost"],
        json!({"uncached_prompt": "0.0003", "cached_prompt": "0.00", "cache_write": "0.00",
               "completion": "0.00018"})
    );
    assert_eq!(json["prompt_token_count"], 2_000);
    assert!(json.get("cached_prompt_token_count").is_none());
}
