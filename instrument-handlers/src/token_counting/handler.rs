//! `TokenCountingHandler`: counts the tokens of LLM and embedding calls, and prices them, from
//! callbacks and from instrumentation events.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::budget::TokenBudgetExceeded;
use super::cost::{Cost, cost_of};
use super::event::TokenCountingEvent;
use super::groups::{Grouping, Groups};
use super::model::PendingModels;
use super::payload::Answer;
use super::price_table::PriceTable;
use super::tokenizer::Tokenizer;
use super::totals::{CostTotals, Totals};
use super::usage::Usage;
use crate::bounded::Bounded;
use crate::call_key::CallKey;

#[derive(Debug)]
struct State {
    llm: Bounded<TokenCountingEvent>,
    embedding: Bounded<TokenCountingEvent>,
    prompt: u64,
    completion: u64,
    embedding_total: u64,
    totals: Totals,
    groups: Groups,
    pending: PendingModels,
}

impl State {
    fn new(capacity: usize) -> Self {
        Self {
            llm: Bounded::new(capacity),
            embedding: Bounded::new(capacity),
            prompt: 0,
            completion: 0,
            embedding_total: 0,
            totals: Totals::default(),
            groups: Groups::default(),
            pending: PendingModels::default(),
        }
    }
}

/// Counts the tokens of every LLM call and every embedded chunk, as the provider reports them or,
/// when it reports none, with a tokenizer (LlamaIndex's `TokenCountingHandler`).
///
/// It listens both ways a pipeline can be observed: as a [`CallbackHandler`] (the end of `Llm`
/// events, with `messages` and `response` or `formatted_prompt` and `completion` in the payload, and
/// of `Embedding` events, with `chunks`) and as an [`EventHandler`] ([`LLMChatEndEvent`],
/// [`LLMCompletionEndEvent`], [`EmbeddingEndEvent`]). Clones share their counts, so one counter can
/// be registered on a [`CallbackManager`] and on a dispatcher at once.
///
/// For each LLM call the prompt and completion counts come, each on its own, from the usage the
/// provider reported ([`usage_from`] on the response's `raw`, then its `additional_kwargs`: OpenAI,
/// Anthropic with cache tokens, Gemini names) when that count is there and not zero, else from
/// the [`Tokenizer`] (`cl100k_base` by default) on the prompt text (chat messages as
/// `role: content` lines) or on the completion text (a chat answer as `role: content`, as LlamaIndex
/// counts it). Each embedded chunk is counted with the tokenizer.
///
/// It prices what it counts with a [`PriceTable`] ([`PriceTable::builtin`] unless
/// [`with_prices`](Self::with_prices) says otherwise): each [`TokenCountingEvent`] carries its
/// model and cost when they are known, and [`cost_totals`](Self::cost_totals) and
/// [`cost_by_model`](Self::cost_by_model) add them up. A call's model is the one its response says
/// served it (the provider's raw `model`, or Gemini's `model_version`), else the one its start
/// named (`model` or `model_name` in the call's keyword arguments, then in the model's settings:
/// [`LLMChatStartEvent`], [`LLMCompletionStartEvent`] and [`EmbeddingStartEvent`], or the
/// `serialized` settings and `model_name` of a callback event's start). A start and its end meet
/// in the span they were emitted in, or on their thread outside any span. A call is priced on the
/// tokens counted for it, so on the tokenizer's count when the provider reported none. Its tokens
/// are counted whatever happens; its cost is unknown (`None`, and its model is listed by
/// [`unpriced_models`](Self::unpriced_models)) when no model is named, the table has no price for
/// it, or the price has no rate for a kind of token the call used (see
/// [`cost_of`](super::cost_of)).
///
/// It keeps the last [`capacity`](Self::capacity) events of each list; the totals count every event
/// since the last [`reset_counts`](Self::reset_counts), evicted ones included.
///
/// With a [token budget](Self::with_token_budget), once the LLM tokens counted are over the
/// limit, the start of every callback event fails with [`TokenBudgetExceeded`] (its message
/// `Token budget exceeded! Limit: {limit}, Current: {current}`), as LlamaIndex checks its budget:
/// the call that crossed it returns its answer, and the next one is refused before it runs.
/// Instrumentation events cannot fail, so that path only counts: ask
/// [`check_budget`](Self::check_budget) before a call.
///
/// ```
/// use std::sync::Arc;
/// use instrument::callbacks::{CallbackError, CallbackManager, CBEventType, EventPayload, Payload};
/// use instrument::llm::{ChatMessage, ChatResponse};
/// use instrument::handlers::TokenCountingHandler;
/// use instrument::handlers::token_counting::Tokenizer;
///
/// let words = Tokenizer::new(|text| text.split_whitespace().count());
/// let counter = TokenCountingHandler::new().with_tokenizer(words).with_token_budget(100);
/// let manager = CallbackManager::new(vec![Arc::new(counter.clone())]);
///
/// let answer = ChatResponse::new(ChatMessage::assistant("Paris."))
///     .with_raw(serde_json::json!({"usage": {"prompt_tokens": 12, "completion_tokens": 2}}));
/// let llm = manager.event(CBEventType::Llm, None)?;
/// llm.on_end(Some(
///     Payload::new()
///         .with_serialized(EventPayload::Messages, &[ChatMessage::user("Capital of France?")])
///         .with_serialized(EventPayload::Response, &answer),
/// ))?;
/// let embed = manager.event(CBEventType::Embedding, None)?;
/// embed.on_end(Some(Payload::new().with(EventPayload::Chunks, vec!["one two", "three"])))?;
///
/// assert_eq!(counter.prompt_llm_token_count(), 12);
/// assert_eq!(counter.completion_llm_token_count(), 2);
/// assert_eq!(counter.total_llm_token_count(), 14);
/// assert_eq!(counter.total_embedding_token_count(), 3);
/// assert_eq!(counter.llm_token_counts()[0].prompt, "user: Capital of France?");
/// assert!(counter.check_budget().is_ok());
/// // No model was named, so the calls have no cost.
/// assert_eq!(counter.cost_totals().cost(), None);
/// assert_eq!(counter.unpriced_models(), [""]);
/// counter.reset_counts();
/// assert_eq!(counter.total_llm_token_count(), 0);
/// # Ok::<(), CallbackError>(())
/// ```
///
/// [`CallbackManager`]: instrument_core::callbacks::CallbackManager
/// [`CallbackHandler`]: instrument_core::callbacks::CallbackHandler
/// [`EventHandler`]: instrument_core::EventHandler
/// [`LLMChatEndEvent`]: instrument_core::events::LLMChatEndEvent
/// [`LLMCompletionEndEvent`]: instrument_core::events::LLMCompletionEndEvent
/// [`EmbeddingEndEvent`]: instrument_core::events::EmbeddingEndEvent
/// [`LLMChatStartEvent`]: instrument_core::events::LLMChatStartEvent
/// [`LLMCompletionStartEvent`]: instrument_core::events::LLMCompletionStartEvent
/// [`EmbeddingStartEvent`]: instrument_core::events::EmbeddingStartEvent
/// [`usage_from`]: super::usage_from
#[derive(Clone)]
pub struct TokenCountingHandler {
    tokenizer: Tokenizer,
    budget: Option<u64>,
    grouping: Grouping,
    prices: Arc<PriceTable>,
    state: Arc<Mutex<State>>,
}

impl Default for TokenCountingHandler {
    fn default() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }
}

impl fmt::Debug for TokenCountingHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("TokenCountingHandler")
            .field("prompt_llm_tokens", &state.prompt)
            .field("completion_llm_tokens", &state.completion)
            .field("embedding_tokens", &state.embedding_total)
            .field("priced_cost", &state.totals.overall.priced_cost.total())
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl TokenCountingHandler {
    /// How many events of each list a handler keeps unless told otherwise.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// A handler with the default tokenizer, the built-in prices, no budget, keeping
    /// [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) events of each list.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A handler keeping at most `capacity` events (at least one) in each list, evicting the oldest.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            tokenizer: Tokenizer::default(),
            budget: None,
            grouping: Grouping::default(),
            prices: Arc::new(PriceTable::builtin()),
            state: Arc::new(Mutex::new(State::new(capacity))),
        }
    }

    /// Makes the tokenizer ready now rather than when a response first lacks its usage (see
    /// [`Tokenizer::warm_up`]).
    pub fn warm_up_tokenizer(&self) {
        self.tokenizer.warm_up();
    }

    /// The handler, counting with `tokenizer` when providers report no usage.
    #[must_use]
    pub fn with_tokenizer(self, tokenizer: Tokenizer) -> Self {
        Self { tokenizer, ..self }
    }

    /// The handler, refusing the start of every callback event once more than `limit` LLM
    /// tokens (prompt plus completion, over all calls since the last reset) were counted.
    #[must_use]
    pub fn with_token_budget(self, limit: u64) -> Self {
        Self {
            budget: Some(limit),
            ..self
        }
    }

    /// The token budget, if any.
    #[must_use]
    pub fn token_budget(&self) -> Option<u64> {
        self.budget
    }

    /// The handler, also keeping totals by the value of the tag `key` at the end of each call
    /// (see [`instrument_core::instrument_tags`]): one handler shared by concurrent requests then
    /// accounts each request apart, by a request id it tags its work with. Read them with
    /// [`cost_totals_for_tag`](Self::cost_totals_for_tag); take them with
    /// [`take_cost_totals_for_tag`](Self::take_cost_totals_for_tag) when the request is done, so
    /// that the handler keeps nothing per finished request.
    ///
    /// ```
    /// use instrument::{Tags, get_dispatcher, instrument_tags};
    /// use instrument::events::LLMCompletionEndEvent;
    /// use instrument::llm::CompletionResponse;
    /// use instrument::handlers::TokenCountingHandler;
    ///
    /// let counter = TokenCountingHandler::new().with_totals_by_tag("request_id");
    /// let dispatcher = get_dispatcher("doc::tokens_by_request");
    /// dispatcher.add_event_handler(counter.clone());
    /// for (request, prompt) in [("r1", "one two"), ("r2", "three")] {
    ///     instrument_tags(Tags::from([("request_id", request)]), || {
    ///         dispatcher.event(LLMCompletionEndEvent {
    ///             prompt: prompt.into(),
    ///             response: CompletionResponse::new("ok"),
    ///         });
    ///     });
    /// }
    /// let r1 = counter.take_cost_totals_for_tag("r1");
    /// let r2 = counter.cost_totals_for_tag("r2");
    /// assert_eq!(r1.calls, 1);
    /// assert!(r1.prompt_tokens > r2.prompt_tokens);
    /// assert_eq!(counter.cost_totals_for_tag("r1").calls, 0); // taken
    /// ```
    #[must_use]
    pub fn with_totals_by_tag(self, key: impl Into<String>) -> Self {
        Self {
            grouping: Grouping {
                tag: Some(key.into()),
                ..self.grouping
            },
            ..self
        }
    }

    /// The handler, also keeping totals by trace (the W3C trace-id of the span each call ends
    /// in): concurrent requests, each its own trace, are accounted apart. Read them with
    /// [`cost_totals_for_trace`](Self::cost_totals_for_trace), and take them with
    /// [`take_cost_totals_for_trace`](Self::take_cost_totals_for_trace) once the trace is done.
    #[must_use]
    pub fn with_totals_by_trace(self) -> Self {
        Self {
            grouping: Grouping {
                trace: true,
                ..self.grouping
            },
            ..self
        }
    }

    /// The tokens and cost of the calls that ended with the grouping tag set to `value` (a
    /// string tag's text, or another value's JSON text) since the last reset; zero when none did.
    #[must_use]
    pub fn cost_totals_for_tag(&self, value: &str) -> CostTotals {
        self.lock()
            .groups
            .by_tag
            .get(value)
            .copied()
            .unwrap_or_default()
    }

    /// As [`cost_totals_for_tag`](Self::cost_totals_for_tag), forgetting them.
    pub fn take_cost_totals_for_tag(&self, value: &str) -> CostTotals {
        self.lock().groups.by_tag.remove(value).unwrap_or_default()
    }

    /// The tokens and cost of the calls that ended in the trace `trace_id` (see
    /// [`instrument_core::SpanStart::trace_id`]) since the last reset; zero when none did.
    #[must_use]
    pub fn cost_totals_for_trace(&self, trace_id: [u8; 16]) -> CostTotals {
        self.lock()
            .groups
            .by_trace
            .get(&trace_id)
            .copied()
            .unwrap_or_default()
    }

    /// As [`cost_totals_for_trace`](Self::cost_totals_for_trace), forgetting them.
    pub fn take_cost_totals_for_trace(&self, trace_id: [u8; 16]) -> CostTotals {
        self.lock()
            .groups
            .by_trace
            .remove(&trace_id)
            .unwrap_or_default()
    }

    /// The handler, pricing calls with `prices` instead of [`PriceTable::builtin`];
    /// [`PriceTable::new()`] prices nothing. Calls already counted keep their cost.
    #[must_use]
    pub fn with_prices(self, prices: PriceTable) -> Self {
        Self {
            prices: Arc::new(prices),
            ..self
        }
    }

    /// The prices calls are priced with.
    #[must_use]
    pub fn prices(&self) -> &PriceTable {
        &self.prices
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The LLM calls counted, oldest first (at most [`capacity`](Self::capacity)).
    #[must_use]
    pub fn llm_token_counts(&self) -> Vec<TokenCountingEvent> {
        self.lock().llm.to_vec()
    }

    /// The embedded chunks counted, oldest first (at most [`capacity`](Self::capacity)).
    #[must_use]
    pub fn embedding_token_counts(&self) -> Vec<TokenCountingEvent> {
        self.lock().embedding.to_vec()
    }

    /// Prompt tokens of all LLM calls since the last reset.
    #[must_use]
    pub fn prompt_llm_token_count(&self) -> u64 {
        self.lock().prompt
    }

    /// Completion tokens of all LLM calls since the last reset.
    #[must_use]
    pub fn completion_llm_token_count(&self) -> u64 {
        self.lock().completion
    }

    /// Prompt plus completion tokens of all LLM calls since the last reset.
    #[must_use]
    pub fn total_llm_token_count(&self) -> u64 {
        let state = self.lock();
        state.prompt + state.completion
    }

    /// Tokens of all embedded chunks since the last reset.
    #[must_use]
    pub fn total_embedding_token_count(&self) -> u64 {
        self.lock().embedding_total
    }

    /// The tokens and cost of every LLM and embedding call since the last reset.
    #[must_use]
    pub fn cost_totals(&self) -> CostTotals {
        self.lock().totals.overall
    }

    /// The tokens and cost of the LLM and embedding calls since the last reset, by the model name
    /// the calls reported (a dated snapshot such as `gpt-4o-2024-08-06` is its own model here);
    /// calls that named no model are under the empty name.
    #[must_use]
    pub fn cost_by_model(&self) -> BTreeMap<String, CostTotals> {
        self.lock().totals.by_model.clone()
    }

    /// The models, in order, with calls since the last reset whose cost is unknown; the empty name
    /// stands for calls that named no model.
    #[must_use]
    pub fn unpriced_models(&self) -> Vec<String> {
        self.lock().totals.unpriced_models()
    }

    /// Empties both lists and sets every total, token and cost, to zero.
    pub fn reset_counts(&self) {
        let mut state = self.lock();
        state.llm.clear();
        state.embedding.clear();
        state.prompt = 0;
        state.completion = 0;
        state.embedding_total = 0;
        state.totals = Totals::default();
        state.groups = Groups::default();
    }

    /// How many events each list keeps at most.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.lock().llm.capacity()
    }

    /// How many events were evicted from the lists to stay within the capacity (the totals still
    /// count them), since the handler was made.
    #[must_use]
    pub fn evicted(&self) -> u64 {
        let state = self.lock();
        state.llm.evicted() + state.embedding.evicted()
    }

    /// Whether the LLM tokens counted are within the budget; always `Ok` without one.
    ///
    /// # Errors
    /// [`TokenBudgetExceeded`] when more LLM tokens than the budget were counted since the last
    /// reset.
    pub fn check_budget(&self) -> Result<(), TokenBudgetExceeded> {
        self.over_budget(self.total_llm_token_count())
    }

    pub(super) fn over_budget(&self, current: u64) -> Result<(), TokenBudgetExceeded> {
        match self.budget {
            Some(limit) if current > limit => Err(TokenBudgetExceeded { limit, current }),
            _ => Ok(()),
        }
    }

    fn tokens(&self, text: &str) -> u64 {
        u64::try_from(self.tokenizer.count(text)).unwrap_or(u64::MAX)
    }

    /// What a call of `model` that used `usage` cost, if that is known.
    pub(super) fn cost(&self, model: Option<&str>, usage: &Usage) -> Option<Cost> {
        cost_of(model?, usage, &self.prices)
    }

    /// A call under `key` started, naming `model`.
    pub(super) fn started(&self, key: CallKey, model: Option<String>) {
        self.lock().pending.start(key, model);
    }

    /// The call under `key` ended: the model its start named.
    pub(super) fn ended(&self, key: &CallKey) -> Option<String> {
        self.lock().pending.end(key)
    }

    /// Counts one LLM call and keeps it; returns the LLM total after it.
    pub(super) fn count_llm(
        &self,
        event_id: String,
        prompt: String,
        answer: Answer,
        model: Option<String>,
    ) -> u64 {
        let Answer {
            text: completion,
            usage,
            ..
        } = answer;
        let reported = |n: Option<u64>| n.filter(|&n| n > 0);
        let prompt_token_count =
            reported(usage.map(|u| u.prompt)).unwrap_or_else(|| self.tokens(&prompt));
        let completion_token_count =
            reported(usage.map(|u| u.completion)).unwrap_or_else(|| self.tokens(&completion));
        let counted = Usage {
            prompt: prompt_token_count,
            completion: completion_token_count,
            ..usage.unwrap_or_default()
        };
        let cost = self.cost(model.as_deref(), &counted);
        let groups = self.grouping.keys();
        let event = TokenCountingEvent {
            event_id,
            prompt,
            prompt_token_count,
            completion,
            completion_token_count,
            total_token_count: prompt_token_count + completion_token_count,
            model,
            cached_prompt_token_count: counted.cached_prompt.min(prompt_token_count),
            cost,
        };
        let mut state = self.lock();
        state.prompt += prompt_token_count;
        state.completion += completion_token_count;
        state.totals.add(event.model.as_deref(), &counted, cost);
        state.groups.add(groups, &counted, cost);
        state.llm.push(event);
        state.prompt + state.completion
    }

    /// Counts each chunk of one embedding call of `model` and keeps them.
    pub(super) fn count_embedding(
        &self,
        event_id: &str,
        chunks: impl IntoIterator<Item = String>,
        model: Option<String>,
    ) {
        let embedded = |tokens| Usage {
            prompt: tokens,
            ..Usage::default()
        };
        let events: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let tokens = self.tokens(&chunk);
                TokenCountingEvent {
                    event_id: event_id.to_owned(),
                    prompt: chunk,
                    prompt_token_count: tokens,
                    total_token_count: tokens,
                    model: model.clone(),
                    cost: self.cost(model.as_deref(), &embedded(tokens)),
                    ..TokenCountingEvent::default()
                }
            })
            .collect();
        let call = embedded(events.iter().map(|e| e.prompt_token_count).sum());
        let cost = self.cost(model.as_deref(), &call);
        let groups = self.grouping.keys();
        let mut state = self.lock();
        state.totals.add(model.as_deref(), &call, cost);
        state.groups.add(groups, &call, cost);
        for event in events {
            state.embedding_total += event.total_token_count;
            state.embedding.push(event);
        }
    }
}
