//! `TokenCountingHandler`: counts the tokens of LLM and embedding calls, from callbacks and from
//! instrumentation events.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use instrument_core::callbacks::{
    CBEventType, CallbackError, CallbackHandler, EventPayload, Payload,
};
use instrument_core::events::{EmbeddingEndEvent, LLMChatEndEvent, LLMCompletionEndEvent};
use instrument_core::{EventEnvelope, EventHandler};

use super::budget::TokenBudgetExceeded;
use super::event::TokenCountingEvent;
use super::payload;
use super::tokenizer::Tokenizer;
use super::usage::{Usage, usage_from};
use crate::bounded::Bounded;

/// The name this handler gives in a [`CallbackError`].
const NAME: &str = "TokenCountingHandler";

#[derive(Debug)]
struct State {
    llm: Bounded<TokenCountingEvent>,
    embedding: Bounded<TokenCountingEvent>,
    prompt: u64,
    completion: u64,
    embedding_total: u64,
}

impl State {
    fn new(capacity: usize) -> Self {
        Self {
            llm: Bounded::new(capacity),
            embedding: Bounded::new(capacity),
            prompt: 0,
            completion: 0,
            embedding_total: 0,
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
/// It keeps the last [`capacity`](Self::capacity) events of each list; the totals count every event
/// since the last [`reset_counts`](Self::reset_counts), evicted ones included.
///
/// With a [token budget](Self::with_token_budget), an LLM call that takes the total LLM tokens over
/// the limit makes the callback path fail with [`TokenBudgetExceeded`] (its message
/// `Token budget exceeded! Limit: {limit}, Current: {current}`), which reaches the code that ended
/// the event. Instrumentation events cannot fail, so that path only counts: ask
/// [`check_budget`](Self::check_budget).
///
/// ```
/// use std::sync::Arc;
/// use instrument_core::callbacks::{CallbackError, CallbackManager, CBEventType, EventPayload, Payload};
/// use instrument_core::llm::{ChatMessage, ChatResponse};
/// use instrument_handlers::TokenCountingHandler;
/// use instrument_handlers::token_counting::Tokenizer;
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
/// counter.reset_counts();
/// assert_eq!(counter.total_llm_token_count(), 0);
/// # Ok::<(), CallbackError>(())
/// ```
///
/// [`CallbackManager`]: instrument_core::callbacks::CallbackManager
#[derive(Clone)]
pub struct TokenCountingHandler {
    tokenizer: Tokenizer,
    budget: Option<u64>,
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
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl TokenCountingHandler {
    /// How many events of each list a handler keeps unless told otherwise.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// A handler with the default tokenizer, no budget, keeping
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
            state: Arc::new(Mutex::new(State::new(capacity))),
        }
    }

    /// The handler, counting with `tokenizer` when providers report no usage.
    #[must_use]
    pub fn with_tokenizer(self, tokenizer: Tokenizer) -> Self {
        Self { tokenizer, ..self }
    }

    /// The handler, failing LLM ends on the callback path once more than `limit` LLM tokens
    /// (prompt plus completion, over all calls since the last reset) were counted.
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

    /// Empties both lists and sets every total to zero.
    pub fn reset_counts(&self) {
        let mut state = self.lock();
        state.llm.clear();
        state.embedding.clear();
        state.prompt = 0;
        state.completion = 0;
        state.embedding_total = 0;
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

    fn over_budget(&self, current: u64) -> Result<(), TokenBudgetExceeded> {
        match self.budget {
            Some(limit) if current > limit => Err(TokenBudgetExceeded { limit, current }),
            _ => Ok(()),
        }
    }

    fn tokens(&self, text: &str) -> u64 {
        u64::try_from(self.tokenizer.count(text)).unwrap_or(u64::MAX)
    }

    /// Counts one LLM call and keeps it; returns the LLM total after it.
    fn count_llm(
        &self,
        event_id: String,
        prompt: String,
        completion: String,
        usage: Option<Usage>,
    ) -> u64 {
        let reported = |n: Option<u64>| n.filter(|&n| n > 0);
        let prompt_token_count =
            reported(usage.map(|u| u.prompt)).unwrap_or_else(|| self.tokens(&prompt));
        let completion_token_count =
            reported(usage.map(|u| u.completion)).unwrap_or_else(|| self.tokens(&completion));
        let event = TokenCountingEvent {
            event_id,
            prompt,
            prompt_token_count,
            completion,
            completion_token_count,
            total_token_count: prompt_token_count + completion_token_count,
        };
        let mut state = self.lock();
        state.prompt += prompt_token_count;
        state.completion += completion_token_count;
        state.llm.push(event);
        state.prompt + state.completion
    }

    /// Counts each chunk of one embedding call and keeps them.
    fn count_embedding(&self, event_id: &str, chunks: impl IntoIterator<Item = String>) {
        let events: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let tokens = self.tokens(&chunk);
                TokenCountingEvent {
                    event_id: event_id.to_owned(),
                    prompt: chunk,
                    prompt_token_count: tokens,
                    completion: String::new(),
                    completion_token_count: 0,
                    total_token_count: tokens,
                }
            })
            .collect();
        let mut state = self.lock();
        for event in events {
            state.embedding_total += event.total_token_count;
            state.embedding.push(event);
        }
    }

    /// Counts an LLM callback payload; `None` if it holds no prompt, messages or answer.
    fn count_llm_payload(&self, payload: &Payload, event_id: &str) -> Option<u64> {
        let (prompt, answer) = if payload.contains(EventPayload::Prompt)
            || payload.contains(EventPayload::Completion)
        {
            (
                payload.get(EventPayload::Prompt).map(payload::text),
                payload
                    .get(EventPayload::Completion)
                    .map(payload::completion),
            )
        } else if payload.contains(EventPayload::Messages)
            || payload.contains(EventPayload::Response)
        {
            (
                payload
                    .get(EventPayload::Messages)
                    .map(payload::messages_text),
                payload
                    .get(EventPayload::Response)
                    .map(payload::chat_response),
            )
        } else {
            return None;
        };
        let (completion, usage) = answer.unwrap_or_default();
        Some(self.count_llm(
            event_id.to_owned(),
            prompt.unwrap_or_default(),
            completion,
            usage,
        ))
    }
}

impl CallbackHandler for TokenCountingHandler {
    fn on_event_start(
        &self,
        _event_type: CBEventType,
        _payload: Option<&Payload>,
        _event_id: &str,
        _parent_id: &str,
    ) -> Result<(), CallbackError> {
        Ok(())
    }

    /// Counts `Llm` and `Embedding` ends.
    ///
    /// # Errors
    /// With a budget, when the LLM tokens counted so far, this call included, exceed it: a
    /// [`CallbackError`] whose source is [`TokenBudgetExceeded`].
    fn on_event_end(
        &self,
        event_type: CBEventType,
        payload: Option<&Payload>,
        event_id: &str,
    ) -> Result<(), CallbackError> {
        let Some(payload) = payload else {
            return Ok(());
        };
        match event_type {
            CBEventType::Llm => {
                if let Some(total) = self.count_llm_payload(payload, event_id) {
                    self.over_budget(total)
                        .map_err(|err| CallbackError::from_source(NAME, err))?;
                }
            }
            CBEventType::Embedding => {
                if let Some(chunks) = payload.get(EventPayload::Chunks) {
                    let chunks = match chunks {
                        serde_json::Value::Array(chunks) => {
                            chunks.iter().map(payload::text).collect()
                        }
                        other => vec![payload::text(other)],
                    };
                    self.count_embedding(event_id, chunks);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl EventHandler for TokenCountingHandler {
    /// Counts [`LLMChatEndEvent`], [`LLMCompletionEndEvent`] and [`EmbeddingEndEvent`]. Going over
    /// the budget here is not an error; see [`TokenCountingHandler::check_budget`].
    fn handle(&self, event: &EventEnvelope<'_>) {
        if let Some(chat) = event.downcast_ref::<LLMChatEndEvent>() {
            let prompt = chat
                .messages
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n");
            let (completion, usage) = chat.response.as_ref().map_or((String::new(), None), |r| {
                (
                    r.to_string(),
                    usage_from(r.raw.as_ref(), Some(&r.additional_kwargs)),
                )
            });
            self.count_llm(event.id().to_string(), prompt, completion, usage);
        } else if let Some(done) = event.downcast_ref::<LLMCompletionEndEvent>() {
            let response = &done.response;
            let usage = usage_from(response.raw.as_ref(), Some(&response.additional_kwargs));
            self.count_llm(
                event.id().to_string(),
                done.prompt.clone(),
                response.text.clone(),
                usage,
            );
        } else if let Some(embedding) = event.downcast_ref::<EmbeddingEndEvent>() {
            self.count_embedding(&event.id().to_string(), embedding.chunks.iter().cloned());
        }
    }
}
