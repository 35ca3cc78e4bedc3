//! The report sink: keeps every finished span (up to a bound) and writes the whole page when the
//! pipeline is flushed by its caller or shut down.

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

use super::digest::compact;
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
    error: Option<ExportError>,
}

impl ReportSink {
    pub(crate) fn new(path: PathBuf, title: String, capacity: usize) -> Self {
        Self {
            path,
            title,
            spans: Vec::new(),
            capacity: capacity.max(1),
            changed: true,
            counters: Arc::default(),
            error: None,
        }
    }

    fn write(&self) -> Result<(), ExportError> {
        HtmlReport::new(self.spans.clone())
            .title(self.title.clone())
            .save(&self.path)
    }
}

impl Sink for ReportSink {
    fn wants(&self) -> Wants {
        Wants::EXPORTED_SPAN
    }

    fn accept(&mut self, span: &FinishedSpan) {
        if self.spans.len() >= self.capacity {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut span = exported(span);
        // Kept as the page keeps them: a long stream's progress events with their delta only.
        for event in &mut span.events {
            event.attributes = compact(&event.name, std::mem::take(&mut event.attributes));
        }
        self.spans.push(span);
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
        self.error.take()
    }

    fn counters(&self) -> Arc<SinkCounters> {
        Arc::clone(&self.counters)
    }
}
