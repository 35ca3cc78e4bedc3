//! The JSON Lines exporter's background thread: it joins events to their spans, works out trace ids,
//! and writes one line per span, so that the recording threads never touch the file.

use std::collections::HashMap;
use std::io::{self, BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::time::Duration;

use instrument_core::SpanId;

use super::jsonl_format::{ExportedEvent, ExportedSpan, SpanAttributes, SpanStatus};
use super::record::{EventRecord, SpanRecord};

/// How long the writer sleeps when its queue is empty. Recording threads do not wake it (that would
/// cost them a system call per span); it is woken early only by a full queue or a flush.
pub(crate) const POLL: Duration = Duration::from_millis(10);

/// Spans the writer tracks as open at most (for trace ids and their events); past this, new spans
/// are exported without their events.
const MAX_OPEN: usize = 1 << 20;

/// Events kept per span at most; later ones are counted as dropped.
const MAX_EVENTS_PER_SPAN: usize = 10_000;

/// What recording threads send to the writer.
pub(crate) enum Message {
    /// A span started: lets the writer follow trace ids and keep the span's events.
    Start { id: SpanId, parent: Option<SpanId> },
    /// A span ended.
    End(SpanRecord),
    /// An event was emitted inside a span.
    Event(EventRecord),
    /// Write everything before this, flush the writer, and answer with the first error since the
    /// last flush.
    Flush(SyncSender<Option<io::Error>>),
}

/// Counters shared by the exporter and its writer.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) dropped: AtomicU64,
    pub(crate) written: AtomicU64,
}

/// A span the writer saw start and not yet end.
struct Open {
    trace: SpanId,
    events: Vec<ExportedEvent>,
}

/// The writer thread's state.
pub(crate) struct Writer<W: Write> {
    out: BufWriter<W>,
    open: HashMap<SpanId, Open>,
    counters: std::sync::Arc<Counters>,
    /// Lines written since the last flush of `out`.
    dirty: bool,
    /// The first write error since the last [`Message::Flush`].
    error: Option<io::Error>,
    line: Vec<u8>,
}

impl<W: Write> Writer<W> {
    pub(crate) fn new(out: W, counters: std::sync::Arc<Counters>) -> Self {
        Self {
            out: BufWriter::with_capacity(64 * 1024, out),
            open: HashMap::new(),
            counters,
            dirty: false,
            error: None,
            line: Vec::with_capacity(1024),
        }
    }

    /// Runs until every sender is gone, writing what arrives and flushing whenever the queue runs dry.
    pub(crate) fn run(mut self, queue: &Receiver<Message>) {
        loop {
            match queue.try_recv() {
                Ok(message) => self.handle(message),
                Err(TryRecvError::Empty) => {
                    self.flush();
                    std::thread::park_timeout(POLL);
                }
                Err(TryRecvError::Disconnected) => break,
            }
        }
        self.flush();
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::Start { id, parent } => self.start(id, parent),
            Message::End(record) => self.end(record),
            Message::Event(record) => self.event(record),
            Message::Flush(answer) => {
                self.flush();
                let _ = answer.send(self.error.take());
            }
        }
    }

    fn start(&mut self, id: SpanId, parent: Option<SpanId>) {
        if self.open.len() < MAX_OPEN {
            let trace = self.trace_of(id, parent);
            self.open.insert(
                id,
                Open {
                    trace,
                    events: Vec::new(),
                },
            );
        }
    }

    /// The span's trace: its parent's, when the writer follows the parent; else the parent itself;
    /// else, for a root, the span.
    fn trace_of(&self, id: SpanId, parent: Option<SpanId>) -> SpanId {
        match parent {
            None => id,
            Some(parent) => self.open.get(&parent).map_or(parent, |open| open.trace),
        }
    }

    fn event(&mut self, record: EventRecord) {
        // Events of spans this exporter does not follow are not its to export.
        let Some(open) = self.open.get_mut(&record.span_id) else {
            return;
        };
        if open.events.len() >= MAX_EVENTS_PER_SPAN {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        open.events.push(ExportedEvent {
            name: record.name.to_owned(),
            time_unix_nano: record.at.unix_nanos(),
            attributes: record.payload,
        });
    }

    fn end(&mut self, mut record: SpanRecord) {
        let (trace, events) = match self.open.remove(&record.id) {
            Some(open) => (open.trace, open.events),
            // Its start was lost to a full queue, or the open map was full.
            None => (self.trace_of(record.id, record.parent), Vec::new()),
        };
        let error = record.error().map(str::to_owned);
        let span = ExportedSpan {
            span_id: record.id.to_string(),
            parent_id: record.parent.map(|parent| parent.to_string()),
            name: record.id.name().to_owned(),
            trace_id: Some(trace.to_string()),
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
                args: record.take_args(),
                metadata: record.metadata(),
                tags: record.tags(),
            },
            events,
        };
        self.write(&span);
    }

    fn write(&mut self, span: &ExportedSpan) {
        self.line.clear();
        let written = serde_json::to_writer(&mut self.line, span)
            .map_err(io::Error::from)
            .and_then(|()| {
                self.line.push(b'\n');
                self.out.write_all(&self.line)
            });
        match written {
            Ok(()) => {
                self.dirty = true;
                self.counters.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                self.error.get_or_insert(error);
            }
        }
    }

    fn flush(&mut self) {
        if std::mem::take(&mut self.dirty)
            && let Err(error) = self.out.flush()
        {
            self.error.get_or_insert(error);
        }
    }
}
