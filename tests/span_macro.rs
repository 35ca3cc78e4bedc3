//! What a user of `#[span]` observes through handlers: names, arguments, results, errors, nesting
//! and the one end of every span. Each test reports to its own dispatcher, so tests running in
//! parallel never see each other's spans.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use instrument::{
    DropReason, EventEnvelope, EventHandler, SpanDropEvent, SpanEnd, SpanHandler, SpanId,
    SpanStart, get_dispatcher, span,
};
use serde_json::{Value, json};

// ---- a recording handler -------------------------------------------------------------------------

/// One argument as a handler saw it at span start.
#[derive(Debug, Clone)]
struct SeenArg {
    name: String,
    json: Value,
    redacted: bool,
    type_name: String,
}

/// One finished span.
#[derive(Debug, Clone)]
struct Seen {
    id: SpanId,
    name: String,
    parent: Option<SpanId>,
    instance: Option<String>,
    args: Vec<SeenArg>,
    exited: bool,
    result: Option<Value>,
    error: Option<String>,
    drop_reason: Option<DropReason>,
    metadata: Vec<(String, Value)>,
}

impl Seen {
    fn arg_names(&self) -> Vec<&str> {
        self.args.iter().map(|a| a.name.as_str()).collect()
    }

    fn arg(&self, name: &str) -> &SeenArg {
        self.args
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no argument {name} in {:?}", self.args))
    }
}

struct Open {
    id: SpanId,
    parent: Option<SpanId>,
    instance: Option<String>,
    args: Vec<SeenArg>,
}

#[derive(Default)]
struct Recorder {
    spans: Mutex<Vec<Seen>>,
    /// `err_str` of every `SpanDropEvent`.
    drops: Mutex<Vec<(SpanId, String)>>,
}

impl Recorder {
    fn spans(&self) -> Vec<Seen> {
        self.spans.lock().unwrap().clone()
    }

    fn only(&self) -> Seen {
        let spans = self.spans();
        assert_eq!(spans.len(), 1, "expected exactly one span, got {spans:#?}");
        spans.into_iter().next().unwrap()
    }

    fn drops(&self) -> Vec<(SpanId, String)> {
        self.drops.lock().unwrap().clone()
    }

    fn end(&self, open: Open, end: &SpanEnd<'_>) {
        assert_eq!(open.id, end.id());
        self.spans.lock().unwrap().push(Seen {
            id: open.id,
            name: end.name().to_owned(),
            parent: open.parent,
            instance: open.instance,
            args: open.args,
            exited: end.is_exit(),
            result: end.result().map(instrument::Arg::to_json),
            error: end.error(),
            drop_reason: end.drop_reason(),
            metadata: end
                .metadata()
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        });
    }
}

impl SpanHandler for Recorder {
    type Span = Open;

    fn new_span(&self, start: &SpanStart<'_>) -> Option<Open> {
        Some(Open {
            id: start.id(),
            parent: start.parent_id(),
            instance: start.instance().map(str::to_owned),
            args: start
                .args()
                .iter()
                .map(|a| SeenArg {
                    name: a.name().to_owned(),
                    json: a.to_json(),
                    redacted: a.is_redacted(),
                    type_name: a.type_name().to_owned(),
                })
                .collect(),
        })
    }

    fn prepare_to_exit_span(&self, open: Open, end: &SpanEnd<'_>) {
        self.end(open, end);
    }

    fn prepare_to_drop_span(&self, open: Open, end: &SpanEnd<'_>) {
        self.end(open, end);
    }
}

struct Drops(&'static Recorder);

impl EventHandler for Drops {
    fn handle(&self, event: &EventEnvelope<'_>) {
        if let Some(drop) = event.downcast_ref::<SpanDropEvent>() {
            self.0
                .drops
                .lock()
                .unwrap()
                .push((drop.span_id, drop.err_str.clone()));
        }
    }
}

/// A recorder on the dispatcher `name`, which no other test uses.
fn record(name: &str) -> &'static Recorder {
    let dispatcher = get_dispatcher(name);
    let recorder = dispatcher.add_span_handler(Recorder::default());
    dispatcher.add_event_handler(Drops(recorder));
    recorder
}

// ---- free functions, arguments and results -------------------------------------------------------

#[span(dispatcher = "tests::span_macro::free_fn")]
fn add(left: u32, right: u32) -> u32 {
    left + right
}

#[test]
fn free_fn() {
    let spans = record("tests::span_macro::free_fn");
    assert_eq!(add(2, 3), 5);
    let seen = spans.only();
    assert_eq!(seen.name, "add");
    assert_eq!(seen.arg_names(), ["left", "right"]);
    assert_eq!(seen.arg("left").json, json!(2));
    assert_eq!(seen.arg("right").json, json!(3));
    assert!(seen.exited);
    assert_eq!(seen.result, Some(json!(5)));
    assert_eq!(seen.instance, None);
    assert_eq!(seen.parent, None);
}

/// Neither `Serialize` nor `Debug`.
struct Opaque;

#[derive(serde::Serialize, Debug)]
struct Query {
    text: String,
    top_k: usize,
}

#[span(dispatcher = "tests::span_macro::args")]
fn many_args(
    query: &Query,
    opaque: Opaque,
    (left, right): (u8, u8),
    Query { top_k, .. }: Query,
    mut count: u8,
    _: u8,
    _unused: u8,
) -> usize {
    count += 1;
    let _ = opaque;
    query.top_k + top_k + usize::from(left + right + count)
}

#[test]
fn args_captured_by_name_in_order() {
    let spans = record("tests::span_macro::args");
    let query = Query {
        text: "rust".into(),
        top_k: 3,
    };
    let other = Query {
        text: String::new(),
        top_k: 4,
    };
    assert_eq!(many_args(&query, Opaque, (1, 2), other, 5, 6, 7), 16);
    let seen = spans.only();
    assert_eq!(
        seen.arg_names(),
        [
            "query", "opaque", "left", "right", "top_k", "count", "_unused"
        ]
    );
    assert_eq!(seen.arg("query").json, json!({"text": "rust", "top_k": 3}));
    assert!(seen.arg("opaque").type_name.ends_with("Opaque"));
    assert_eq!(
        seen.arg("opaque").json,
        json!(format!("<{}>", seen.arg("opaque").type_name))
    );
    assert_eq!(seen.arg("left").json, json!(1));
    assert_eq!(seen.arg("top_k").json, json!(4));
    assert_eq!(
        seen.arg("count").json,
        json!(5),
        "captured as passed, before the body"
    );
}

#[span(dispatcher = "tests::span_macro::impl_trait_arg")]
fn length(text: impl AsRef<str> + serde::Serialize) -> usize {
    text.as_ref().len()
}

#[test]
fn impl_trait_arg() {
    let spans = record("tests::span_macro::impl_trait_arg");
    assert_eq!(length("four"), 4);
    let seen = spans.only();
    assert_eq!(seen.arg("text").json, json!("four"));
    assert_eq!(seen.result, Some(json!(4)));
}

// ---- methods -------------------------------------------------------------------------------------

#[derive(Default)]
struct Retriever {
    calls: usize,
}

trait Search {
    fn search(&self, query: &str) -> Vec<String>;
}

impl Retriever {
    #[span(dispatcher = "tests::span_macro::methods")]
    fn by_ref(&self, query: &str) -> usize {
        query.len() + self.calls
    }

    #[span(dispatcher = "tests::span_macro::methods")]
    fn by_mut(&mut self, step: usize) {
        self.calls += step;
    }

    #[span(dispatcher = "tests::span_macro::methods")]
    fn by_value(self) -> usize {
        self.calls
    }

    #[span(dispatcher = "tests::span_macro::methods")]
    fn associated(calls: usize) -> Self {
        Self { calls }
    }
}

impl Search for Retriever {
    #[span(dispatcher = "tests::span_macro::methods")]
    fn search(&self, query: &str) -> Vec<String> {
        vec![query.to_owned(); self.calls]
    }
}

#[test]
fn methods_are_named_type_dot_method() {
    let spans = record("tests::span_macro::methods");
    let mut retriever = Retriever::associated(1);
    assert_eq!(retriever.by_ref("abc"), 4);
    retriever.by_mut(1);
    assert_eq!(retriever.search("q"), ["q", "q"]);
    assert_eq!(retriever.by_value(), 2);

    let seen = spans.spans();
    let names: Vec<_> = seen.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "associated",
            "Retriever.by_ref",
            "Retriever.by_mut",
            "Retriever.search",
            "Retriever.by_value"
        ]
    );
    assert_eq!(seen[0].arg_names(), ["calls"]);
    assert_eq!(seen[0].instance, None);
    assert_eq!(seen[1].arg_names(), ["query"], "self is not an argument");
    assert_eq!(seen[2].arg_names(), ["step"]);
    assert_eq!(seen[2].result, None, "a () return has no value");
    assert!(seen[2].exited);
    assert_eq!(seen[3].result, Some(json!(["q", "q"])));
    assert!(seen[4].args.is_empty());
    for method in &seen[1..] {
        assert!(method.instance.as_deref().unwrap().ends_with("Retriever"));
    }
}

// ---- generics ------------------------------------------------------------------------------------

#[span(dispatcher = "tests::span_macro::generics")]
fn first<T: Clone + serde::Serialize>(items: &[T]) -> Option<T> {
    items.first().cloned()
}

struct Wrapper<T>(T);

impl<T: std::fmt::Debug> Wrapper<T> {
    #[span(dispatcher = "tests::span_macro::generics")]
    fn show(&self, prefix: &str) -> String {
        format!("{prefix}{:?}", self.0)
    }
}

#[test]
fn generic_fn_and_impl() {
    let spans = record("tests::span_macro::generics");
    assert_eq!(first(&[3, 4]), Some(3));
    assert_eq!(first(&["a"]), Some("a"));
    assert_eq!(Wrapper(1u8).show(">"), ">1");
    assert_eq!(Wrapper("x").show(""), "\"x\"");
    let seen = spans.spans();
    let names: Vec<_> = seen.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["first", "first", "Wrapper.show", "Wrapper.show"]);
    assert_eq!(seen[0].result, Some(json!(3)));
    assert_eq!(seen[1].arg("items").json, json!(["a"]));
    assert_eq!(seen[2].result, Some(json!(">1")));
}

// ---- results, early returns and panics -----------------------------------------------------------

#[span(dispatcher = "tests::span_macro::result")]
fn parse(text: &str) -> Result<u32, std::num::ParseIntError> {
    let value: u32 = text.trim().parse()?;
    Ok(value * 2)
}

#[test]
fn ok_exits_with_value_and_err_drops_with_display() {
    let spans = record("tests::span_macro::result");
    assert_eq!(parse(" 21 "), Ok(42));
    assert!(parse("x").is_err());
    let seen = spans.spans();
    assert_eq!(seen.len(), 2);

    assert!(seen[0].exited);
    assert_eq!(
        seen[0].result,
        Some(json!(42)),
        "the Ok value, not the Result"
    );
    assert_eq!(seen[0].error, None);

    assert!(!seen[1].exited);
    assert_eq!(seen[1].drop_reason, Some(DropReason::Error));
    assert_eq!(
        seen[1].error.as_deref(),
        Some("invalid digit found in string")
    );
    assert_eq!(seen[1].result, None);
    assert_eq!(
        spans.drops(),
        [(seen[1].id, "invalid digit found in string".to_owned())],
        "one SpanDropEvent, for the Err only"
    );
}

#[span(dispatcher = "tests::span_macro::early_return")]
fn classify(value: i32) -> Result<&'static str, String> {
    if value < 0 {
        return Err(format!("{value} is negative"));
    }
    if value == 0 {
        return Ok("zero");
    }
    let small: u8 = u8::try_from(value).map_err(|e| e.to_string())?;
    Ok(if small < 10 { "small" } else { "large" })
}

#[test]
fn question_mark_and_return_end_the_span() {
    let spans = record("tests::span_macro::early_return");
    assert_eq!(classify(-1), Err("-1 is negative".to_owned()));
    assert_eq!(classify(0), Ok("zero"));
    assert!(classify(1000).is_err());
    assert_eq!(classify(3), Ok("small"));
    let seen = spans.spans();
    let ends: Vec<_> = seen
        .iter()
        .map(|s| (s.exited, s.result.clone(), s.error.clone()))
        .collect();
    assert_eq!(
        ends,
        [
            (false, None, Some("-1 is negative".to_owned())),
            (true, Some(json!("zero")), None),
            (
                false,
                None,
                Some("out of range integral type conversion attempted".to_owned())
            ),
            (true, Some(json!("small")), None),
        ]
    );
}

#[span(dispatcher = "tests::span_macro::panic")]
fn explode(reason: &str) -> u32 {
    if reason.is_empty() {
        return 0;
    }
    panic!("boom: {reason}");
}

#[test]
fn panic_drops_the_span_and_propagates() {
    let spans = record("tests::span_macro::panic");
    let before = instrument::current_span().id();
    let caught = catch_unwind(|| explode("fuse"));
    let payload = caught.expect_err("the panic propagates");
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "boom: fuse");
    assert_eq!(instrument::current_span().id(), before);
    let seen = spans.only();
    assert!(!seen.exited);
    assert_eq!(seen.drop_reason, Some(DropReason::Panic));
    assert_eq!(seen.error.as_deref(), Some("boom: fuse"));
    assert_eq!(spans.drops(), [(seen.id, "boom: fuse".to_owned())]);
}

// ---- options -------------------------------------------------------------------------------------

#[span(dispatcher = "tests::span_macro::redaction")]
fn call_llm(
    prompt: &str,
    api_key: &str,
    password: &str,
    user_token: &str,
    max_tokens: u32,
) -> usize {
    prompt.len() + api_key.len() + password.len() + user_token.len() + max_tokens as usize
}

#[span(dispatcher = "tests::span_macro::redaction", capture(api_key))]
fn call_llm_debug(prompt: &str, api_key: &str) -> usize {
    prompt.len() + api_key.len()
}

#[test]
fn secrets_are_redacted_unless_captured() {
    let spans = record("tests::span_macro::redaction");
    call_llm("hi", "sk-123", "hunter2", "t0k", 5);
    call_llm_debug("hi", "sk-456");
    let seen = spans.spans();
    let redacted: Vec<_> = seen[0]
        .args
        .iter()
        .map(|a| (a.name.as_str(), a.redacted))
        .collect();
    assert_eq!(
        redacted,
        [
            ("prompt", false),
            ("api_key", true),
            ("password", true),
            ("user_token", true),
            ("max_tokens", false)
        ]
    );
    assert_eq!(seen[0].arg("api_key").json, json!(instrument::REDACTED));
    assert_eq!(seen[0].arg("prompt").json, json!("hi"));
    assert!(!seen[1].arg("api_key").redacted);
    assert_eq!(seen[1].arg("api_key").json, json!("sk-456"));
}

#[span(dispatcher = "tests::span_macro::skips", skip(document))]
fn skip_some(document: &str, limit: usize) -> usize {
    document.len().min(limit)
}

#[span(dispatcher = "tests::span_macro::skips", skip_all)]
fn skip_everything(document: &str, limit: usize) -> usize {
    document.len().min(limit)
}

#[span(
    dispatcher = "tests::span_macro::skips",
    skip_all,
    capture(limit, api_key)
)]
fn skip_all_but(document: &str, limit: usize, api_key: &str) -> usize {
    document.len().min(limit) + api_key.len()
}

#[span(dispatcher = "tests::span_macro::skips", skip_ret)]
fn skip_return(limit: usize) -> Result<usize, String> {
    if limit == 0 {
        Err("no limit".to_owned())
    } else {
        Ok(limit)
    }
}

#[span(dispatcher = "tests::span_macro::skips", name = "custom.name")]
fn named(limit: usize) -> usize {
    limit
}

struct Named;

impl Named {
    #[span(dispatcher = "tests::span_macro::skips", name = "explicit")]
    fn method(&self) -> u8 {
        1
    }
}

#[test]
fn skip_skip_all_skip_ret_and_name() {
    let spans = record("tests::span_macro::skips");
    skip_some("doc", 2);
    skip_everything("doc", 2);
    skip_all_but("doc", 2, "key");
    assert_eq!(skip_return(4), Ok(4));
    assert!(skip_return(0).is_err());
    named(1);
    Named.method();
    let seen = spans.spans();
    assert_eq!(seen[0].arg_names(), ["limit"]);
    assert_eq!(seen[1].arg_names(), Vec::<&str>::new());
    assert_eq!(seen[2].arg_names(), ["limit", "api_key"]);
    assert!(!seen[2].arg("api_key").redacted, "capture(..) opts in");
    assert!(seen[3].exited);
    assert_eq!(seen[3].result, None, "skip_ret leaves the value out");
    assert_eq!(
        seen[4].error.as_deref(),
        Some("no limit"),
        "but errors still drop the span"
    );
    assert_eq!(seen[5].name, "custom.name");
    assert_eq!(seen[6].name, "explicit");
    assert!(seen[6].instance.as_deref().unwrap().ends_with("Named"));
}

// ---- context: nesting, current span, metadata, double application --------------------------------

#[span(dispatcher = "tests::span_macro::nested")]
fn outer(depth: u32) -> u32 {
    let id = instrument::current_span().id();
    assert!(id.is_some());
    let inner = middle(depth);
    assert_eq!(
        instrument::current_span().id(),
        id,
        "restored after the child"
    );
    inner + 1
}

#[span(dispatcher = "tests::span_macro::nested")]
fn middle(depth: u32) -> u32 {
    depth * 10
}

#[test]
fn nested_calls_are_parent_and_child() {
    let spans = record("tests::span_macro::nested");
    let before = instrument::current_span().id();
    assert_eq!(outer(2), 21);
    assert_eq!(instrument::current_span().id(), before);
    let seen = spans.spans();
    let (child, parent) = (&seen[0], &seen[1]);
    assert_eq!(child.name, "middle");
    assert_eq!(parent.name, "outer");
    assert_eq!(child.parent, Some(parent.id));
    assert_eq!(parent.parent, None);
}

#[span(dispatcher = "tests::span_macro::metadata")]
fn annotate(text: &str) -> usize {
    instrument::current_span().record("length", text.len());
    instrument::current_span().record("kind", "greeting");
    text.len()
}

#[test]
fn recorded_metadata_reaches_span_end() {
    let spans = record("tests::span_macro::metadata");
    annotate("hello");
    let seen = spans.only();
    assert_eq!(
        seen.metadata,
        [
            ("length".to_owned(), json!(5)),
            ("kind".to_owned(), json!("greeting"))
        ]
    );
}

#[span(dispatcher = "tests::span_macro::twice")]
#[instrument::span(dispatcher = "tests::span_macro::twice", name = "inner")]
fn twice(value: u8) -> u8 {
    value
}

#[test]
fn applying_span_twice_makes_one_span() {
    let spans = record("tests::span_macro::twice");
    assert_eq!(twice(3), 3);
    assert_eq!(spans.only().name, "inner");
}

#[test]
fn every_call_ends_exactly_once() {
    let spans = record("tests::span_macro::once");

    #[span(dispatcher = "tests::span_macro::once")]
    fn paths(path: u8) -> Result<u8, String> {
        match path {
            0 => return Ok(0),
            1 => return Err("early".into()),
            2 => panic!("panicked"),
            3 => Err("late".into()),
            _ => Ok(u8::try_from(u32::from(path) * 10).map_err(|e| e.to_string())?),
        }
    }

    for path in 0..6 {
        let _ = catch_unwind(AssertUnwindSafe(|| paths(path)));
    }
    let seen = spans.spans();
    assert_eq!(seen.len(), 6);
    let mut ids: Vec<_> = seen.iter().map(|s| s.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 6, "one end per span");
    let exits = seen.iter().filter(|s| s.exited).count();
    assert_eq!(exits, 3);
    assert_eq!(spans.drops().len(), 3, "a SpanDropEvent for every drop");
}

// ---- async ---------------------------------------------------------------------------------------

#[span(dispatcher = "tests::span_macro::async_fn")]
async fn fetch(url: &str, retries: u8) -> Result<usize, String> {
    tokio::task::yield_now().await;
    if retries == 0 {
        return Err(format!("gave up on {url}"));
    }
    let length: usize = url.len().checked_sub(1).ok_or("empty url")?;
    Ok(length)
}

struct Client {
    base: String,
}

impl Client {
    #[span(dispatcher = "tests::span_macro::async_fn")]
    async fn get(&self, path: &str) -> String {
        let inner = fetch(path, 1).await.unwrap_or_default();
        format!("{}{path}:{inner}", self.base)
    }
}

#[tokio::test]
async fn async_fn_and_method() {
    let spans = record("tests::span_macro::async_fn");
    assert_eq!(fetch("abc", 1).await, Ok(2));
    assert_eq!(fetch("abc", 0).await, Err("gave up on abc".to_owned()));
    assert_eq!(fetch("", 1).await, Err("empty url".to_owned()));
    let client = Client {
        base: "http://x/".into(),
    };
    assert_eq!(client.get("ab").await, "http://x/ab:1");
    let seen = spans.spans();
    let names: Vec<_> = seen.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["fetch", "fetch", "fetch", "fetch", "Client.get"]);
    assert_eq!(seen[0].result, Some(json!(2)));
    assert_eq!(seen[0].arg_names(), ["url", "retries"]);
    assert_eq!(seen[1].error.as_deref(), Some("gave up on abc"));
    assert_eq!(seen[2].error.as_deref(), Some("empty url"));
    assert_eq!(
        seen[3].parent,
        Some(seen[4].id),
        "the parent survives .await"
    );
    assert_eq!(seen[4].arg_names(), ["path"]);
    assert_eq!(seen[4].result, Some(json!("http://x/ab:1")));
}

#[test]
fn instrumented_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let future = fetch("abc", 1);
    assert_send(&future);
    let client = Client {
        base: String::new(),
    };
    assert_send(&client.get("x"));
}

#[span(dispatcher = "tests::span_macro::cancelled")]
async fn never_ready(label: &str) -> usize {
    std::future::pending::<()>().await;
    label.len()
}

#[tokio::test]
async fn dropped_future_is_cancelled() {
    let spans = record("tests::span_macro::cancelled");
    let timed_out = tokio::time::timeout(Duration::from_millis(5), never_ready("x")).await;
    assert!(timed_out.is_err());
    let seen = spans.only();
    assert!(!seen.exited);
    assert_eq!(seen.drop_reason, Some(DropReason::Cancelled));
    assert_eq!(seen.error.as_deref(), Some(instrument::CANCELLED));
    assert_eq!(spans.drops(), [(seen.id, "cancelled".to_owned())]);
}

#[span(dispatcher = "tests::span_macro::impl_future")]
fn doubled_later(value: u32) -> impl Future<Output = u32> + Send {
    let doubled = value * 2;
    async move {
        tokio::task::yield_now().await;
        instrument::current_span().record("inside", true);
        doubled
    }
}

#[tokio::test]
async fn impl_future_return() {
    let spans = record("tests::span_macro::impl_future");
    let future = doubled_later(4);
    assert!(spans.spans().is_empty(), "not ended before it is awaited");
    assert_eq!(future.await, 8);
    let seen = spans.only();
    assert_eq!(seen.name, "doubled_later");
    assert_eq!(seen.arg("value").json, json!(4));
    assert_eq!(seen.result, Some(json!(8)));
    assert_eq!(
        seen.metadata,
        [("inside".to_owned(), json!(true))],
        "polled inside the span"
    );
}

// ---- streams -------------------------------------------------------------------------------------

/// Counts from 0 up to `end`, one item per poll.
struct Counter {
    next: u32,
    end: u32,
}

impl Stream for Counter {
    type Item = u32;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<u32>> {
        if self.next == self.end {
            return Poll::Ready(None);
        }
        self.next += 1;
        Poll::Ready(Some(self.next - 1))
    }
}

#[span(dispatcher = "tests::span_macro::stream")]
fn count_to(end: u32) -> impl Stream<Item = u32> {
    Counter { next: 0, end }
}

async fn next<S: Stream>(stream: &mut Pin<Box<S>>) -> Option<S::Item> {
    std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await
}

#[tokio::test]
async fn stream_span_ends_when_exhausted_or_dropped() {
    let spans = record("tests::span_macro::stream");
    let mut stream = Box::pin(count_to(2));
    assert_eq!(next(&mut stream).await, Some(0));
    assert_eq!(next(&mut stream).await, Some(1));
    assert!(spans.spans().is_empty(), "still open while items remain");
    assert_eq!(next(&mut stream).await, None);
    let seen = spans.only();
    assert!(seen.exited);
    assert_eq!(seen.name, "count_to");
    assert_eq!(seen.arg("end").json, json!(2));

    let mut stream = Box::pin(count_to(5));
    assert_eq!(next(&mut stream).await, Some(0));
    drop(stream);
    let seen = spans.spans();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].error.as_deref(), Some("cancelled"));
}

#[span(
    dispatcher = "tests::span_macro::fields",
    fields(length = query.len(), api_key = "sk-1", shown = %query)
)]
fn with_fields(query: &str) -> usize {
    query.len()
}

#[test]
fn fields_are_named_values_at_the_start_after_the_arguments() {
    let spans = record("tests::span_macro::fields");
    assert_eq!(with_fields("rust"), 4);
    let seen = spans.only();
    assert_eq!(seen.arg_names(), ["query", "length", "api_key", "shown"]);
    assert_eq!(seen.arg("length").json, json!(4));
    assert!(seen.arg("api_key").redacted);
    assert_eq!(seen.arg("shown").json, json!("rust"));
}
