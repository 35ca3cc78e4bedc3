//! The LLM: a small trait to plug in your own client, a local stand-in that needs no network, and
//! the traced call that turns any of them into a span and `LLMChatStart/InProgress/End` events.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_core::Stream;
use instrument::events::LLMChatStartEvent;
use instrument::llm::stream::ChatStream;
use instrument::llm::{ChatMessage, ChatResponse, MessageRole};
use serde_json::{Map, Value, json};

use super::chunking::sentences;
use super::dispatcher;
use super::documents::keywords;

/// A chat model that streams. Implement it for your provider's client:
///
/// - `metadata` is the model's configuration, reported with every call; keep secrets out of it.
/// - `stream_chat` answers `messages` as a stream of [`ChatResponse`]s: each one's `delta` is the
///   newest piece of text and its `message` the answer so far, and the last one's `raw` is the
///   provider's final chunk, with its `{"usage": {"prompt_tokens", "completion_tokens",
///   "total_tokens"}}` (what `OpenAI` sends when asked for `stream_options.include_usage`).
pub trait Llm: Send + Sync {
    /// The model's name, provider and defaults.
    fn metadata(&self) -> Map<String, Value>;

    /// Streams the answer to `messages`.
    fn stream_chat(
        &self,
        messages: Vec<ChatMessage>,
    ) -> impl Stream<Item = ChatResponse> + Send + Unpin + '_;

    /// Whether the client reports its calls itself (an `instrument`-instrumented client does):
    /// then [`stream_chat`] adds no span of its own around them.
    fn reports_its_calls(&self) -> bool {
        false
    }
}

/// A stand-in LLM, local and deterministic: it answers with the context sentences that share the
/// most keywords with the question, a word at a time, `token_delay` apart, and reports its usage
/// like a provider, counting one token per word plus four per message and three to prime the reply.
#[derive(Debug, Clone, Copy)]
pub struct LocalLlm {
    /// The pause before each streamed token.
    pub token_delay: Duration,
}

impl LocalLlm {
    /// The model name it reports.
    pub const MODEL: &str = "local-extractive-1";

    /// The prompt tokens `messages` cost, as this model counts them.
    #[must_use]
    pub fn count_prompt_tokens(messages: &[ChatMessage]) -> u64 {
        let words: usize = messages
            .iter()
            .map(|message| 4 + message.text().split_whitespace().count())
            .sum();
        u64::try_from(words + 3).unwrap_or(u64::MAX)
    }

    /// The answer to the last user message: up to two of its context sentences (lines after
    /// `Context:`) that best match its question (the line after `Question:`).
    fn answer(messages: &[ChatMessage]) -> String {
        let prompt = messages
            .iter()
            .rev()
            .find(|message| message.role == MessageRole::User)
            .map(ChatMessage::text)
            .unwrap_or_default();
        let (context, question) = prompt.split_once("Question:").unwrap_or(("", prompt));
        let wanted: HashSet<String> = keywords(question).collect();
        let mut best: Vec<(usize, usize, &str)> = context
            .lines()
            .filter_map(|line| line.split_once("] "))
            .flat_map(|(_, text)| sentences(text))
            .enumerate()
            .map(|(order, sentence)| {
                let found: HashSet<String> = keywords(sentence).collect();
                (wanted.intersection(&found).count(), order, sentence)
            })
            .filter(|(overlap, _, _)| *overlap > 0)
            .collect();
        best.sort_by_key(|(overlap, order, _)| (std::cmp::Reverse(*overlap), *order));
        best.truncate(2);
        best.sort_by_key(|(_, order, _)| *order);
        if best.is_empty() {
            return "I could not find that in the documents.".to_owned();
        }
        best.iter()
            .map(|(_, _, sentence)| *sentence)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Llm for LocalLlm {
    fn metadata(&self) -> Map<String, Value> {
        let Value::Object(map) = json!({
            "model": Self::MODEL,
            "provider": "local",
            "temperature": 0.0,
            "class_name": "LocalLlm",
        }) else {
            unreachable!("a JSON object literal")
        };
        map
    }

    fn stream_chat(
        &self,
        messages: Vec<ChatMessage>,
    ) -> impl Stream<Item = ChatResponse> + Send + Unpin + '_ {
        let answer = Self::answer(&messages);
        let tokens: Vec<String> = answer.split_inclusive(' ').map(str::to_owned).collect();
        let prompt_tokens = Self::count_prompt_tokens(&messages);
        let completion_tokens = u64::try_from(tokens.len()).unwrap_or(u64::MAX);
        LocalStream {
            tokens: tokens.into_iter(),
            text: String::new(),
            raw: json!({
                "object": "chat.completion.chunk",
                "model": Self::MODEL,
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }),
            delay: self.token_delay,
            sleep: None,
        }
    }
}

/// The local model's answer, one word per item.
struct LocalStream {
    tokens: std::vec::IntoIter<String>,
    text: String,
    /// The final chunk, with the usage; sent with the last token.
    raw: Value,
    delay: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Stream for LocalStream {
    type Item = ChatResponse;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ChatResponse>> {
        let this = &mut *self;
        if this.tokens.len() == 0 {
            return Poll::Ready(None);
        }
        if !this.delay.is_zero() {
            let delay = this.delay;
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
            ready!(sleep.as_mut().poll(cx));
            this.sleep = None;
        }
        let Some(token) = this.tokens.next() else {
            return Poll::Ready(None);
        };
        this.text.push_str(&token);
        let mut response =
            ChatResponse::new(ChatMessage::assistant(this.text.trim_end())).with_delta(token);
        if this.tokens.len() == 0 {
            response = response.with_raw(this.raw.take());
        }
        Poll::Ready(Some(response))
    }
}

/// Calls `llm` on `messages` through `instrument`'s [`ChatStream`]: a span named
/// `llm.stream_chat` that lasts until the answer has streamed, with `LLMChatStartEvent` now, an
/// `LLMChatInProgressEvent` per piece, and `LLMChatEndEvent` (with the usage) at the end. A model
/// whose client reports its own calls is called as it is.
pub fn stream_chat<L: Llm>(
    llm: &L,
    messages: Vec<ChatMessage>,
) -> Pin<Box<dyn Stream<Item = ChatResponse> + Send + '_>> {
    if llm.reports_its_calls() {
        return Box::pin(llm.stream_chat(messages));
    }
    let start = LLMChatStartEvent {
        messages: messages.clone(),
        additional_kwargs: Map::new(),
        model_dict: llm.metadata(),
    };
    Box::pin(ChatStream::new(
        dispatcher!(),
        start,
        llm.stream_chat(messages),
    ))
}

/// The next item of `stream`.
pub async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}
