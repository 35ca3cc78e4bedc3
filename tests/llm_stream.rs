//! Streamed LLM calls: start, one progress event per delta, one end with the full response, all
//! inside one span that lasts until the stream ends, or is dropped as "cancelled" with it.

mod common;

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use instrument::events::{LLMChatStartEvent, LLMCompletionStartEvent};
use instrument::llm::stream::{
    CHAT_SPAN_NAME, COMPLETION_SPAN_NAME, ChatStream, CompletionStream, StreamOptions, StreamText,
};
use instrument::llm::{ChatMessage, ChatResponse, CompletionResponse};
use instrument::{current_span, get_dispatcher};
use serde_json::{Value, json};

use common::{SeenEvent, recorder_on};

/// A stream of ready items.
struct Iter<I>(I);

impl<I: Iterator + Unpin> Stream for Iter<I> {
    type Item = I::Item;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<I::Item>> {
        Poll::Ready(self.0.next())
    }
}

fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    match Pin::new(stream).poll_next(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(item) => item,
        Poll::Pending => panic!("the test streams are always ready"),
    }
}

fn chat_start() -> LLMChatStartEvent {
    LLMChatStartEvent {
        messages: vec![ChatMessage::user("Say hello")],
        additional_kwargs: serde_json::Map::new(),
        model_dict: serde_json::Map::from_iter([("model".into(), json!("gpt-test"))]),
    }
}

fn completion_start() -> LLMCompletionStartEvent {
    LLMCompletionStartEvent {
        prompt: "1, 2, 3,".into(),
        additional_kwargs: serde_json::Map::new(),
        model_dict: serde_json::Map::new(),
    }
}

/// LlamaIndex's shape: the text so far, the new piece in `delta`; usage in the next-to-last chunk.
fn hello_chunks() -> Vec<ChatResponse> {
    vec![
        ChatResponse::new(ChatMessage::assistant("Hel"))
            .with_delta("Hel")
            .with_raw(json!({"id": 1})),
        ChatResponse::new(ChatMessage::assistant("Hello"))
            .with_delta("lo")
            .with_raw(json!({"id": 2, "usage": {"prompt_tokens": 3, "completion_tokens": 2}})),
        ChatResponse::new(ChatMessage::assistant("Hello!")).with_delta("!"),
    ]
}

fn named<'a>(events: &'a [SeenEvent], class: &str) -> Vec<&'a SeenEvent> {
    events.iter().filter(|e| e.class_name == class).collect()
}

#[test]
fn chat_deltas_report_progress_and_one_end_inside_one_span() {
    let d = get_dispatcher("tests::llm_stream::chat");
    let rec = recorder_on(d);

    let (mut stream, parent) = d.in_span("request", || {
        let stream = ChatStream::new(d, chat_start(), Iter(hello_chunks().into_iter()));
        (stream, current_span().id().unwrap())
    });
    let span = stream
        .span_id()
        .expect("a handler listens, so the stream has a span");
    assert_eq!(span.name(), CHAT_SPAN_NAME);

    // The start is reported when the stream is made.
    let events = rec.events();
    assert_eq!(named(&events, "LLMChatStartEvent").len(), 1);

    let mut deltas = Vec::new();
    for _ in 0..3 {
        let item = next(&mut stream).unwrap();
        deltas.push(item.delta.unwrap());
        // The span stays open while items come.
        assert!(rec.by_name(CHAT_SPAN_NAME).is_empty());
    }
    assert_eq!(deltas, ["Hel", "lo", "!"]);
    assert!(named(&rec.events(), "LLMChatEndEvent").is_empty());

    assert!(next(&mut stream).is_none());
    let seen = rec.one(CHAT_SPAN_NAME);
    assert!(seen.exited, "{seen:?}");
    assert_eq!(seen.parent, Some(parent));
    assert!(next(&mut stream).is_none()); // fused: nothing more is reported

    let events = rec.events();
    let stream_events: Vec<_> = events
        .iter()
        .filter(|e| e.class_name.starts_with("LLMChat"))
        .collect();
    let classes: Vec<_> = stream_events.iter().map(|e| e.class_name).collect();
    assert_eq!(
        classes,
        [
            "LLMChatStartEvent",
            "LLMChatInProgressEvent",
            "LLMChatInProgressEvent",
            "LLMChatInProgressEvent",
            "LLMChatEndEvent"
        ]
    );
    assert!(stream_events.iter().all(|e| e.span_id == Some(span)));

    let progress = named(&events, "LLMChatInProgressEvent");
    let texts: Vec<_> = progress
        .iter()
        .map(|e| e.json["response"]["message"]["content"].clone())
        .collect();
    assert_eq!(texts, [json!("Hel"), json!("Hello"), json!("Hello!")]);
    assert_eq!(progress[1].json["response"]["delta"], "lo");
    assert_eq!(progress[0].json["messages"][0]["content"], "Say hello");

    let end = &named(&events, "LLMChatEndEvent")[0].json;
    assert_eq!(end["messages"][0]["content"], "Say hello");
    assert_eq!(end["response"]["message"]["content"], "Hello!");
    assert_eq!(end["response"]["delta"], Value::Null);
    assert_eq!(
        end["response"]["raw"]["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 2})
    );
}

#[test]
fn dropping_the_stream_early_cancels_its_span_without_an_end() {
    let d = get_dispatcher("tests::llm_stream::early_drop");
    let rec = recorder_on(d);
    let mut stream = ChatStream::new(d, chat_start(), Iter(hello_chunks().into_iter()));
    let span = stream.span_id().unwrap();
    assert!(next(&mut stream).is_some());
    drop(stream);

    let seen = rec.one(CHAT_SPAN_NAME);
    assert!(!seen.exited);
    assert_eq!(seen.error.as_deref(), Some("cancelled"));
    let events = rec.events();
    assert!(named(&events, "LLMChatEndEvent").is_empty());
    assert_eq!(named(&events, "LLMChatInProgressEvent").len(), 1);
    let dropped = named(&events, "SpanDropEvent");
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].span_id, Some(span));
    assert_eq!(dropped[0].json["err_str"], "cancelled");
}

#[test]
fn an_empty_chat_stream_ends_with_no_response() {
    let d = get_dispatcher("tests::llm_stream::empty");
    let rec = recorder_on(d);
    let mut stream = ChatStream::new(d, chat_start(), Iter(Vec::new().into_iter()));
    assert!(next(&mut stream).is_none());
    let events = rec.events();
    let end = named(&events, "LLMChatEndEvent");
    assert_eq!(end.len(), 1);
    assert_eq!(end[0].json["response"], Value::Null);
    assert!(rec.one(CHAT_SPAN_NAME).exited);
}

#[test]
fn incremental_completion_pieces_are_joined() {
    let d = get_dispatcher("tests::llm_stream::completion");
    let rec = recorder_on(d);
    let pieces = vec![
        CompletionResponse::new(" 4,"),
        CompletionResponse::new(" 5").with_raw(json!({"usage": {"output_tokens": 2}})),
    ];
    let options = StreamOptions::new().text(StreamText::Incremental);
    let mut stream =
        CompletionStream::with_options(d, options, completion_start(), Iter(pieces.into_iter()));
    let span = stream.span_id().unwrap();
    assert_eq!(span.name(), COMPLETION_SPAN_NAME);

    // The caller gets the items unchanged.
    assert_eq!(next(&mut stream).unwrap().text, " 4,");
    assert_eq!(next(&mut stream).unwrap().text, " 5");
    assert!(next(&mut stream).is_none());

    let events = rec.events();
    let classes: Vec<_> = events
        .iter()
        .filter(|e| e.class_name.starts_with("LLMCompletion"))
        .map(|e| (e.class_name, e.span_id))
        .collect();
    assert_eq!(
        classes,
        [
            ("LLMCompletionStartEvent", Some(span)),
            ("LLMCompletionInProgressEvent", Some(span)),
            ("LLMCompletionInProgressEvent", Some(span)),
            ("LLMCompletionEndEvent", Some(span)),
        ]
    );
    let progress: Vec<_> = named(&events, "LLMCompletionInProgressEvent")
        .iter()
        .map(|e| e.json["response"]["text"].clone())
        .collect();
    assert_eq!(progress, [json!(" 4,"), json!(" 4, 5")]);
    let end = &named(&events, "LLMCompletionEndEvent")[0].json;
    assert_eq!(end["prompt"], "1, 2, 3,");
    assert_eq!(end["response"]["text"], " 4, 5");
    assert_eq!(end["response"]["raw"]["usage"]["output_tokens"], 2);
    assert!(rec.one(COMPLETION_SPAN_NAME).exited);
}

#[test]
fn the_span_name_is_the_callers_choice() {
    let d = get_dispatcher("tests::llm_stream::named");
    let rec = recorder_on(d);
    let options = StreamOptions::new().span_name("openai.stream_chat");
    let mut stream =
        ChatStream::with_options(d, options, chat_start(), Iter(hello_chunks().into_iter()));
    while next(&mut stream).is_some() {}
    assert!(rec.one("openai.stream_chat").exited);
}

#[test]
fn without_handlers_the_stream_passes_items_through() {
    let d = get_dispatcher("tests::llm_stream::idle");
    let mut stream = ChatStream::new(d, chat_start(), Iter(hello_chunks().into_iter()));
    assert_eq!(stream.span_id(), None);
    let mut count = 0;
    while next(&mut stream).is_some() {
        count += 1;
    }
    assert_eq!(count, 3);
}

#[test]
fn streams_of_send_items_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let d = get_dispatcher("tests::llm_stream::send");
    let stream = ChatStream::new(d, chat_start(), Iter(hello_chunks().into_iter()));
    assert_send(&stream);
    let stream = CompletionStream::new(d, completion_start(), Iter(Vec::new().into_iter()));
    assert_send(&stream);
}
