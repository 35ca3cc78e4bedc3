//! `ChromeTraceExporter`: spans kept in memory, bounded, and written as a Chrome trace that
//! `ui.perfetto.dev` and `chrome://tracing` open.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use instrument_core::{
    Dispatcher, EventEnvelope, EventHandler, SpanEnd, SpanHandler, SpanStart, Timestamp,
};
use serde_json::{Map, Value, json};

use super::error::ExportError;
use super::record::{Args, EventRecord, SpanRecord, capture_args};
use super::thread_id;
use crate::register::SpanAndEventHandler;
use crate::thread_buffer::ThreadBuffers;

/// How many spans and events a [`ChromeTraceExporter`] keeps unless told otherwise.
pub const DEFAULT_CHROME_CAPACITY: usize = 100_000;

/// What the exporter keeps: a span with the thread it started on, or an event inside a span with the
/// thread it was emitted on.
enum Item {
    Span { tid: u32, record: SpanRecord },
    Instant { tid: u32, record: EventRecord },
}

/// Collects spans, and events emitted inside them, and writes them in the Chrome trace event format:
/// `{"traceEvents": [...], "displayTimeUnit": "ms"}`, one complete event (`"ph": "X"`) per span and
/// one instant event (`"ph": "i"`) per event, with the dispatcher as category and a small number
/// per OS thread as `tid` (the thread the span started on). Open the file in
/// [ui.perfetto.dev](https://ui.perfetto.dev) or `chrome://tracing`.
///
/// Recording appends to the recording thread's own buffer, without a lock; the JSON is made when
/// written. Times are microseconds from the earliest span or event written (`otherData.origin_unix_nano`
/// says when that was), which keeps them exact to the nanosecond.
///
/// It keeps at most [`ChromeTraceExporter::capacity`] spans and events: a trace is read from its
/// start, so once full it keeps what it has and counts what it turns away
/// ([`ChromeTraceExporter::dropped`]). It is both a span handler and an event handler:
/// [`ChromeTraceExporter::register`] adds it as both. Clones share one exporter.
///
/// ```
/// use instrument::handlers::export::ChromeTraceExporter;
///
/// let path = std::env::temp_dir().join(format!("instrument-doc-{}.trace.json", std::process::id()));
/// let exporter = ChromeTraceExporter::new();
/// let dispatcher = instrument::get_dispatcher("doc::chrome_exporter");
/// exporter.register(dispatcher);
///
/// dispatcher.in_span("query", || dispatcher.in_span("retrieve", || ()));
/// exporter.write_to(&path)?;
///
/// let trace: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
/// let spans: Vec<_> = trace["traceEvents"].as_array().unwrap().iter().filter(|e| e["ph"] == "X").collect();
/// assert_eq!(spans.len(), 2);
/// assert_eq!(spans[0]["name"], "query");
/// assert_eq!(spans[0]["cat"], "doc::chrome_exporter");
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), instrument::handlers::export::ExportError>(())
/// ```
#[derive(Clone)]
pub struct ChromeTraceExporter(Arc<Inner>);

struct Inner {
    items: ThreadBuffers<Item>,
    capacity: usize,
    /// Places taken; may run past `capacity` by the items turned away.
    taken: AtomicUsize,
    dropped: AtomicU64,
    /// Where `close` writes, if anywhere.
    path: Option<PathBuf>,
}

impl Default for ChromeTraceExporter {
    fn default() -> Self {
        Self::new()
    }
}

impl ChromeTraceExporter {
    /// An exporter that keeps [`DEFAULT_CHROME_CAPACITY`] spans and events and writes only when asked
    /// ([`ChromeTraceExporter::write_to`]).
    #[must_use]
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CHROME_CAPACITY)
    }

    /// An exporter that keeps at most `capacity` spans and events (at least one).
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self::build(capacity, None)
    }

    /// An exporter that also writes to `path` when closed (by `instrument::shutdown`).
    #[must_use]
    pub fn create(path: impl AsRef<Path>) -> Self {
        Self::create_with_capacity(path, DEFAULT_CHROME_CAPACITY)
    }

    /// As [`ChromeTraceExporter::create`], keeping at most `capacity` spans and events.
    #[must_use]
    pub fn create_with_capacity(path: impl AsRef<Path>, capacity: usize) -> Self {
        Self::build(capacity, Some(path.as_ref().to_owned()))
    }

    fn build(capacity: usize, path: Option<PathBuf>) -> Self {
        let capacity = capacity.max(1);
        Self(Arc::new(Inner {
            items: ThreadBuffers::new(0),
            capacity,
            taken: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            path,
        }))
    }

    /// Adds this exporter to `dispatcher` as both a span handler and an event handler.
    pub fn register(&self, dispatcher: &Dispatcher) {
        self.register_both(dispatcher);
    }

    /// How many spans and events it keeps at most.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.0.capacity
    }

    /// How many spans and events were turned away because it was full.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    /// How many spans and events it keeps now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.items.len()
    }

    /// Whether it keeps nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The trace as JSON: everything kept so far (which stays kept).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let buffers = self.0.items.lock_all();
        let items = buffers.iter().flat_map(|buffer| buffer.values().iter());
        trace_json(items)
    }

    /// Writes the trace to `out`.
    ///
    /// # Errors
    /// [`ExportError::Write`] when `out` fails.
    pub fn write(&self, out: impl Write) -> Result<(), ExportError> {
        write_json(out, &self.to_json()).map_err(|source| ExportError::Write { source })
    }

    /// Writes the trace to a new file at `path` (truncated if it exists).
    ///
    /// # Errors
    /// [`ExportError::Io`] when the file cannot be created or written.
    pub fn write_to(&self, path: impl AsRef<Path>) -> Result<(), ExportError> {
        let path = path.as_ref();
        let trace = self.to_json();
        std::fs::File::create(path)
            .and_then(|file| write_json(file, &trace))
            .map_err(|source| ExportError::Io {
                path: path.to_owned(),
                source,
            })
    }

    /// Keeps `item` if there is room; the hot path.
    #[inline]
    fn keep(&self, item: Item) {
        if self.0.taken.fetch_add(1, Ordering::Relaxed) < self.0.capacity {
            self.0.items.push(item);
        } else {
            self.turn_away();
        }
    }

    #[cold]
    fn turn_away(&self) {
        self.0.dropped.fetch_add(1, Ordering::Relaxed);
    }

    fn close_now(&self) {
        if let Some(path) = &self.0.path
            && let Err(error) = self.write_to(path)
        {
            eprintln!("instrument: the Chrome trace exporter could not write: {error}");
        }
    }
}

impl std::fmt::Debug for ChromeTraceExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChromeTraceExporter")
            .field("path", &self.0.path)
            .field("capacity", &self.0.capacity)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

fn write_json(out: impl Write, trace: &Value) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(out);
    serde_json::to_writer(&mut out, trace)?;
    out.flush()
}

/// The Chrome trace of `items`, earliest first.
fn trace_json<'a>(items: impl Iterator<Item = &'a Item>) -> Value {
    let items: Vec<&Item> = items.collect();
    let origin = items
        .iter()
        .map(|item| match item {
            Item::Span { record, .. } => record.start,
            Item::Instant { record, .. } => record.at,
        })
        .min()
        .unwrap_or_else(Timestamp::now);
    let pid = std::process::id();
    let mut tids = BTreeSet::new();
    let mut events: Vec<(Timestamp, Value)> = items
        .iter()
        .map(|item| match item {
            Item::Span { tid, record } => {
                tids.insert(*tid);
                (record.start, span_event(record, *tid, pid, origin))
            }
            Item::Instant { tid, record } => {
                tids.insert(*tid);
                (record.at, instant_event(record, *tid, pid, origin))
            }
        })
        .collect();
    events.sort_by_key(|(at, _)| *at);
    let mut trace_events: Vec<Value> = thread_id::names(&tids)
        .into_iter()
        .map(|(tid, name)| {
            json!({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}})
        })
        .collect();
    trace_events.extend(events.into_iter().map(|(_, event)| event));
    json!({
        "traceEvents": trace_events,
        "displayTimeUnit": "ms",
        "otherData": {"origin_unix_nano": origin.unix_nanos().to_string()},
    })
}

/// Microseconds from `origin` to `at`.
fn micros(origin: Timestamp, at: Timestamp) -> f64 {
    nanos_to_micros(at.duration_since(origin).as_nanos())
}

#[allow(clippy::cast_precision_loss)] // exact below 2^53 ns, about 104 days
fn nanos_to_micros(nanos: u128) -> f64 {
    nanos as f64 / 1000.0
}

fn span_event(record: &SpanRecord, tid: u32, pid: u32, origin: Timestamp) -> Value {
    let mut args = Map::new();
    args.insert("span_id".into(), Value::String(record.id.to_string()));
    args.insert("trace_id".into(), Value::String(record.trace_id_hex()));
    if let Some(parent) = record.parent {
        args.insert("parent_id".into(), Value::String(parent.to_string()));
    }
    if let Some(captured) = &record.args {
        args.insert("args".into(), Value::Object((**captured).clone()));
    }
    let metadata = record.metadata();
    if !metadata.is_empty() {
        args.insert("metadata".into(), Value::Object(metadata));
    }
    let tags = record.tags();
    if !tags.is_empty() {
        args.insert("tags".into(), Value::Object(tags));
    }
    if let Some(error) = record.error() {
        args.insert("error".into(), Value::String(error.to_owned()));
    }
    json!({
        "name": record.id.name(),
        "cat": record.dispatcher,
        "ph": "X",
        "ts": micros(origin, record.start),
        "dur": nanos_to_micros(record.end.duration_since(record.start).as_nanos()),
        "pid": pid,
        "tid": tid,
        "args": args,
    })
}

fn instant_event(record: &EventRecord, tid: u32, pid: u32, origin: Timestamp) -> Value {
    json!({
        "name": record.name,
        "cat": record.dispatcher,
        "ph": "i",
        "s": "t",
        "ts": micros(origin, record.at),
        "pid": pid,
        "tid": tid,
        "args": {"span_id": record.span_id.to_string(), "event": record.payload},
    })
}

/// A span's state while open: the thread it started on and its arguments.
pub struct ChromeSpan {
    tid: u32,
    args: Args,
}

impl std::fmt::Debug for ChromeSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChromeSpan")
            .field("tid", &self.tid)
            .finish_non_exhaustive()
    }
}

impl SpanHandler for ChromeTraceExporter {
    type Span = ChromeSpan;

    #[inline]
    fn new_span(&self, start: &SpanStart<'_>) -> Option<ChromeSpan> {
        Some(ChromeSpan {
            tid: thread_id::current(),
            args: capture_args(start.args()),
        })
    }

    #[inline]
    fn prepare_to_exit_span(&self, span: ChromeSpan, end: &SpanEnd<'_>) {
        self.keep(Item::Span {
            tid: span.tid,
            record: SpanRecord::exited(end, span.args, false),
        });
    }

    #[cold]
    fn prepare_to_drop_span(&self, span: ChromeSpan, end: &SpanEnd<'_>) {
        self.keep(Item::Span {
            tid: span.tid,
            record: SpanRecord::dropped(end, span.args),
        });
    }

    fn close(&self) {
        self.close_now();
    }
}

impl EventHandler for ChromeTraceExporter {
    fn handle(&self, event: &EventEnvelope<'_>) {
        if let Some(record) = EventRecord::new(event, true, false) {
            self.keep(Item::Instant {
                tid: thread_id::current(),
                record,
            });
        }
    }

    fn close(&self) {
        self.close_now();
    }
}
