//! Ready handlers for `instrument`.
//!
//! - [`SimpleSpanHandler`] keeps every ended span ([`SimpleSpan`]: id, parent, times, duration,
//!   metadata and drop error), bounded by a capacity, and prints them as trace trees
//!   ([`SimpleSpanHandler::print_trace_trees`]), like LlamaIndex's `SimpleSpanHandler`.
//! - [`format_span_trees`] draws any slice of [`SimpleSpan`]s as those trees, for other handlers.
//! - [`token_counting`] reads the token usage providers report (OpenAI, Anthropic with cache
//!   tokens, Gemini), counts tokens when they report none ([`token_counting::Tokenizer`]) and
//!   prices them ([`token_counting::PriceTable`], [`token_counting::cost_of`]).
//! - [`DebugHandler`] keeps the start and end of every callback event, times them by type and prints
//!   each trace as it ends, like LlamaIndex's `LlamaDebugHandler`.
//! - [`TokenCountingHandler`] counts the tokens of every LLM and embedding call, from callbacks and
//!   from instrumentation events, with an optional budget, like LlamaIndex's `TokenCountingHandler`,
//!   and what they cost, by model.
//! - [`FineTuningHandler`] collects chat calls as OpenAI fine-tuning examples and writes them as
//!   JSONL, like LlamaIndex's `OpenAIFineTuningHandler`.
//! - [`export`] writes spans and the events inside them to files: [`JsonlExporter`] one JSON line
//!   per span from a background thread with a bounded queue ([`export::read_jsonl`] reads them
//!   back), and [`ChromeTraceExporter`] a Chrome trace that `ui.perfetto.dev` opens.
//! - `tracing_bridge` (feature `tracing`) joins the `tracing` crate both ways: `InstrumentLayer`
//!   turns other crates' `tracing` spans and events into instrument ones, and `TracingForwarder`
//!   sends instrument spans and events on to `tracing` subscribers.
//! - `openai` (feature `openai`): `InstrumentedClient` wraps `async-openai`'s client so that its
//!   calls are spans with the catalog's LLM and embedding events.
//! - `export::otlp` (feature `otlp`) sends spans to Arize Phoenix or an OpenTelemetry collector as
//!   OTLP/HTTP protobuf with OpenInference attributes: `OtlpExporter`, batched on a background
//!   thread with a bounded queue and retries.
//!
//! ```
//! use instrument::handlers::SimpleSpanHandler;
//!
//! let dispatcher = instrument::get_dispatcher("doc::handlers");
//! let spans = dispatcher.add_span_handler(SimpleSpanHandler::default());
//! dispatcher.in_span("query", || dispatcher.in_span("retrieve", || ()));
//! spans.print_trace_trees();
//! assert_eq!(spans.drain().len(), 2);
//! ```

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bounded;
mod call_key;
mod capture;
mod chunk_queue;
mod debug;
pub mod export;
mod finetuning;
#[cfg(feature = "openai")]
pub mod openai;
mod register;
mod simple;
mod thread_buffer;
pub mod token_counting;
#[cfg(feature = "tracing")]
pub mod tracing_bridge;
mod tree;

pub use debug::{CBEvent, DebugHandler, EventPair, EventStage, EventStats};
pub use export::{ChromeTraceExporter, ExportError, JsonlExporter};
pub use finetuning::{FineTuningError, FineTuningExample, FineTuningHandler};

/// LlamaIndex's name for [`DebugHandler`], for code ported from Python.
pub type LlamaDebugHandler = DebugHandler;

/// LlamaIndex's name for [`FineTuningHandler`], for code ported from Python.
pub type OpenAIFineTuningHandler = FineTuningHandler;
pub use simple::{DEFAULT_CAPACITY, SimpleSpan, SimpleSpanHandler};
pub use token_counting::{TokenBudgetExceeded, TokenCountingEvent, TokenCountingHandler};
pub use tree::{format_span_trees, print_span_trees};
