//! `HtmlReportExporter`: an export pipeline with one report sink.

use std::path::{Path, PathBuf};
use std::time::Duration;

use instrument_core::Dispatcher;

use crate::export::error::ExportError;
use crate::export::pipeline::{
    DEFAULT_QUEUE_CAPACITY, ExportPipeline, ExportPipelineBuilder, handlers_through_pipeline,
};

use super::html_report::DEFAULT_REPORT_TITLE;
use super::sink::ReportSink;

/// Spans an [`HtmlReportExporter`] keeps at most, unless told otherwise: a page of more is slow
/// to write at shutdown and to open, and a trace of much more than 700,000 spans is taller than
/// some browsers can scroll.
pub const DEFAULT_REPORT_CAPACITY: usize = 250_000;

/// How long [`HtmlReportExporter::write`] waits at most.
const WRITE_TIMEOUT: Duration = Duration::from_secs(120);

/// Keeps every span it follows, with the events emitted inside it, and writes them as one
/// [`HtmlReport`](crate::export::HtmlReport) file: when asked ([`HtmlReportExporter::write`]), and
/// at `instrument::shutdown`.
///
/// It is an [`ExportPipeline`] with one sink: the recording thread hands each span to the
/// pipeline's thread through a bounded queue, as for [`crate::export::JsonlExporter`]; spans
/// past the queue's or the report's capacity are dropped and counted
/// ([`HtmlReportExporter::dropped`]): the report keeps the first spans that end, so a trace
/// whose root came past the capacity shows its kept spans as traces of their own. The page is
/// written on the pipeline's thread, beside its path and renamed over it, so a reader never sees
/// half a page; at shutdown that counts against the pipeline's close timeout. To put the report
/// beside a JSON Lines file or an OTLP backend in one pipeline, use
/// [`ExportPipelineBuilder::html_report`] (and add it last: sinks are flushed in order).
///
/// ```
/// use instrument::handlers::export::HtmlReportExporter;
///
/// let path = std::env::temp_dir().join(format!("instrument-doc-{}.html", std::process::id()));
/// let report = HtmlReportExporter::builder(&path).title("doc run").build()?;
/// let dispatcher = instrument::get_dispatcher("doc::html_report");
/// report.register(dispatcher);
///
/// dispatcher.in_span("query", || dispatcher.in_span("retrieve", || ()));
/// report.write()?;
///
/// let page = std::fs::read_to_string(&path).unwrap();
/// assert!(page.contains("<title>doc run</title>"));
/// assert!(page.contains("\"name\":\"retrieve\""));
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), instrument::handlers::export::ExportError>(())
/// ```
#[derive(Clone, Debug)]
pub struct HtmlReportExporter {
    pipeline: ExportPipeline,
    path: PathBuf,
}

impl ExportPipelineBuilder {
    /// Adds a sink that writes an HTML report of every span to `path` when the pipeline is
    /// flushed and at shutdown, keeping at most `capacity` spans (at least one).
    ///
    /// # Errors
    /// [`ExportError::Io`] when no file can be created at `path`.
    pub fn html_report(
        self,
        path: impl AsRef<Path>,
        title: impl Into<String>,
        capacity: usize,
    ) -> Result<Self, ExportError> {
        let path = path.as_ref();
        // Fail now, not at the end of the run, when the file cannot be made.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| ExportError::Io {
                path: path.to_owned(),
                source,
            })?;
        Ok(self.sink(
            "html",
            Box::new(ReportSink::new(path.to_owned(), title.into(), capacity)),
        ))
    }
}

impl HtmlReportExporter {
    /// An exporter writing its report to `path`, titled [`DEFAULT_REPORT_TITLE`], keeping up to
    /// [`DEFAULT_REPORT_CAPACITY`] spans with a queue of [`DEFAULT_QUEUE_CAPACITY`].
    ///
    /// # Errors
    /// [`ExportError::Io`] when no file can be created at `path`, [`ExportError::Thread`] when
    /// the pipeline's thread cannot start.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, ExportError> {
        Self::builder(path).build()
    }

    /// An exporter to set up before it is made: its title and how many spans it keeps.
    #[must_use]
    pub fn builder(path: impl AsRef<Path>) -> HtmlReportExporterBuilder {
        HtmlReportExporterBuilder {
            path: path.as_ref().to_owned(),
            title: DEFAULT_REPORT_TITLE.to_owned(),
            capacity: DEFAULT_REPORT_CAPACITY,
        }
    }

    /// Adds this exporter to `dispatcher` as both a span handler and an event handler.
    pub fn register(&self, dispatcher: &Dispatcher) {
        self.pipeline.register(dispatcher);
    }

    /// Writes the report now, with every span that ended before this call, and waits until the
    /// file is in place.
    ///
    /// # Errors
    /// [`ExportError::Io`] when the file cannot be written, [`ExportError::Timeout`] when that
    /// took more than two minutes, [`ExportError::Stopped`] after `instrument::shutdown` (which
    /// wrote it a last time).
    pub fn write(&self) -> Result<(), ExportError> {
        self.pipeline.flush(WRITE_TIMEOUT)
    }

    /// How many spans and events were left out: the queue or the report was full.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.pipeline.dropped_by(0) + self.pipeline.dropped_events()
    }

    /// How many spans the file written last holds.
    #[must_use]
    pub fn written(&self) -> u64 {
        self.pipeline.exported_by(0)
    }

    /// The file written.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

handlers_through_pipeline!(HtmlReportExporter);

/// An [`HtmlReportExporter`] being set up ([`HtmlReportExporter::builder`]).
#[derive(Debug, Clone)]
pub struct HtmlReportExporterBuilder {
    path: PathBuf,
    title: String,
    capacity: usize,
}

impl HtmlReportExporterBuilder {
    /// The page's title and heading.
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// How many spans the report keeps at most (at least one); later ones are dropped and
    /// counted.
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Makes the exporter.
    ///
    /// # Errors
    /// As [`HtmlReportExporter::create`].
    pub fn build(self) -> Result<HtmlReportExporter, ExportError> {
        let pipeline = ExportPipeline::builder()
            .queue_capacity(DEFAULT_QUEUE_CAPACITY)
            .html_report(&self.path, self.title, self.capacity)?
            .build()?;
        Ok(HtmlReportExporter {
            pipeline,
            path: self.path,
        })
    }
}
