//! Exporters: spans and the events inside them, written to files or sent to backends.
//!
//! - [`ExportPipeline`]: one bounded queue and one background thread that assembles each span
//!   (its events, its W3C trace id) once and feeds one or more sinks, so that a JSON Lines file
//!   and an OTLP backend fed by one pipeline show the same trace ids, parents and times.
//! - [`JsonlExporter`] writes one JSON object per ended span ([`ExportedSpan`]) as JSON Lines: a
//!   pipeline with one file sink; [`read_jsonl`] loads such a file back.
//! - `otlp::OtlpExporter` (feature `otlp`) sends spans over OTLP/HTTP(S) with OpenInference
//!   attributes, with presets for Phoenix, Langfuse, W&B Weave, MLflow and any collector: a
//!   pipeline with one OTLP sink.
//! - [`ChromeTraceExporter`] keeps spans in memory, bounded, and writes them as a Chrome trace
//!   (the JSON that `ui.perfetto.dev` and `chrome://tracing` open). It is not a pipeline sink: it
//!   writes one file at the end from per-thread buffers filled without a lock, needs no trace ids,
//!   and keeps the recording thread's id, which a pipeline does not carry.
//!
//! - [`HtmlReportExporter`] keeps spans and writes them as one self-contained HTML page
//!   ([`HtmlReport`]): a run's traces, waterfall, LLM conversations and documents, offline.
//!
//! Each follows spans and events, so each is registered on a dispatcher as both kinds of handler;
//! `register` does that. All are cheap to clone: clones share one exporter.

mod assemble;
mod chrome;
mod deadline;
mod error;
mod jsonl;
mod jsonl_format;
mod jsonl_sink;
#[cfg(feature = "otlp")]
pub mod otlp;
mod pipeline;
mod record;
mod report;
mod span_kind;
mod thread_id;

pub use chrome::{ChromeSpan, ChromeTraceExporter, DEFAULT_CHROME_CAPACITY};
pub use error::ExportError;
pub use jsonl::JsonlExporter;
pub use jsonl_format::{ExportedEvent, ExportedSpan, SpanAttributes, SpanStatus, read_jsonl};
pub use pipeline::{
    DEFAULT_CLOSE_TIMEOUT, DEFAULT_QUEUE_CAPACITY, ExportPipeline, ExportPipelineBuilder,
};
pub use report::{
    DEFAULT_REPORT_CAPACITY, DEFAULT_REPORT_TITLE, HtmlReport, HtmlReportExporter,
    HtmlReportExporterBuilder,
};
