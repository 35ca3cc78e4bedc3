//! Exporters: write spans and the events inside them to files other tools read.
//!
//! - [`JsonlExporter`] writes one JSON object per ended span ([`ExportedSpan`]) as JSON Lines, from a
//!   background thread fed by a bounded queue; [`read_jsonl`] loads such a file back.
//! - [`ChromeTraceExporter`] keeps spans in memory, bounded, and writes them as a Chrome trace
//!   (the JSON that `ui.perfetto.dev` and `chrome://tracing` open).
//!
//! Both follow spans and events, so each is registered on a dispatcher as both kinds of handler;
//! `register` does that. Both are cheap to clone: clones share one exporter.

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
mod thread_id;
mod trace_ids;

pub use chrome::{ChromeSpan, ChromeTraceExporter, DEFAULT_CHROME_CAPACITY};
pub use error::ExportError;
pub use jsonl::JsonlExporter;
pub use jsonl_format::{ExportedEvent, ExportedSpan, SpanAttributes, SpanStatus, read_jsonl};
pub use pipeline::{
    DEFAULT_CLOSE_TIMEOUT, DEFAULT_QUEUE_CAPACITY, ExportPipeline, ExportPipelineBuilder,
};
