//! The JSON Lines sink: one line per finished span, buffered, flushed whenever the pipeline's queue
//! runs dry.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::assemble::FinishedSpan;
use super::deadline::Deadline;
use super::error::ExportError;
use super::jsonl_format::{ExportedEvent, ExportedSpan, SpanAttributes, SpanStatus};
use super::pipeline::{Sink, SinkCounters, Wants};

/// Writes spans as JSON Lines to a file or any `Write + Send`.
pub(crate) struct JsonlSink<W: Write> {
    out: BufWriter<W>,
    /// The file written, for error messages; `None` for a caller's writer.
    path: Option<PathBuf>,
    counters: Arc<SinkCounters>,
    /// When the first line since the last flush of `out` was written.
    dirty: Option<Instant>,
    /// Lines written into `out` since its last flush: counted as exported once flushed.
    pending: u64,
    /// The first write error since the last flush.
    error: Option<io::Error>,
    line: Vec<u8>,
}

impl<W: Write> JsonlSink<W> {
    pub(crate) fn new(out: W, path: Option<PathBuf>) -> Self {
        Self {
            out: BufWriter::with_capacity(64 * 1024, out),
            path,
            counters: Arc::default(),
            dirty: None,
            pending: 0,
            error: None,
            line: Vec::with_capacity(1024),
        }
    }
}

/// The line written for `span`.
pub(crate) fn exported(span: &FinishedSpan) -> ExportedSpan {
    let record = &span.record;
    let error = record.error().map(str::to_owned);
    let args = record.args.as_deref().cloned().unwrap_or_default();
    ExportedSpan {
        span_id: record.id.to_string(),
        parent_id: record.parent.map(|parent| parent.to_string()),
        name: record.id.name().to_owned(),
        trace_id: Some(record.trace_id_hex()),
        dispatcher: record.dispatcher.to_owned(),
        start_unix_nano: record.start.unix_nanos(),
        end_unix_nano: record.end.unix_nanos(),
        duration_ns: u64::try_from(record.end.duration_since(record.start).as_nanos())
            .unwrap_or(u64::MAX),
        status: if error.is_some() {
            SpanStatus::Error
        } else {
            SpanStatus::Ok
        },
        error,
        attributes: SpanAttributes {
            args,
            metadata: record.metadata(),
            tags: record.tags(),
            result: record.result().cloned(),
        },
        events: span
            .events
            .iter()
            .map(|event| ExportedEvent {
                name: event.name.to_owned(),
                time_unix_nano: event.at.unix_nanos(),
                attributes: event.payload.clone(),
            })
            .collect(),
    }
}

impl<W: Write> JsonlSink<W> {
    /// A write failed: the lines not yet flushed, and `more`, are lost.
    fn lost(&mut self, more: u64, error: io::Error) {
        let lines = std::mem::take(&mut self.pending) + more;
        self.counters.dropped.fetch_add(lines, Ordering::Relaxed);
        self.error.get_or_insert(error);
    }
}

impl<W: Write + Send> Sink for JsonlSink<W> {
    fn wants(&self) -> Wants {
        Wants::EXPORTED_SPAN
    }

    fn accept(&mut self, span: &FinishedSpan) {
        self.line.clear();
        let written = serde_json::to_writer(&mut self.line, &exported(span))
            .map_err(io::Error::from)
            .and_then(|()| {
                self.line.push(b'\n');
                self.out.write_all(&self.line)
            });
        match written {
            Ok(()) => {
                self.dirty.get_or_insert_with(Instant::now);
                self.pending += 1;
            }
            Err(error) => {
                // The buffer may have been written out in part: its lines count as lost too.
                self.lost(1, error);
            }
        }
    }

    fn due(&self) -> Option<Instant> {
        // Written lines reach the file as soon as the queue runs dry.
        self.dirty
    }

    fn flush(&mut self, _deadline: &Deadline, _wait: bool) -> bool {
        if self.dirty.take().is_none() {
            return true;
        }
        match self.out.flush() {
            Ok(()) => {
                let lines = std::mem::take(&mut self.pending);
                self.counters.exported.fetch_add(lines, Ordering::Relaxed);
            }
            Err(error) => self.lost(0, error),
        }
        true
    }

    fn take_error(&mut self) -> Option<ExportError> {
        let error = self.error.take()?;
        Some(ExportError::io(self.path.as_deref(), error))
    }

    fn counters(&self) -> Arc<SinkCounters> {
        Arc::clone(&self.counters)
    }
}
