//! `SimpleSpanHandler`: keeps every ended span, with its parent, times, metadata and drop error.
//!
//! It is a batched handler: the core records the spans, and the handler stores them a batch at a
//! time, keeping only `Copy` data (the [`SpanId`]s and the two [`Timestamp`]s) per span;
//! wall-clock times, JSON maps and strings are made only when the spans are read.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use instrument_core::{AnySpanHandler, BatchSpanHandler, Dispatcher, EndedSpan, SpanId, Timestamp};
use serde_json::{Map, Value};

use crate::thread_buffer::{ThreadBuffers, ThreadValues};

/// How far above the capacity the buffers may grow before they are trimmed back to it: a
/// fraction of the capacity, so that trimming (which locks every buffer) is rare. Every read trims
/// first, so readers never see more than the capacity, and the spans evicted are always the ones
/// that ended first.
fn slack(capacity: usize) -> usize {
    (capacity / 8).max(1024)
}

/// How many spans a [`SimpleSpanHandler`] keeps unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// One ended span, as [`SimpleSpanHandler`] reports it (LlamaIndex's `SimpleSpan`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SimpleSpan {
    /// The span's id; its text form is `"{name}-{uuid}"`.
    pub id: SpanId,
    /// The span that was current when this one started.
    pub parent_id: Option<SpanId>,
    /// The span's name (the function's name, or `Type.method`).
    pub name: &'static str,
    /// Wall-clock start time.
    pub start_time: DateTime<Utc>,
    /// Wall-clock end time.
    pub end_time: DateTime<Utc>,
    /// How long the span was open, in seconds.
    pub duration: f64,
    /// What the span recorded with `current_span().record(..)`, plus `"error"` if it was dropped.
    pub metadata: Map<String, Value>,
    /// Whether the span was dropped (error, panic, cancellation, shutdown) rather than exited.
    pub dropped: bool,
}

impl SimpleSpan {
    /// How long the span was open, to the nanosecond.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        (self.end_time - self.start_time)
            .to_std()
            .unwrap_or(Duration::ZERO)
    }

    /// The drop error text, if the span was dropped.
    #[must_use]
    pub fn error(&self) -> Option<&str> {
        if self.dropped {
            self.metadata.get("error").and_then(Value::as_str)
        } else {
            None
        }
    }
}

/// What a span left behind besides its ids and times; absent for most spans.
#[derive(Debug, Clone)]
struct Extra {
    metadata: Box<[(Cow<'static, str>, Value)]>,
    /// The drop error; `Some` exactly when the span was dropped.
    error: Option<Box<str>>,
}

/// A span as stored: `Copy` data plus an optional box, no text and no wall-clock conversion.
#[derive(Debug, Clone)]
struct Record {
    id: SpanId,
    parent: Option<SpanId>,
    start: Timestamp,
    end: Timestamp,
    extra: Option<Box<Extra>>,
}

impl Record {
    /// What the handler keeps of an ended span.
    #[inline]
    fn of(span: &EndedSpan) -> Self {
        let extra = match (span.error(), span.metadata()) {
            (None, []) => None,
            (error, metadata) => Some(Box::new(Extra {
                metadata: metadata.into(),
                error: error.map(Into::into),
            })),
        };
        Self {
            id: span.id(),
            parent: span.parent_id(),
            start: span.start(),
            end: span.end(),
            extra,
        }
    }

    fn to_span(&self) -> SimpleSpan {
        let mut metadata = Map::new();
        let mut dropped = false;
        if let Some(extra) = &self.extra {
            for (key, value) in &extra.metadata {
                metadata.insert(key.clone().into_owned(), value.clone());
            }
            if let Some(error) = &extra.error {
                dropped = true;
                metadata.insert("error".to_owned(), Value::String(error.to_string()));
            }
        }
        SimpleSpan {
            id: self.id,
            parent_id: self.parent,
            name: self.id.name(),
            start_time: self.start.to_utc(),
            end_time: self.end.to_utc(),
            duration: self.end.duration_since(self.start).as_secs_f64(),
            metadata,
            dropped,
        }
    }

    fn is_dropped(&self) -> bool {
        self.extra.as_ref().is_some_and(|e| e.error.is_some())
    }
}

/// A span handler that keeps every ended span, for tests, debugging and printing trace trees
/// (LlamaIndex's `SimpleSpanHandler`).
///
/// It is a [`BatchSpanHandler`]: the core records each span (id, parent, both timestamps, and
/// the error and metadata when there are any) and hands the handler a batch at a time, so that
/// a span costs no call into the handler. A batch goes to the delivering thread's own buffer,
/// under a lock no other recording thread takes, so that threads do not contend. Every read
/// first [flushes](instrument_core::flush) the spans that have ended on any thread, so readers
/// see them all. Text and wall-clock times are made only when you read.
///
/// It keeps at most [`SimpleSpanHandler::capacity`] spans (by default [`DEFAULT_CAPACITY`]) when
/// read, and [`SimpleSpanHandler::evicted`] counts the spans it let go. Every read first trims
/// to the capacity across all threads, the spans that ended first going first. Between reads,
/// storage may run up to an eighth over the capacity; past that, the delivering thread drops its
/// own oldest spans.
///
/// ```
/// use instrument::handlers::SimpleSpanHandler;
///
/// let dispatcher = instrument::get_dispatcher("doc::simple");
/// let handler = dispatcher.add_span_handler(SimpleSpanHandler::default());
/// dispatcher.in_span("step", || ());
///
/// let spans = handler.completed();
/// assert_eq!(spans.len(), 1);
/// assert_eq!(spans[0].name, "step");
/// assert!(!spans[0].dropped);
/// assert!(handler.format_trace_trees().starts_with("step-"));
/// ```
pub struct SimpleSpanHandler {
    buffers: ThreadBuffers<Record>,
    capacity: usize,
    /// `capacity` plus [`slack`]: the total above which a recording thread trims.
    high_water: usize,
    evicted: AtomicU64,
}

impl Default for SimpleSpanHandler {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl SimpleSpanHandler {
    /// A handler that keeps [`DEFAULT_CAPACITY`] spans.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A handler that keeps at most `capacity` spans (at least one), evicting the oldest.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            // Room to keep every emptied chunk: a drain gives all the buffers' memory back to
            // the refill that follows.
            buffers: ThreadBuffers::new(capacity.saturating_add(slack(capacity))),
            capacity,
            high_water: capacity.saturating_add(slack(capacity)),
            evicted: AtomicU64::new(0),
        }
    }

    /// How many spans this handler keeps at most.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many spans were evicted to stay within the capacity, since the handler was made.
    #[must_use]
    pub fn evicted(&self) -> u64 {
        drop(self.lock_all());
        self.evicted.load(Ordering::Relaxed)
    }

    /// How many spans are kept now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock_all().iter().map(|b| b.values().len()).sum()
    }

    /// Whether no span is kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of every span kept, exited and dropped, ordered by start time.
    #[must_use]
    pub fn completed(&self) -> Vec<SimpleSpan> {
        self.snapshot(|_| true)
    }

    /// A copy of the spans kept that exited normally, ordered by start time (LlamaIndex's
    /// `completed_spans`, which holds the dropped ones apart).
    #[must_use]
    pub fn completed_spans(&self) -> Vec<SimpleSpan> {
        self.snapshot(|record| !record.is_dropped())
    }

    /// A copy of the spans kept that were dropped (error, panic, cancellation, shutdown), ordered
    /// by start time (LlamaIndex's `dropped_spans`).
    #[must_use]
    pub fn dropped_spans(&self) -> Vec<SimpleSpan> {
        self.snapshot(Record::is_dropped)
    }

    /// Copies the records that pass `keep` under the locks, then converts them without the locks,
    /// so that recording threads wait only for the copy.
    fn snapshot(&self, keep: impl Fn(&Record) -> bool) -> Vec<SimpleSpan> {
        let mut records: Vec<Record> = {
            let buffers = self.lock_all();
            buffers
                .iter()
                .flat_map(|b| b.values().iter())
                .filter(|r| keep(r))
                .cloned()
                .collect()
        };
        records.sort_by_key(|r| r.start);
        records.iter().map(Record::to_span).collect()
    }

    /// Takes every span kept (exited and dropped), ordered by start time, leaving the handler
    /// empty. The eviction count is kept.
    #[must_use]
    pub fn drain(&self) -> Vec<SimpleSpan> {
        let mut taken = self.take_records();
        taken.sort_by_key(|r| r.start);
        taken.iter().map(Record::to_span).collect()
    }

    /// Forgets every span kept. The eviction count is kept.
    pub fn clear(&self) {
        drop(self.take_records());
    }

    fn take_records(&self) -> Vec<Record> {
        let mut buffers = self.lock_all();
        let mut taken = Vec::new();
        for buffer in &mut buffers {
            buffer.take_all(&mut taken);
        }
        taken
    }

    /// Stores what the handler keeps of a batch, in the delivering thread's own buffer.
    fn store<S>(&self, items: &[S], make: impl Fn(&S) -> Record) {
        self.buffers.extend_own(items, make);
        self.enforce_capacity();
    }

    /// Trims the buffers back to the capacity if together they passed the high-water mark: first
    /// from this thread's own oldest spans, under its own lock only, so that recording threads do not
    /// stall each other; then, if this thread holds too few, across all threads, oldest first.
    #[cold]
    fn enforce_capacity(&self) {
        let total = self.buffers.len();
        if total <= self.high_water {
            return;
        }
        let excess = total - self.capacity;
        let trimmed = self.buffers.trim_own(excess);
        self.evicted.fetch_add(trimmed as u64, Ordering::Relaxed);
        if trimmed < excess {
            drop(self.lock_all());
        }
    }

    /// Locks every thread's buffer, after delivering every span that has ended, evicts down to
    /// the capacity, and returns the guards.
    fn lock_all(&self) -> Vec<ThreadValues<'_, Record>> {
        instrument_core::flush();
        let mut buffers = self.buffers.lock_all();
        let total: usize = buffers.iter().map(|b| b.values().len()).sum();
        if total > self.capacity {
            let excess = total - self.capacity;
            evict_oldest(&mut buffers, excess);
            self.evicted.fetch_add(excess as u64, Ordering::Relaxed);
        }
        buffers
    }
}

impl std::fmt::Debug for SimpleSpanHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimpleSpanHandler")
            .field("capacity", &self.capacity)
            .field("evicted", &self.evicted)
            .finish_non_exhaustive()
    }
}

/// Removes the `count` records that ended first across all buffers. Each buffer is in push order,
/// which is end order for the thread that owns it: a merge over the buffers' fronts counts how many
/// to take from each, then each drops that many at once.
fn evict_oldest(buffers: &mut [ThreadValues<'_, Record>], count: usize) {
    let mut take = vec![0usize; buffers.len()];
    {
        let mut fronts: Vec<_> = buffers
            .iter()
            .map(|b| b.values().iter().peekable())
            .collect();
        for _ in 0..count {
            let oldest = fronts
                .iter_mut()
                .enumerate()
                .filter_map(|(i, front)| front.peek().map(|r| (r.end, i)))
                .min();
            let Some((_, i)) = oldest else { break };
            fronts[i].next();
            take[i] += 1;
        }
    }
    for (buffer, count) in buffers.iter_mut().zip(take) {
        buffer.drop_front(count);
    }
}

impl BatchSpanHandler for SimpleSpanHandler {
    fn handle_batch(&self, spans: &[EndedSpan]) {
        self.store(spans, Record::of);
    }
}

/// `add_span_handler` takes it as the batched handler it is.
impl AnySpanHandler for SimpleSpanHandler {
    fn add_to(handler: Self, dispatcher: &Dispatcher) -> &'static Self {
        dispatcher.add_batch_span_handler(handler)
    }

    fn add_shared_to(handler: Arc<Self>, dispatcher: &Dispatcher) {
        dispatcher.add_shared_batch_span_handler(handler);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &'static str, start: Timestamp, end: Timestamp) -> Record {
        Record {
            id: SpanId::new(name),
            parent: None,
            start,
            end,
            extra: None,
        }
    }

    #[test]
    fn records_are_small() {
        assert!(size_of::<Record>() <= 112, "{}", size_of::<Record>());
    }

    #[test]
    fn handler_is_send_and_sync() {
        fn check<T: Send + Sync + Default + 'static>() {}
        check::<SimpleSpanHandler>();
    }

    #[test]
    fn eviction_picks_oldest_end_across_threads() {
        let handler = std::sync::Arc::new(SimpleSpanHandler::with_capacity(2));
        let t0 = Timestamp::now();
        let first = Timestamp::now();
        std::thread::sleep(Duration::from_millis(1));
        let second = Timestamp::now();
        std::thread::sleep(Duration::from_millis(1));
        let third = Timestamp::now();
        handler.store(&[record("a1", t0, first)], Record::clone);
        let other = std::sync::Arc::clone(&handler);
        std::thread::spawn(move || other.store(&[record("b1", t0, second)], Record::clone))
            .join()
            .unwrap();
        handler.store(&[record("a2", t0, third)], Record::clone);
        let mut names: Vec<_> = handler.completed().iter().map(|s| s.name).collect();
        assert_eq!(handler.evicted(), 1);
        names.sort_unstable();
        assert_eq!(names, ["a2", "b1"]);
    }

    #[test]
    fn to_span_adds_error_and_metadata() {
        let start = Timestamp::now();
        let mut r = record("r", start, start);
        r.extra = Some(Box::new(Extra {
            metadata: vec![(Cow::Borrowed("k"), Value::from(1))].into(),
            error: Some("boom".into()),
        }));
        let span = r.to_span();
        assert!(span.dropped);
        assert_eq!(span.error(), Some("boom"));
        assert_eq!(span.metadata["k"], Value::from(1));
        assert_eq!(span.elapsed(), Duration::ZERO);
        assert!(span.duration.abs() < f64::EPSILON);
    }

    #[test]
    fn buffers_stay_near_capacity_between_reads() {
        let dispatcher = instrument_core::get_dispatcher("handlers_simple_unit::bounded");
        let handler = dispatcher.add_span_handler(SimpleSpanHandler::with_capacity(10));
        for _ in 0..20_000 {
            dispatcher.in_span("s", || ());
        }
        let held = handler.buffers.len();
        assert!(held <= handler.high_water, "{held}");
        assert_eq!(handler.len(), 10);
        assert_eq!(handler.evicted(), 19_990);
    }

    #[test]
    fn capacity_is_at_least_one() {
        assert_eq!(SimpleSpanHandler::with_capacity(0).capacity(), 1);
        assert_eq!(SimpleSpanHandler::default().capacity(), DEFAULT_CAPACITY);
    }
}
