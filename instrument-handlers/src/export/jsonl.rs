//! `JsonlExporter`: one JSON object per ended span, written by a background thread.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::thread::{JoinHandle, Thread};

use instrument_core::{Dispatcher, EventEnvelope, EventHandler, SpanEnd, SpanHandler, SpanStart};

use super::error::ExportError;
use super::jsonl_writer::{Counters, Message, Writer};
use super::record::{Args, EventRecord, SpanRecord, capture_args};
use crate::register::SpanAndEventHandler;

/// How many messages (span starts, span ends, events) a [`JsonlExporter`]'s queue holds unless told
/// otherwise.
pub const DEFAULT_QUEUE_CAPACITY: usize = 8192;

/// Writes every span it follows as one line of JSON ([`crate::export::ExportedSpan`]), with the
/// events emitted inside it, to a file or any `Write + Send`.
///
/// The recording thread only captures the span (its arguments at start, a small record at end) and
/// hands it to a background writer thread through a bounded queue: it never does I/O and never
/// blocks. When the queue is full the record is dropped and counted ([`JsonlExporter::dropped`]).
/// The writer batches what is queued and flushes whenever the queue runs dry, at most
/// a few milliseconds after a span ends; [`JsonlExporter::flush`] waits until everything recorded
/// before it is written, and `close` (called by `instrument::shutdown`) flushes too.
///
/// It is both a span handler and an event handler: [`JsonlExporter::register`] adds it as both.
/// Clones share one exporter. Events emitted outside any span, or inside spans this exporter does
/// not follow, are not exported.
///
/// ```
/// use instrument_handlers::export::{JsonlExporter, SpanStatus, read_jsonl};
///
/// let path = std::env::temp_dir().join(format!("instrument-doc-{}.jsonl", std::process::id()));
/// let exporter = JsonlExporter::create(&path)?;
/// let dispatcher = instrument_core::get_dispatcher("doc::jsonl_exporter");
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
/// # Ok::<(), instrument_handlers::export::ExportError>(())
/// ```
#[derive(Clone)]
pub struct JsonlExporter(Arc<Inner>);

/// Fields drop in order: the queue's sender first, so that the writer sees the queue close, then
/// the writer thread, which is joined.
struct Inner {
    queue: SyncSender<Message>,
    counters: Arc<Counters>,
    writer: WriterThread,
    /// The file written, for error messages; `None` for a caller's writer.
    path: Option<PathBuf>,
    capacity: usize,
}

struct WriterThread {
    thread: Thread,
    handle: Option<JoinHandle<()>>,
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        self.thread.unpark();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl JsonlExporter {
    /// An exporter writing to a new file at `path` (truncated if it exists), with a queue of
    /// [`DEFAULT_QUEUE_CAPACITY`].
    ///
    /// # Errors
    /// [`ExportError::Io`] when the file cannot be created.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, ExportError> {
        Self::create_with_capacity(path, DEFAULT_QUEUE_CAPACITY)
    }

    /// As [`JsonlExporter::create`], with a queue of `capacity` messages (at least one).
    ///
    /// # Errors
    /// [`ExportError::Io`] when the file cannot be created.
    pub fn create_with_capacity(
        path: impl AsRef<Path>,
        capacity: usize,
    ) -> Result<Self, ExportError> {
        let path = path.as_ref();
        let file = std::fs::File::create(path).map_err(|source| ExportError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self::spawn(file, capacity, Some(path.to_owned())))
    }

    /// An exporter writing to `writer`, with a queue of [`DEFAULT_QUEUE_CAPACITY`].
    pub fn new<W: Write + Send + 'static>(writer: W) -> Self {
        Self::with_capacity(writer, DEFAULT_QUEUE_CAPACITY)
    }

    /// An exporter writing to `writer`, with a queue of `capacity` messages (at least one). Each span
    /// takes two (its start and its end), each event one.
    pub fn with_capacity<W: Write + Send + 'static>(writer: W, capacity: usize) -> Self {
        Self::spawn(writer, capacity, None)
    }

    fn spawn<W: Write + Send + 'static>(writer: W, capacity: usize, path: Option<PathBuf>) -> Self {
        let capacity = capacity.max(1);
        let (queue, receiver) = mpsc::sync_channel(capacity);
        let counters = Arc::new(Counters::default());
        let writer = Writer::new(writer, Arc::clone(&counters));
        let handle = std::thread::Builder::new()
            .name("instrument-jsonl".to_owned())
            .spawn(move || writer.run(&receiver))
            .expect("instrument: cannot start the JSON Lines writer thread");
        Self(Arc::new(Inner {
            queue,
            counters,
            writer: WriterThread {
                thread: handle.thread().clone(),
                handle: Some(handle),
            },
            path,
            capacity,
        }))
    }

    /// Adds this exporter to `dispatcher` as both a span handler and an event handler.
    pub fn register(&self, dispatcher: &Dispatcher) {
        self.register_both(dispatcher);
    }

    /// How many spans and events were lost: the queue was full, a span had too many events, or
    /// writing failed.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.0.counters.dropped.load(Ordering::Relaxed)
    }

    /// How many spans were written (handed to the writer; [`JsonlExporter::flush`] pushes them out).
    #[must_use]
    pub fn written(&self) -> u64 {
        self.0.counters.written.load(Ordering::Relaxed)
    }

    /// How many messages the queue holds.
    #[must_use]
    pub fn queue_capacity(&self) -> usize {
        self.0.capacity
    }

    /// Blocks until everything recorded before this call is written and the writer flushed.
    ///
    /// # Errors
    /// The first write error since the last flush ([`ExportError::Io`] for a file,
    /// [`ExportError::Write`] for a caller's writer), or [`ExportError::WriterStopped`].
    pub fn flush(&self) -> Result<(), ExportError> {
        let (answer, answered) = mpsc::sync_channel(1);
        self.0
            .queue
            .send(Message::Flush(answer))
            .map_err(|_| ExportError::WriterStopped)?;
        self.0.writer.thread.unpark();
        match answered.recv() {
            Ok(None) => Ok(()),
            Ok(Some(error)) => Err(ExportError::io(self.0.path.as_deref(), error)),
            Err(_) => Err(ExportError::WriterStopped),
        }
    }

    /// Queues `message` without blocking; counts it as dropped if the queue is full.
    #[inline]
    fn send(&self, message: Message) {
        if let Err(error) = self.0.queue.try_send(message) {
            self.lost(error);
        }
    }

    #[cold]
    fn lost(&self, error: TrySendError<Message>) {
        let message = match error {
            TrySendError::Full(message) | TrySendError::Disconnected(message) => message,
        };
        // A lost start costs only the span's trace id and events, which the counters do not track.
        if !matches!(message, Message::Start { .. }) {
            self.0.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        // Wake the writer: it only polls when left alone.
        self.0.writer.thread.unpark();
    }

    fn close_now(&self) {
        if let Err(error) = self.flush() {
            eprintln!("instrument: the JSON Lines exporter could not write everything: {error}");
        }
    }
}

impl std::fmt::Debug for JsonlExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonlExporter")
            .field("path", &self.0.path)
            .field("queue_capacity", &self.0.capacity)
            .field("written", &self.written())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl SpanHandler for JsonlExporter {
    /// The span's arguments, captured at start while they can still be read.
    type Span = Args;

    #[inline]
    fn new_span(&self, start: &SpanStart<'_>) -> Option<Args> {
        self.send(Message::Start {
            id: start.id(),
            parent: start.parent_id(),
        });
        Some(capture_args(start.args()))
    }

    #[inline]
    fn prepare_to_exit_span(&self, args: Args, end: &SpanEnd<'_>) {
        self.send(Message::End(SpanRecord::exited(end, args)));
    }

    #[cold]
    fn prepare_to_drop_span(&self, args: Args, end: &SpanEnd<'_>) {
        self.send(Message::End(SpanRecord::dropped(end, args)));
    }

    fn close(&self) {
        self.close_now();
    }
}

impl EventHandler for JsonlExporter {
    fn handle(&self, event: &EventEnvelope<'_>) {
        if let Some(record) = EventRecord::new(event) {
            self.send(Message::Event(record));
        }
    }

    fn close(&self) {
        self.close_now();
    }
}
