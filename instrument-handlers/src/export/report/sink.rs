//! The report sink: keeps every finished span (up to a bound) and writes the whole page when the
//! pipeline is flushed by its caller or shut down.

use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::export::ExportedSpan;
use crate::export::assemble::FinishedSpan;
use crate::export::deadline::Deadline;
use crate::export::error::ExportError;
use crate::export::jsonl_sink::exported;
use crate::export::pipeline::{Sink, SinkCounters, Wants};

use super::html_report::HtmlReport;

/// Writes an HTML report of every span it was given to one file.
pub(crate) struct ReportSink {
    path: PathBuf,
    title: String,
    spans: Vec<ExportedSpan>,
    /// Spans kept at most; later ones are counted as dropped.
    capacity: usize,
    /// Whether spans came since the file was last written.
    changed: bool,
    counters: Arc<SinkCounters>,
    error: Option<io::Error>,
}

impl ReportSink {
    pub(crate) fn new(path: PathBuf, title: String, capacity: usize) -> Self {
        Self {
            path,
            title,
            spans: Vec::new(),
            capacity,
            changed: true,
            counters: Arc::default(),
            error: None,
        }
    }

    fn write(&mut self) -> io::Result<()> {
        let report = HtmlReport::new(self.spans.clone()).title(self.title.clone());
        // Written beside the file, then renamed over it: a reader never sees half a page.
        let partial = self.path.with_extension("html.partial");
        let mut out = BufWriter::new(std::fs::File::create(&partial)?);
        report.write_to(&mut out)?;
        out.into_inner()
            .map_err(io::IntoInnerError::into_error)?
            .sync_all()?;
        std::fs::rename(&partial, &self.path)
    }
}

impl Sink for ReportSink {
    fn wants(&self) -> Wants {
        Wants {
            result: true,
            event_json: true,
            event_otlp: false,
        }
    }

    fn accept(&mut self, span: &FinishedSpan) {
        if self.spans.len() >= self.capacity {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.spans.push(exported(span));
        self.changed = true;
    }

    fn due(&self) -> Option<Instant> {
        // The page is written when asked for (a flush) and at shutdown, not as spans come.
        None
    }

    fn flush(&mut self, _deadline: &Deadline, wait: bool) -> bool {
        if !wait || !self.changed {
            return true;
        }
        match self.write() {
            Ok(()) => {
                self.changed = false;
                self.counters
                    .exported
                    .store(self.spans.len() as u64, Ordering::Relaxed);
            }
            Err(error) => {
                self.error.get_or_insert(error);
            }
        }
        true
    }

    fn take_error(&mut self) -> Option<ExportError> {
        let source = self.error.take()?;
        Some(ExportError::Io {
            path: self.path.clone(),
            source,
        })
    }

    fn counters(&self) -> Arc<SinkCounters> {
        Arc::clone(&self.counters)
    }
}
