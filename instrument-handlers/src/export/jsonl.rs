//! `JsonlExporter`: an export pipeline with one JSON Lines sink.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use instrument_core::Dispatcher;

use super::error::ExportError;
use super::jsonl_sink::JsonlSink;
use super::pipeline::{ExportPipeline, ExportPipelineBuilder, handlers_through_pipeline};

pub use super::pipeline::DEFAULT_QUEUE_CAPACITY;

/// How long [`JsonlExporter::flush`] waits at most.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// Writes every span it follows as one line of JSON ([`crate::export::ExportedSpan`]), with the
/// events emitted inside it, to a file or any `Write + Send`.
///
/// It is an [`ExportPipeline`] with one sink: the recording thread only captures the span and
/// hands it to the pipeline's thread through a bounded queue; it never does I/O and never blocks.
/// When the queue is full the record is dropped and counted ([`JsonlExporter::dropped`]). Lines
/// reach the file whenever the queue runs dry, at most a few milliseconds after a span ends;
/// [`JsonlExporter::flush`] waits until everything recorded before it is written, and `close`
/// (called by `instrument::shutdown`) flushes and stops. Each line's `trace_id` is the W3C trace
/// id the OTLP exporter sends the span under.
///
/// It is both a span handler and an event handler: [`JsonlExporter::register`] adds it as both.
/// Clones share one exporter. Events emitted outside any span, or inside spans this exporter does
/// not follow, are not exported.
///
/// ```
/// use instrument::handlers::export::{JsonlExporter, SpanStatus, read_jsonl};
///
/// let path = std::env::temp_dir().join(format!("instrument-doc-{}.jsonl", std::process::id()));
/// let exporter = JsonlExporter::create(&path)?;
/// let dispatcher = instrument::get_dispatcher("doc::jsonl_exporter");
/// exporter.register(dispatcher);
///
/// dispatcher.in_span("query", || dispatcher.in_span("retrieve", || ()));
/// exporter.flush()?;
///
/// let spans = read_jsonl(&path)?;
/// assert_eq!(spans.len(), 2);
/// assert_eq!(spans[0].name, "retrieve"); // children end first
/// assert_eq!(spans[0].parent_id.as_ref(), Some(&spans[1].span_id));
/// assert_eq!(spans[0].trace_id, spans[1].trace_id);
/// assert_eq!(spans[1].status, SpanStatus::Ok);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), instrument::handlers::export::ExportError>(())
/// ```
#[derive(Clone, Debug)]
pub struct JsonlExporter {
    pipeline: ExportPipeline,
    /// The file written, for `Debug`; `None` for a caller's writer.
    path: Option<PathBuf>,
}

impl ExportPipelineBuilder {
    /// Adds a sink writing JSON Lines to a new file at `path` (truncated if it exists).
    ///
    /// # Errors
    /// [`ExportError::Io`] when the file cannot be created.
    pub fn jsonl_file(self, path: impl AsRef<Path>) -> Result<Self, ExportError> {
        let path = path.as_ref();
        let file = std::fs::File::create(path).map_err(|source| ExportError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(self.sink(
            "jsonl",
            Box::new(JsonlSink::new(file, Some(path.to_owned()))),
        ))
    }

    /// Adds a sink writing JSON Lines to `writer`.
    #[must_use]
    pub fn jsonl_writer<W: Write + Send + 'static>(self, writer: W) -> Self {
        self.sink("jsonl", Box::new(JsonlSink::new(writer, None)))
    }
}

impl JsonlExporter {
    /// An exporter writing to a new file at `path` (truncated if it exists), with a queue of
    /// [`DEFAULT_QUEUE_CAPACITY`].
    ///
    /// # Errors
    /// [`ExportError::Io`] when the file cannot be created, [`ExportError::Thread`] when the
    /// pipeline's thread cannot start.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, ExportError> {
        Self::create_with_capacity(path, DEFAULT_QUEUE_CAPACITY)
    }

    /// As [`JsonlExporter::create`], with a queue of `capacity` messages (at least one).
    ///
    /// # Errors
    /// As [`JsonlExporter::create`].
    pub fn create_with_capacity(
        path: impl AsRef<Path>,
        capacity: usize,
    ) -> Result<Self, ExportError> {
        let pipeline = ExportPipeline::builder()
            .queue_capacity(capacity)
            .jsonl_file(&path)?
            .build()?;
        Ok(Self {
            pipeline,
            path: Some(path.as_ref().to_owned()),
        })
    }

    /// An exporter writing to `writer`, with a queue of [`DEFAULT_QUEUE_CAPACITY`].
    ///
    /// # Errors
    /// [`ExportError::Thread`] when the pipeline's thread cannot start.
    pub fn new<W: Write + Send + 'static>(writer: W) -> Result<Self, ExportError> {
        Self::with_capacity(writer, DEFAULT_QUEUE_CAPACITY)
    }

    /// An exporter writing to `writer`, with a queue of `capacity` messages (at least one). Each
    /// span takes two (its start and its end), each event one.
    ///
    /// # Errors
    /// [`ExportError::Thread`] when the pipeline's thread cannot start.
    pub fn with_capacity<W: Write + Send + 'static>(
        writer: W,
        capacity: usize,
    ) -> Result<Self, ExportError> {
        let pipeline = ExportPipeline::builder()
            .queue_capacity(capacity)
            .jsonl_writer(writer)
            .build()?;
        Ok(Self {
            pipeline,
            path: None,
        })
    }

    /// Adds this exporter to `dispatcher` as both a span handler and an event handler.
    pub fn register(&self, dispatcher: &Dispatcher) {
        self.pipeline.register(dispatcher);
    }

    /// How many spans and events were lost: the queue was full, a span had too many events, or
    /// writing failed.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.pipeline.dropped_by(0) + self.pipeline.dropped_events()
    }

    /// How many spans were written to the file (lines flushed to it; [`JsonlExporter::flush`]
    /// pushes out those still buffered).
    #[must_use]
    pub fn written(&self) -> u64 {
        self.pipeline.exported_by(0)
    }

    /// How many messages the queue holds.
    #[must_use]
    pub fn queue_capacity(&self) -> usize {
        self.pipeline.queue_capacity()
    }

    /// Blocks until everything recorded before this call is written and the file flushed.
    ///
    /// # Errors
    /// The first write error since the last flush ([`ExportError::Io`] for a file,
    /// [`ExportError::Write`] for a caller's writer), [`ExportError::Timeout`] when the writer
    /// took more than a minute, or [`ExportError::Stopped`] after `instrument::shutdown`. Spans
    /// lost to a full queue are not an error: [`JsonlExporter::dropped`] counts them.
    pub fn flush(&self) -> Result<(), ExportError> {
        self.pipeline.flush(FLUSH_TIMEOUT)
    }

    /// The file written, if this exporter writes a file.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

handlers_through_pipeline!(JsonlExporter);
