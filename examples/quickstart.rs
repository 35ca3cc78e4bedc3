//! A small RAG-shaped app: nested sync and async spans, a custom event, a custom span handler, and the
//! trace tree that `SimpleSpanHandler` prints at the end.
//!
//! Run it with `cargo run --example quickstart`.

use std::sync::Mutex;

use instrument::handlers::SimpleSpanHandler;
use instrument::{
    Event, EventEnvelope, EventHandler, SpanEnd, SpanHandler, SpanStart, current_span, span,
};

/// A typed event: the retriever found the query in its cache.
#[derive(Event, serde::Serialize)]
struct CacheHit {
    key: String,
    age_ms: u64,
}

/// A custom span handler: one line per finished span, with the arguments it was called with.
struct Printer;

impl SpanHandler for Printer {
    /// What this handler keeps while a span is open: its arguments, as text.
    type Span = String;

    fn new_span(&self, start: &SpanStart<'_>) -> Option<String> {
        let args: Vec<String> = start.args().iter().map(|a| format!("{a:?}")).collect();
        Some(args.join(", "))
    }

    fn prepare_to_exit_span(&self, args: String, end: &SpanEnd<'_>) {
        println!(
            "  ok    {:<24} {:>9.3?}  ({args})",
            end.name(),
            end.duration()
        );
    }

    fn prepare_to_drop_span(&self, args: String, end: &SpanEnd<'_>) {
        let error = end.error().unwrap_or_default();
        println!(
            "  error {:<24} {:>9.3?}  ({args}) -> {error}",
            end.name(),
            end.duration()
        );
    }
}

/// A custom event handler that counts cache hits.
#[derive(Default)]
struct CacheStats(Mutex<Vec<String>>);

impl EventHandler for CacheStats {
    fn handle(&self, event: &EventEnvelope<'_>) {
        if let Some(hit) = event.downcast_ref::<CacheHit>() {
            self.0
                .lock()
                .unwrap()
                .push(format!("{} ({} ms old)", hit.key, hit.age_ms));
        }
    }
}

struct Store {
    docs: Vec<&'static str>,
}

impl Store {
    /// A sync span on a method: named `Store.search`, `self` left out of the arguments.
    #[span]
    fn search(&self, query: &str, top_k: usize) -> Vec<&'static str> {
        let words: Vec<&str> = query.split_whitespace().collect();
        let mut hits: Vec<(usize, &'static str)> = self
            .docs
            .iter()
            .map(|doc| (words.iter().filter(|w| doc.contains(*w)).count(), *doc))
            .filter(|(score, _)| *score > 0)
            .collect();
        hits.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
        hits.into_iter().take(top_k).map(|(_, doc)| doc).collect()
    }
}

/// An async span: it covers the whole `.await`.
#[span]
async fn embed(text: &str) -> Vec<f32> {
    tokio::task::yield_now().await;
    text.bytes().take(4).map(|b| f32::from(b) / 255.0).collect()
}

#[span]
async fn retrieve(store: &Store, query: &str, top_k: usize) -> Result<Vec<&'static str>, String> {
    let _vector = embed(query).await;
    if query.contains("span") {
        instrument::get_dispatcher(module_path!()).event(CacheHit {
            key: query.to_owned(),
            age_ms: 42,
        });
    }
    let hits = store.search(query, top_k);
    current_span().record("hits", hits.len());
    if hits.is_empty() {
        return Err(format!("nothing found for {query:?}"));
    }
    Ok(hits)
}

/// `api_key` is redacted in the captured arguments unless listed in `capture(..)`.
#[span]
async fn answer(store: &Store, question: &str, api_key: &str) -> Result<String, String> {
    let context = retrieve(store, question, 2).await?;
    let _ = api_key;
    Ok(format!(
        "Based on {} documents: {}",
        context.len(),
        context.join(" / ")
    ))
}

#[tokio::main]
async fn main() {
    // Handlers are registered once, at start-up, on the root: every dispatcher propagates to it.
    let root = instrument::root();
    let spans = root.add_span_handler(SimpleSpanHandler::default());
    root.add_span_handler(Printer);
    let cache = root.add_event_handler(CacheStats::default());

    let store = Store {
        docs: vec![
            "a span is one step of a pipeline",
            "events mark moments inside a span",
            "handlers see spans and events",
        ],
    };

    println!("spans as they finish:");
    for question in [
        "what is a span",
        "how do handlers see events",
        "quantum chromodynamics",
    ] {
        match answer(&store, question, "sk-secret").await {
            Ok(text) => println!("answer: {text}"),
            Err(error) => println!("failed: {error}"),
        }
    }

    println!("\ncache hits: {:?}", cache.0.lock().unwrap());
    println!("\ntrace trees:");
    spans.print_trace_trees();
}
