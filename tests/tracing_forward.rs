//! `TracingForwarder` under the real `tracing-opentelemetry` layer: our spans are the current
//! `tracing` span while they run, so spans that `tracing`-instrumented crates open inside are their
//! children, and they reach OpenTelemetry under their own names with a status.
//!
//! One subscriber for the whole binary (the global default, so that every worker thread sees it):
//! `tracing_subscriber::registry()` with `tracing-opentelemetry` over the OpenTelemetry SDK's
//! in-memory exporter. Each test names its spans after itself and reads back only those.

use std::collections::HashSet;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use instrument::handlers::tracing_bridge::{InstrumentLayer, TracingForwarder};
use instrument::{get_dispatcher, span};
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt;

#[path = "support/yield_once.rs"]
mod yield_once;
use yield_once::YieldOnce;

/// The in-memory exporter behind the binary's one subscriber, installed on first use.
fn exported() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("instrument-tests")));
        tracing::subscriber::set_global_default(subscriber).unwrap();
        exporter
    })
}

/// The finished OpenTelemetry span called `name`; exactly one.
fn one(name: &str) -> SpanData {
    let spans: Vec<SpanData> = exported()
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .filter(|s| s.name == name)
        .collect();
    assert_eq!(spans.len(), 1, "spans named {name}: {spans:#?}");
    spans.into_iter().next().unwrap()
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

/// Whether `child`'s parent is `parent`, in the same OpenTelemetry trace.
fn is_child_of(child: &SpanData, parent: &SpanData) -> bool {
    child.parent_span_id == parent.span_context.span_id()
        && child.span_context.trace_id() == parent.span_context.trace_id()
}

/// The name of the current `tracing` span, if any.
fn current_tracing_span() -> Option<&'static str> {
    tracing::Span::current().metadata().map(|m| m.name())
}

fn install(dispatcher: &'static str) -> &'static TracingForwarder {
    exported();
    TracingForwarder::new().install(get_dispatcher(dispatcher))
}

#[span(dispatcher = "fwd_sync")]
fn fwd_sync_retrieve(query: &str, top_k: usize) -> usize {
    let forwarded = current_tracing_span();
    // What reqwest or sqlx would open here.
    let hits = tracing::info_span!("fwd_sync.http", url = "/search").in_scope(|| {
        tracing::info!(bytes = 512, "response");
        query.len() + top_k
    });
    assert_eq!(forwarded, Some("instrument"));
    hits
}

#[test]
fn a_sync_span_is_the_current_tracing_span_and_keeps_its_name() {
    install("fwd_sync");
    assert_eq!(fwd_sync_retrieve("rust", 3), 7);
    assert_eq!(current_tracing_span(), None, "left on return");

    let retrieve = one("fwd_sync_retrieve");
    let http = one("fwd_sync.http");
    assert!(is_child_of(&http, &retrieve), "{http:#?}");
    assert_eq!(retrieve.status, Status::Ok);
    assert_eq!(
        attribute(&retrieve, "dispatcher").as_deref(),
        Some("fwd_sync")
    );
    assert_eq!(
        attribute(&retrieve, "args").as_deref(),
        Some(r#"{"query":"rust","top_k":3}"#)
    );
    assert_eq!(attribute(&retrieve, "outcome").as_deref(), Some("exit"));
    let span_id = attribute(&retrieve, "span_id").unwrap();
    assert!(span_id.starts_with("fwd_sync_retrieve-"), "{span_id}");
    assert_eq!(attribute(&retrieve, "trace_id").unwrap().len(), 32);
    assert_eq!(
        http.events.len(),
        1,
        "the event stays in the library's span"
    );
}

#[span(dispatcher = "fwd_nested")]
fn fwd_nested_query(question: &str) -> usize {
    fwd_nested_retrieve(question, 2) + 1
}

#[span(dispatcher = "fwd_nested")]
fn fwd_nested_retrieve(question: &str, top_k: usize) -> usize {
    tracing::info_span!("fwd_nested.sql").in_scope(|| question.len() * top_k)
}

#[test]
fn nested_spans_nest_in_opentelemetry_with_library_spans_at_the_bottom() {
    install("fwd_nested");
    let outer = tracing::info_span!("fwd_nested.request");
    assert_eq!(outer.in_scope(|| fwd_nested_query("why")), 7);
    drop(outer);

    let request = one("fwd_nested.request");
    let query = one("fwd_nested_query");
    let retrieve = one("fwd_nested_retrieve");
    let sql = one("fwd_nested.sql");
    assert!(is_child_of(&query, &request));
    assert!(is_child_of(&retrieve, &query));
    assert!(is_child_of(&sql, &retrieve));
}

#[span(dispatcher = "fwd_err")]
fn fwd_err_synthesize(prompt: &str) -> Result<String, String> {
    tracing::info_span!("fwd_err.call").in_scope(|| ());
    Err(format!("model overloaded for {prompt}"))
}

#[test]
fn an_err_return_is_an_error_status_with_the_message() {
    install("fwd_err");
    assert!(fwd_err_synthesize("hi").is_err());
    assert_eq!(current_tracing_span(), None);

    let synthesize = one("fwd_err_synthesize");
    assert!(is_child_of(&one("fwd_err.call"), &synthesize));
    assert_eq!(
        synthesize.status,
        Status::error("model overloaded for hi"),
        "{synthesize:#?}"
    );
    assert_eq!(attribute(&synthesize, "outcome").as_deref(), Some("error"));
    assert_eq!(
        attribute(&synthesize, "error").as_deref(),
        Some("model overloaded for hi")
    );
}

#[span(dispatcher = "fwd_panic")]
fn fwd_panic_parse(text: &str) -> usize {
    let _library = tracing::info_span!("fwd_panic.decode").entered();
    if text.is_empty() {
        panic!("nothing to parse");
    }
    text.len()
}

#[test]
fn a_panic_leaves_the_span_and_reports_the_panic() {
    install("fwd_panic");
    let result = catch_unwind(AssertUnwindSafe(|| fwd_panic_parse("")));
    assert!(result.is_err());
    assert_eq!(current_tracing_span(), None, "left while unwinding");

    let parse = one("fwd_panic_parse");
    assert!(is_child_of(&one("fwd_panic.decode"), &parse));
    assert_eq!(parse.status, Status::error("nothing to parse"));
    assert_eq!(attribute(&parse, "outcome").as_deref(), Some("panic"));
}

#[span(dispatcher = "fwd_async")]
async fn fwd_async_fetch(url: &str, attempt: usize) -> Result<usize, String> {
    let thread = format!("{:?}", std::thread::current().id());
    tracing::info_span!("fwd_async.before", thread).in_scope(|| ());
    YieldOnce(false).await;
    let thread = format!("{:?}", std::thread::current().id());
    tracing::info_span!("fwd_async.after", thread).in_scope(|| ());
    Ok(url.len() + attempt)
}

#[test]
fn an_async_span_is_current_in_every_poll_on_whichever_thread_polls_it() {
    install("fwd_async");
    let mut future = Box::pin(fwd_async_fetch("/docs", 1));
    let mut cx = Context::from_waker(Waker::noop());
    // First poll here; the span is left when the poll returns.
    assert!(future.as_mut().poll(&mut cx).is_pending());
    assert_eq!(current_tracing_span(), None, "left between polls");
    // The rest on another thread, as a work-stealing executor would.
    let output = std::thread::spawn(move || {
        let mut cx = Context::from_waker(Waker::noop());
        let output = future.as_mut().poll(&mut cx);
        (output, current_tracing_span())
    })
    .join()
    .unwrap();
    assert_eq!(output, (Poll::Ready(Ok(6)), None));

    let fetch = one("fwd_async_fetch");
    let before = one("fwd_async.before");
    let after = one("fwd_async.after");
    assert!(is_child_of(&before, &fetch));
    assert!(is_child_of(&after, &fetch));
    assert_ne!(
        attribute(&before, "thread"),
        attribute(&after, "thread"),
        "polled on two threads"
    );
    assert_eq!(fetch.status, Status::Ok);
}

#[span(dispatcher = "fwd_tokio")]
async fn fwd_tokio_embed(text: &str, dims: usize) -> usize {
    tokio::task::yield_now().await;
    tracing::info_span!("fwd_tokio.request").in_scope(|| text.len() * dims)
}

#[test]
fn spans_of_concurrent_tasks_on_a_multi_threaded_runtime_stay_apart() {
    install("fwd_tokio");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|i| tokio::spawn(async move { fwd_tokio_embed("chunk", i).await }))
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.unwrap(), 5 * i);
        }
    });
    let spans = exported().get_finished_spans().unwrap();
    let embeds: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name == "fwd_tokio_embed")
        .collect();
    let requests: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name == "fwd_tokio.request")
        .collect();
    assert_eq!((embeds.len(), requests.len()), (8, 8));
    // Each request under its own task's span: eight distinct parents, each an embed span.
    let parents: HashSet<_> = requests.iter().map(|r| r.parent_span_id).collect();
    assert_eq!(parents.len(), 8);
    for request in requests {
        assert!(embeds.iter().any(|e| is_child_of(request, e)));
    }
}

#[span(dispatcher = "fwd_spawn")]
async fn fwd_spawn_gather(query: &str, parts: usize) -> usize {
    let tasks: Vec<_> = (0..parts)
        .map(|part| {
            instrument::spawn(async move {
                tokio::task::yield_now().await;
                tracing::info_span!("fwd_spawn.part", part).in_scope(|| part)
            })
        })
        .collect();
    let mut total = query.len();
    for task in tasks {
        total += task.await.unwrap();
    }
    total
}

#[test]
fn tasks_spawned_in_a_span_run_in_its_tracing_span_too() {
    install("fwd_spawn");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(fwd_spawn_gather("q", 4)), 7);

    let gather = one("fwd_spawn_gather");
    let parts: Vec<SpanData> = exported()
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .filter(|s| s.name == "fwd_spawn.part")
        .collect();
    assert_eq!(parts.len(), 4);
    assert!(parts.iter().all(|part| is_child_of(part, &gather)));
}

#[span(dispatcher = "fwd_cancel")]
async fn fwd_cancel_stream(prompt: &str) -> usize {
    tracing::info_span!("fwd_cancel.open").in_scope(|| ());
    YieldOnce(false).await;
    prompt.len()
}

#[test]
fn a_future_dropped_mid_span_is_cancelled_and_left() {
    install("fwd_cancel");
    let mut future = Box::pin(fwd_cancel_stream("hello"));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(future.as_mut().poll(&mut cx).is_pending());
    drop(future);
    assert_eq!(current_tracing_span(), None);

    let stream = one("fwd_cancel_stream");
    assert!(is_child_of(&one("fwd_cancel.open"), &stream));
    assert_eq!(attribute(&stream, "outcome").as_deref(), Some("cancelled"));
    assert_eq!(stream.status, Status::error("cancelled"));
}

#[span(dispatcher = "fwd_both")]
fn fwd_both_answer(question: &str) -> usize {
    tracing::info_span!(target: "fwd_both::http", "fwd_both.send").in_scope(|| question.len())
}

#[test]
fn both_directions_at_once_do_not_loop_and_agree_on_parents() {
    install("fwd_both");
    let recorder = instrument::get_dispatcher("fwd_both")
        .add_span_handler(instrument::handlers::SimpleSpanHandler::default());
    // The layer bridges `fwd_both::http` spans onto the `fwd_both::http` dispatcher, under ours.
    let layered = tracing_subscriber::registry().with(InstrumentLayer::new());
    let answer = tracing::subscriber::with_default(layered, || fwd_both_answer("why"));
    assert_eq!(answer, 3);

    let spans = recorder.completed();
    let names: Vec<&str> = spans.iter().map(|s| s.name).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let answer = spans.iter().find(|s| s.name == "fwd_both_answer").unwrap();
    let send = spans.iter().find(|s| s.name == "fwd_both.send").unwrap();
    assert_eq!(send.parent_id, Some(answer.id));
}
