//! Streamed LLM calls: a stream of chat or completion responses wrapped so that it reports its start,
//! each piece and its end, inside one span that lasts as long as the stream.
//!
//! `LlamaIndex` closes a streaming call's span when the generator is made, before a single token
//! has arrived, so durations and outputs are wrong. Here the span opens when the wrapper is made
//! and ends with the stream: it exits after the last item, or is dropped as `"cancelled"` when the
//! stream is dropped before that.
//!
//! | Moment | [`ChatStream`] emits | [`CompletionStream`] emits |
//! |---|---|---|
//! | wrapper made | [`LLMChatStartEvent`] | [`LLMCompletionStartEvent`] |
//! | each item | [`LLMChatInProgressEvent`] | [`LLMCompletionInProgressEvent`] |
//! | stream exhausted | [`LLMChatEndEvent`] | [`LLMCompletionEndEvent`] |
//!
//! All of them are emitted inside the stream's span, so their `span_id` is its id. Dropping the
//! stream early emits no end event; the span handlers see the span dropped as `"cancelled"`.
//!
//! # What the items hold
//! By default ([`StreamText::Cumulative`]) items are expected in `LlamaIndex`'s shape: each holds
//! the text so far (`message.content` of a [`ChatResponse`], `text` of a [`CompletionResponse`])
//! and, in `delta`, the piece that just arrived. Providers that send only the new piece can be
//! wrapped with [`StreamText::Incremental`]: the wrapper then joins the pieces (each item's `delta`,
//! else its text) and reports the text so far in its events. The items themselves reach the caller
//! unchanged either way.
//!
//! The end event's response is the last item with the full text, no `delta`, and as `raw` the raw
//! response of the last item that reported usage (`raw["usage"]`), else the last item's own: many
//! providers send usage in a final chunk of its own.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use serde_json::Value;

use super::{ChatMessage, ChatResponse, CompletionResponse};
use crate::dispatch::dispatcher::Dispatcher;
use crate::events::{
    LLMChatEndEvent, LLMChatInProgressEvent, LLMChatStartEvent, LLMCompletionEndEvent,
    LLMCompletionInProgressEvent, LLMCompletionStartEvent,
};
use crate::span::SpanState;
use crate::span::id::SpanId;
use crate::span::stream::InstrumentedStream;
use kind::Piece;

/// The span name of a [`ChatStream`] unless [`StreamOptions::span_name`] gives another.
pub const CHAT_SPAN_NAME: &str = "llm.stream_chat";

/// The span name of a [`CompletionStream`] unless [`StreamOptions::span_name`] gives another.
pub const COMPLETION_SPAN_NAME: &str = "llm.stream_complete";

/// What the text of each streamed item holds; see the [module docs](self).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StreamText {
    /// Each item holds the text so far, and the new piece in `delta` (`LlamaIndex`'s shape).
    #[default]
    Cumulative,
    /// Each item holds only the new piece, in `delta` or, failing that, in its text.
    Incremental,
}

/// How a stream is wrapped: its span's name and what its items hold.
///
/// ```
/// use instrument::llm::stream::{StreamOptions, StreamText};
///
/// let options = StreamOptions::new().span_name("openai.chat").text(StreamText::Incremental);
/// assert_eq!(options.get_span_name(), Some("openai.chat"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamOptions {
    span_name: Option<&'static str>,
    text: StreamText,
}

impl StreamOptions {
    /// The defaults: the stream type's span name, [`StreamText::Cumulative`].
    #[must_use]
    pub const fn new() -> Self {
        Self {
            span_name: None,
            text: StreamText::Cumulative,
        }
    }

    /// Names the stream's span.
    #[must_use]
    pub const fn span_name(mut self, name: &'static str) -> Self {
        self.span_name = Some(name);
        self
    }

    /// Says what the items' text holds.
    #[must_use]
    pub const fn text(mut self, text: StreamText) -> Self {
        self.text = text;
        self
    }

    /// The span name given, if any.
    #[must_use]
    pub const fn get_span_name(&self) -> Option<&'static str> {
        self.span_name
    }

    /// What the items' text holds.
    #[must_use]
    pub const fn get_text(&self) -> StreamText {
        self.text
    }
}

/// A stream of [`ChatResponse`]s that reports a streamed chat call on a dispatcher; see the
/// [module docs](self).
///
/// ```
/// use std::pin::Pin;
/// use std::task::{Context, Poll, Waker};
/// use futures_core::Stream;
/// use instrument::events::{LLMChatEndEvent, LLMChatStartEvent};
/// use instrument::llm::stream::ChatStream;
/// use instrument::llm::{ChatMessage, ChatResponse};
/// use instrument::{EventEnvelope, EventHandler, get_dispatcher};
///
/// /// What a provider's client would return: the text so far, and the new piece.
/// struct Pieces(std::vec::IntoIter<ChatResponse>);
/// impl Stream for Pieces {
///     type Item = ChatResponse;
///     fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<ChatResponse>> {
///         Poll::Ready(self.0.next())
///     }
/// }
///
/// /// Prints each chat's full answer.
/// struct Answers;
/// impl EventHandler for Answers {
///     fn handle(&self, event: &EventEnvelope<'_>) {
///         if let Some(end) = event.downcast_ref::<LLMChatEndEvent>() {
///             println!("{}", end.response.as_ref().unwrap().message.text());
///         }
///     }
/// }
///
/// let dispatcher = get_dispatcher("doc::chat_stream");
/// dispatcher.add_event_handler(Answers);
/// let pieces = Pieces(vec![
///     ChatResponse::new(ChatMessage::assistant("Hel")).with_delta("Hel"),
///     ChatResponse::new(ChatMessage::assistant("Hello")).with_delta("lo"),
/// ].into_iter());
/// let start = LLMChatStartEvent {
///     messages: vec![ChatMessage::user("Say hello")],
///     additional_kwargs: Default::default(),
///     model_dict: Default::default(),
/// };
///
/// let mut stream = std::pin::pin!(ChatStream::new(dispatcher, start, pieces));
/// let mut cx = Context::from_waker(Waker::noop());
/// let mut deltas = Vec::new();
/// while let Poll::Ready(Some(item)) = stream.as_mut().poll_next(&mut cx) {
///     deltas.push(item.delta.unwrap());
/// }
/// assert_eq!(deltas, ["Hel", "lo"]); // and `Answers` printed "Hello"
/// ```
pub type ChatStream<S> = LlmStream<S, kind::Chat>;

/// A stream of [`CompletionResponse`]s that reports a streamed completion call on a dispatcher;
/// see the [module docs](self).
///
/// ```
/// use std::pin::Pin;
/// use std::task::{Context, Poll, Waker};
/// use futures_core::Stream;
/// use instrument::events::LLMCompletionStartEvent;
/// use instrument::llm::CompletionResponse;
/// use instrument::llm::stream::{CompletionStream, StreamOptions, StreamText};
/// use instrument::get_dispatcher;
///
/// /// A provider that sends only the new piece of text.
/// struct Pieces(std::vec::IntoIter<&'static str>);
/// impl Stream for Pieces {
///     type Item = CompletionResponse;
///     fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<CompletionResponse>> {
///         Poll::Ready(self.0.next().map(CompletionResponse::new))
///     }
/// }
///
/// let start = LLMCompletionStartEvent {
///     prompt: "1, 2, 3,".into(),
///     additional_kwargs: Default::default(),
///     model_dict: Default::default(),
/// };
/// let options = StreamOptions::new().span_name("counter.complete").text(StreamText::Incremental);
/// let pieces = Pieces(vec![" 4,", " 5"].into_iter());
/// let stream = CompletionStream::with_options(get_dispatcher("doc::completion_stream"), options, start, pieces);
///
/// let mut stream = std::pin::pin!(stream);
/// let mut cx = Context::from_waker(Waker::noop());
/// let mut text = String::new();
/// while let Poll::Ready(Some(item)) = stream.as_mut().poll_next(&mut cx) {
///     text.push_str(&item.text);
/// }
/// assert_eq!(text, " 4, 5");
/// ```
pub type CompletionStream<S> = LlmStream<S, kind::Completion>;

/// A stream of responses that reports a streamed LLM call on a dispatcher: a [`ChatStream`] or a
/// [`CompletionStream`]; see the [module docs](self).
#[must_use = "streams do nothing unless polled"]
pub struct LlmStream<S, K: kind::Kind> {
    inner: InstrumentedStream<Reporter<S, K>>,
    span: Option<SpanId>,
}

impl<S: Stream<Item = K::Response>, K: kind::Kind> LlmStream<S, K> {
    /// Wraps `stream`: opens a span on `dispatcher`, below the current span, and emits `start` in
    /// it. The span is called [`CHAT_SPAN_NAME`] for a [`ChatStream`], [`COMPLETION_SPAN_NAME`]
    /// for a [`CompletionStream`].
    pub fn new(dispatcher: &'static Dispatcher, start: K::Start, stream: S) -> Self {
        Self::with_options(dispatcher, StreamOptions::new(), start, stream)
    }

    /// As [`new`](Self::new), with a span name and item shape of your choice.
    pub fn with_options(
        dispatcher: &'static Dispatcher,
        options: StreamOptions,
        start: K::Start,
        stream: S,
    ) -> Self {
        let name = options.span_name.unwrap_or(K::SPAN_NAME);
        let (inner, span) = start_in_span(dispatcher, name, || {
            let input = K::input(&start);
            dispatcher.event(start);
            Reporter::new(stream, dispatcher, options.text, input)
        });
        Self { inner, span }
    }
}

impl<S, K: kind::Kind> LlmStream<S, K> {
    /// The id of the stream's span; `None` when nothing records (no handler on the dispatcher, or
    /// made inside a handler).
    #[must_use]
    pub fn span_id(&self) -> Option<SpanId> {
        self.span
    }
}

impl<S: Stream<Item = K::Response>, K: kind::Kind> Stream for LlmStream<S, K> {
    type Item = K::Response;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<K::Response>> {
        // SAFETY: `inner` is structurally pinned: never moved out, and there is no Drop impl.
        unsafe { self.map_unchecked_mut(|s| &mut s.inner) }.poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<S, K: kind::Kind> fmt::Debug for LlmStream<S, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(K::TYPE_NAME)
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

/// Opens a span called `name` on `dispatcher` (when anything listens there) and makes the stream
/// inside it; the span then lasts as long as the stream.
fn start_in_span<S>(
    dispatcher: &'static Dispatcher,
    name: &'static str,
    make: impl FnOnce() -> S,
) -> (InstrumentedStream<S>, Option<SpanId>) {
    let state = if dispatcher.is_enabled() {
        SpanState::start(dispatcher.chain(), name, dispatcher.name(), None, &[])
    } else {
        None
    };
    let span = state.as_ref().map(SpanState::id);
    (InstrumentedStream::start(state, make), span)
}

impl Piece for ChatResponse {
    fn text(&self) -> Option<&str> {
        self.message.content.as_deref()
    }
    fn set_text(&mut self, text: String) {
        self.message.content = Some(text);
    }
    fn delta(&self) -> Option<&str> {
        self.delta.as_deref()
    }
    fn clear_delta(&mut self) {
        self.delta = None;
    }
    fn raw(&self) -> Option<&Value> {
        self.raw.as_ref()
    }
    fn set_raw(&mut self, raw: Value) {
        self.raw = Some(raw);
    }
}

impl Piece for CompletionResponse {
    fn text(&self) -> Option<&str> {
        Some(&self.text)
    }
    fn set_text(&mut self, text: String) {
        self.text = text;
    }
    fn delta(&self) -> Option<&str> {
        self.delta.as_deref()
    }
    fn clear_delta(&mut self) {
        self.delta = None;
    }
    fn raw(&self) -> Option<&Value> {
        self.raw.as_ref()
    }
    fn set_raw(&mut self, raw: Value) {
        self.raw = Some(raw);
    }
}

/// The response so far, built from the items seen.
struct Accumulator<R> {
    mode: StreamText,
    /// The pieces joined, in [`StreamText::Incremental`] mode.
    text: String,
    last: Option<R>,
    /// The raw response of the last item that reported usage.
    usage_raw: Option<Value>,
}

impl<R: Piece> Accumulator<R> {
    fn new(mode: StreamText) -> Self {
        Self {
            mode,
            text: String::new(),
            last: None,
            usage_raw: None,
        }
    }

    fn push(&mut self, item: &R) {
        if let Some(raw) = item.raw()
            && raw.get("usage").is_some_and(|usage| !usage.is_null())
        {
            self.usage_raw = Some(raw.clone());
        }
        if self.mode == StreamText::Incremental {
            self.text
                .push_str(item.delta().or_else(|| item.text()).unwrap_or_default());
        }
        self.last = Some(item.clone());
    }

    /// The response so far, as a progress event reports it.
    fn snapshot(&self) -> Option<R> {
        let mut response = self.last.clone()?;
        if self.mode == StreamText::Incremental {
            response.set_text(self.text.clone());
        }
        Some(response)
    }

    /// The whole response, as the end event reports it; `None` if no item came.
    fn finish(&mut self) -> Option<R> {
        let mut response = self.last.take()?;
        if self.mode == StreamText::Incremental {
            response.set_text(std::mem::take(&mut self.text));
        }
        response.clear_delta();
        if let Some(raw) = self.usage_raw.take() {
            response.set_raw(raw);
        }
        Some(response)
    }
}

/// The kinds of streamed call behind [`ChatStream`] and [`CompletionStream`]. Declared `pub` so
/// that those public aliases can name them, but the module is private: other crates cannot name
/// or implement them.
mod kind {
    use super::{
        ChatMessage, ChatResponse, CompletionResponse, Dispatcher, LLMChatEndEvent,
        LLMChatInProgressEvent, LLMChatStartEvent, LLMCompletionEndEvent,
        LLMCompletionInProgressEvent, LLMCompletionStartEvent,
    };
    use serde_json::Value;

    /// A streamed response: what the wrapper reads from and writes into each item.
    pub trait Piece: Clone {
        fn text(&self) -> Option<&str>;
        fn set_text(&mut self, text: String);
        fn delta(&self) -> Option<&str>;
        fn clear_delta(&mut self);
        fn raw(&self) -> Option<&Value>;
        fn set_raw(&mut self, raw: Value);
    }

    /// A kind of streamed call: its start event, its input, its response and the events that
    /// report it.
    pub trait Kind {
        /// What the wrapper's `Debug` calls it.
        const TYPE_NAME: &'static str;
        /// The span name unless the options give another.
        const SPAN_NAME: &'static str;
        /// The event emitted when the wrapper is made.
        type Start: crate::Event;
        /// What the progress and end events repeat from the start event.
        type Input;
        /// The streamed items.
        type Response: Piece;
        /// What the progress and end events repeat from `start`.
        fn input(start: &Self::Start) -> Self::Input;
        /// Emits a progress event.
        fn progress(dispatcher: &Dispatcher, input: &Self::Input, response: Self::Response);
        /// Emits the end event.
        fn end(dispatcher: &Dispatcher, input: Self::Input, response: Option<Self::Response>);
    }

    /// A chat: the input is the conversation sent.
    pub enum Chat {}

    impl Kind for Chat {
        const TYPE_NAME: &'static str = "ChatStream";
        const SPAN_NAME: &'static str = super::CHAT_SPAN_NAME;
        type Start = LLMChatStartEvent;
        type Input = Vec<ChatMessage>;
        type Response = ChatResponse;

        fn input(start: &LLMChatStartEvent) -> Vec<ChatMessage> {
            start.messages.clone()
        }

        fn progress(dispatcher: &Dispatcher, messages: &Vec<ChatMessage>, response: ChatResponse) {
            dispatcher.event(LLMChatInProgressEvent {
                messages: messages.clone(),
                response,
            });
        }

        fn end(
            dispatcher: &Dispatcher,
            messages: Vec<ChatMessage>,
            response: Option<ChatResponse>,
        ) {
            dispatcher.event(LLMChatEndEvent { messages, response });
        }
    }

    /// A completion: the input is the prompt.
    pub enum Completion {}

    impl Kind for Completion {
        const TYPE_NAME: &'static str = "CompletionStream";
        const SPAN_NAME: &'static str = super::COMPLETION_SPAN_NAME;
        type Start = LLMCompletionStartEvent;
        type Input = String;
        type Response = CompletionResponse;

        fn input(start: &LLMCompletionStartEvent) -> String {
            start.prompt.clone()
        }

        fn progress(dispatcher: &Dispatcher, prompt: &String, response: CompletionResponse) {
            dispatcher.event(LLMCompletionInProgressEvent {
                prompt: prompt.clone(),
                response,
            });
        }

        fn end(dispatcher: &Dispatcher, prompt: String, response: Option<CompletionResponse>) {
            dispatcher.event(LLMCompletionEndEvent {
                prompt,
                response: response.unwrap_or_default(),
            });
        }
    }
}

/// The inner stream, reporting each item and the end; polled inside the span by
/// [`InstrumentedStream`], so its events carry the span's id. Once ended, it yields `None` without
/// polling the inner stream again.
struct Reporter<S, K: kind::Kind> {
    stream: S,
    dispatcher: &'static Dispatcher,
    /// `None` once the end is reported.
    input: Option<K::Input>,
    response: Accumulator<K::Response>,
}

impl<S, K: kind::Kind> Reporter<S, K> {
    fn new(stream: S, dispatcher: &'static Dispatcher, mode: StreamText, input: K::Input) -> Self {
        Self {
            stream,
            dispatcher,
            input: Some(input),
            response: Accumulator::new(mode),
        }
    }
}

impl<S, K> Stream for Reporter<S, K>
where
    S: Stream<Item = K::Response>,
    K: kind::Kind,
{
    type Item = K::Response;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<K::Response>> {
        // SAFETY: `stream` is structurally pinned: never moved out, and there is no Drop impl. The
        // other fields are not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let Some(input) = &this.input else {
            return Poll::Ready(None);
        };
        // SAFETY: as above.
        let stream = unsafe { Pin::new_unchecked(&mut this.stream) };
        match stream.poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(item)) => {
                this.response.push(&item);
                if this.dispatcher.event_handler_count() > 0
                    && let Some(response) = this.response.snapshot()
                {
                    K::progress(this.dispatcher, input, response);
                }
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                if let Some(input) = this.input.take() {
                    K::end(this.dispatcher, input, this.response.finish());
                }
                Poll::Ready(None)
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.input.is_some() {
            self.stream.size_hint()
        } else {
            (0, Some(0))
        }
    }
}
