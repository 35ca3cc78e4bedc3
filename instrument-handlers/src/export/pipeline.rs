//! The export pipeline: recording threads hand small records to one background thread through a
//! bounded queue; that thread assembles each span (joins its events to it) once and gives it to
//! every sink (a JSON Lines file, an OTLP receiver), which write or send in their own rhythm.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use instrument_core::{
    Dispatcher, EventEnvelope, EventHandler, SpanEnd, SpanHandler, SpanId, SpanStart,
};

use super::assemble::{Assembler, FinishedSpan};
use super::deadline::Deadline;
use super::error::ExportError;
use super::record::{Args, EventRecord, SpanRecord, capture_args};
use crate::register::SpanAndEventHandler;

/// Messages (span starts, span ends, events) the queue holds unless told otherwise.
pub const DEFAULT_QUEUE_CAPACITY: usize = 8192;

/// How long `close` (called by `instrument::shutdown`) waits for queued spans to be written or
/// sent.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the pipeline's thread sleeps when its queue is empty and no sink is due. Recording
/// threads do not wake it (that would cost them a system call per span); a full queue, a flush or
/// a shutdown does.
const POLL: Duration = Duration::from_millis(10);

/// Where finished spans go. A sink lives on the pipeline's thread.
pub(crate) trait Sink: Send {
    /// What the recording threads must capture for this sink.
    fn wants(&self) -> Wants;

    /// Takes a finished span: writes it, or keeps it for its batch.
    fn accept(&mut self, span: &FinishedSpan);

    /// Whether the sink wants to write or send now, because its batch is full.
    fn full(&self) -> bool {
        false
    }

    /// When the sink wants to write or send what it holds, if it holds anything.
    fn due(&self) -> Option<Instant>;

    /// Called once when the pipeline starts: a sink that does slow I/O starts its own thread
    /// here, with the deadline of the flushes under way, and sizes what it holds by the queue's.
    fn attach(
        &mut self,
        _deadline: &Arc<Deadline>,
        _queue_capacity: usize,
    ) -> Result<(), ExportError> {
        Ok(())
    }

    /// Writes or sends everything it holds. With `wait` (a caller's flush or shutdown), it waits
    /// until that is done or the pending flush's deadline has passed; without, it must not block
    /// the pipeline's thread on anything slow: the other sinks wait meanwhile. `false` when it
    /// waited and the deadline came first.
    fn flush(&mut self, deadline: &Deadline, wait: bool) -> bool;

    /// The first failure since the last call, if any.
    fn take_error(&mut self) -> Option<ExportError>;

    /// The sink's counters, shared with the pipeline's handles.
    fn counters(&self) -> Arc<SinkCounters>;
}

/// What recording threads capture beyond ids and times.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Wants {
    /// The span's return value.
    pub(crate) result: bool,
    /// Each event's payload as JSON.
    pub(crate) event_json: bool,
    /// Each built-in event's OpenInference attributes.
    pub(crate) event_otlp: bool,
}

impl Wants {
    /// What a sink writing [`crate::export::ExportedSpan`]s needs: the return value and each
    /// event's payload as JSON.
    pub(crate) const EXPORTED_SPAN: Self = Self {
        result: true,
        event_json: true,
        event_otlp: false,
    };

    fn or(self, other: Self) -> Self {
        Self {
            result: self.result || other.result,
            event_json: self.event_json || other.event_json,
            event_otlp: self.event_otlp || other.event_otlp,
        }
    }
}

/// One sink's counts of spans.
#[derive(Debug, Default)]
pub(crate) struct SinkCounters {
    /// Written, or accepted by the receiver.
    pub(crate) exported: AtomicU64,
    /// Lost in the sink: a write that failed, a batch that failed every try.
    pub(crate) dropped: AtomicU64,
}

/// What recording threads (and the pipeline's own methods) send to its thread.
pub(crate) enum Message {
    /// A span started: lets the thread collect its events.
    Start(SpanId),
    /// An event was emitted inside a span.
    Event(Box<EventRecord>),
    /// A span ended.
    End(Box<SpanRecord>),
    /// Write or send everything queued before this, then answer; stop afterwards when `stop`.
    Flush {
        answer: SyncSender<Option<ExportError>>,
        stop: bool,
        /// The caller's timeout, for the error when a sink did not finish in time.
        timeout: Duration,
    },
}

/// Counters and the flush deadline, shared by the pipeline's handles and its thread.
#[derive(Debug, Default)]
struct Shared {
    /// Spans lost before any sink saw them: the queue was full or the pipeline stopped.
    dropped_spans: AtomicU64,
    /// Events lost: the queue was full, or their span had too many.
    dropped_events: AtomicU64,
    deadline: Arc<Deadline>,
    /// Set by a recording thread that woke the pipeline's thread because the queue was full, so
    /// that only one of them pays for the wake-up until the thread has run.
    woken: AtomicBool,
    /// Set by a shutdown that could not queue its stop in time: the thread stops once its queue
    /// runs dry.
    stop_when_idle: AtomicBool,
}

/// A sink as the handles see it.
struct SinkInfo {
    name: &'static str,
    counters: Arc<SinkCounters>,
}

/// One export pipeline feeding one or more sinks; [`crate::export::JsonlExporter`] and
/// `OtlpExporter` (feature `otlp`) are pipelines with one sink each, and
/// [`ExportPipeline::builder`] makes one that writes JSON Lines and sends OTLP at once, with the
/// same trace ids, parents and times in both.
///
/// The recording thread only captures the span (its arguments as JSON at start, a small record at
/// end, each event's payload) and hands it to the pipeline's thread with `try_send` on a bounded
/// queue: it never writes lines or protobuf, never does I/O and never blocks. Sinks that talk to
/// the network do so on their own thread, so a slow backend does not hold up a file sink. When the queue is full, what does not
/// fit is dropped and counted ([`ExportPipeline::dropped_spans`]). It is both a span handler and
/// an event handler: [`ExportPipeline::register`] adds it as both. Clones share one pipeline.
///
/// ```
/// use std::time::Duration;
/// use instrument::handlers::export::{ExportPipeline, read_jsonl};
///
/// let path = std::env::temp_dir().join(format!("instrument-doc-pipeline-{}.jsonl", std::process::id()));
/// let pipeline = ExportPipeline::builder().jsonl_file(&path)?.build()?;
/// let dispatcher = instrument::get_dispatcher("doc::pipeline");
/// pipeline.register(dispatcher);
///
/// dispatcher.in_span("query", || dispatcher.in_span("retrieve", || ()));
/// pipeline.flush(Duration::from_secs(5))?;
/// assert_eq!(read_jsonl(&path)?.len(), 2);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), instrument::handlers::export::ExportError>(())
/// ```
#[derive(Clone)]
pub struct ExportPipeline(Arc<Inner>);

struct Inner {
    queue: SyncSender<Message>,
    shared: Arc<Shared>,
    worker: Thread,
    handle: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
    capacity: usize,
    wants: Wants,
    sinks: Vec<SinkInfo>,
}

/// The sinks and queue of an [`ExportPipeline`] to be built.
pub struct ExportPipelineBuilder {
    pub(crate) sinks: Vec<(&'static str, Box<dyn Sink>)>,
    capacity: usize,
}

impl std::fmt::Debug for ExportPipelineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportPipelineBuilder")
            .field(
                "sinks",
                &self.sinks.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
            )
            .field("queue_capacity", &self.capacity)
            .finish()
    }
}

impl ExportPipelineBuilder {
    /// Adds a sink.
    pub(crate) fn sink(mut self, name: &'static str, sink: Box<dyn Sink>) -> Self {
        self.sinks.push((name, sink));
        self
    }

    /// How many messages the queue holds (at least one): each span takes two, its start and its
    /// end, and each event one. When it is full, what does not fit is dropped and counted.
    #[must_use]
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Starts the pipeline's thread.
    ///
    /// # Errors
    /// [`ExportError::Thread`] when the thread cannot start.
    pub fn build(self) -> Result<ExportPipeline, ExportError> {
        let wants = self
            .sinks
            .iter()
            .fold(Wants::default(), |wants, (_, sink)| wants.or(sink.wants()));
        let infos = self
            .sinks
            .iter()
            .map(|(name, sink)| SinkInfo {
                name,
                counters: sink.counters(),
            })
            .collect();
        let shared = Arc::new(Shared::default());
        let mut sinks: Vec<Box<dyn Sink>> = self.sinks.into_iter().map(|(_, sink)| sink).collect();
        for sink in &mut sinks {
            sink.attach(&shared.deadline, self.capacity)?;
        }
        let worker = Worker {
            sinks,
            assembler: Assembler::default(),
            shared: Arc::clone(&shared),
        };
        let (queue, receiver) = mpsc::sync_channel(self.capacity);
        let handle = std::thread::Builder::new()
            .name("instrument-export".to_owned())
            .spawn(move || worker.run(&receiver))
            .map_err(ExportError::Thread)?;
        Ok(ExportPipeline(Arc::new(Inner {
            queue,
            shared,
            worker: handle.thread().clone(),
            handle: Mutex::new(Some(handle)),
            closed: AtomicBool::new(false),
            capacity: self.capacity,
            wants,
            sinks: infos,
        })))
    }
}

impl ExportPipeline {
    /// A pipeline with no sink yet and a queue of [`DEFAULT_QUEUE_CAPACITY`].
    #[must_use]
    pub fn builder() -> ExportPipelineBuilder {
        ExportPipelineBuilder {
            sinks: Vec::new(),
            capacity: DEFAULT_QUEUE_CAPACITY,
        }
    }

    /// Adds this pipeline to `dispatcher` as both a span handler and an event handler.
    pub fn register(&self, dispatcher: &Dispatcher) {
        self.register_both(dispatcher);
    }

    /// How many messages the queue holds.
    #[must_use]
    pub fn queue_capacity(&self) -> usize {
        self.0.capacity
    }

    /// Spans lost before any sink saw them: the queue was full, or the pipeline was shut down.
    #[must_use]
    pub fn dropped_spans(&self) -> u64 {
        self.0.shared.dropped_spans.load(Ordering::Relaxed)
    }

    /// Events lost: the queue was full, or their span had too many.
    #[must_use]
    pub fn dropped_events(&self) -> u64 {
        self.0.shared.dropped_events.load(Ordering::Relaxed)
    }

    /// Each sink's name (`"jsonl"`, `"otlp"`), with the spans it exported and the spans it lost
    /// itself (a failed write, a batch that failed every try), in the order they were added.
    #[must_use]
    pub fn sinks(&self) -> Vec<(&'static str, u64, u64)> {
        self.0
            .sinks
            .iter()
            .map(|sink| {
                (
                    sink.name,
                    sink.counters.exported.load(Ordering::Relaxed),
                    sink.counters.dropped.load(Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// Spans exported by the sink at `index` (in the order sinks were added).
    pub(crate) fn exported_by(&self, index: usize) -> u64 {
        self.0.sinks[index]
            .counters
            .exported
            .load(Ordering::Relaxed)
    }

    /// Spans lost before or inside the sink at `index`.
    pub(crate) fn dropped_by(&self, index: usize) -> u64 {
        self.dropped_spans() + self.0.sinks[index].counters.dropped.load(Ordering::Relaxed)
    }

    /// Waits until every span that ended before this call is written or sent (or given up on),
    /// for at most `timeout`. `Ok` does not mean nothing was lost: spans dropped because the
    /// queue was full are counted ([`ExportPipeline::dropped_spans`]), not reported here.
    ///
    /// # Errors
    /// [`ExportError::Timeout`] when that took longer than `timeout`; the first failure of a sink
    /// since the last flush ([`ExportError::Io`], [`ExportError::Write`], [`ExportError::Sink`]);
    /// [`ExportError::Stopped`] after a shutdown.
    pub fn flush(&self, timeout: Duration) -> Result<(), ExportError> {
        if self.0.closed.load(Ordering::Acquire) {
            return Err(ExportError::Stopped);
        }
        self.request(timeout, false)
    }

    /// Flushes as [`ExportPipeline::flush`] does, then stops the pipeline's thread: spans that
    /// end afterwards are dropped and counted. A second call does nothing.
    ///
    /// # Errors
    /// As [`ExportPipeline::flush`].
    pub fn shutdown(&self, timeout: Duration) -> Result<(), ExportError> {
        if self.0.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let result = self.request(timeout, true);
        if !matches!(result, Err(ExportError::Timeout(_))) {
            // The thread answered and is stopping (or has stopped): this join is short.
            let handle = self
                .0
                .handle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(handle) = handle {
                let _ = handle.join();
            }
        }
        result
    }

    /// Queues a flush and waits for its answer until `timeout` has passed.
    #[cold]
    fn request(&self, timeout: Duration, stop: bool) -> Result<(), ExportError> {
        let now = Instant::now();
        // A timeout too long to add is as good as a day.
        let deadline = now
            .checked_add(timeout)
            .unwrap_or_else(|| now + Duration::from_secs(86_400));
        let deadlines = &self.0.shared.deadline;
        deadlines.begin(deadline);
        let (answer, answered) = mpsc::sync_channel(1);
        let mut message = Message::Flush {
            answer,
            stop,
            timeout,
        };
        loop {
            match self.0.queue.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    self.0.worker.unpark();
                    std::thread::sleep(Duration::from_millis(1));
                    message = back;
                }
                Err(TrySendError::Full(_)) => {
                    if stop {
                        self.0.shared.stop_when_idle.store(true, Ordering::Release);
                    }
                    deadlines.end();
                    return Err(ExportError::Timeout(timeout));
                }
                Err(TrySendError::Disconnected(_)) => {
                    deadlines.end();
                    return Err(ExportError::Stopped);
                }
            }
        }
        self.0.worker.unpark();
        let left = deadline.saturating_duration_since(Instant::now());
        match answered.recv_timeout(left) {
            Ok(None) => Ok(()),
            Ok(Some(error)) => Err(error),
            Err(RecvTimeoutError::Timeout) => Err(ExportError::Timeout(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(ExportError::Stopped),
        }
    }

    /// Queues `message` without blocking; counts it if it does not fit.
    #[inline]
    fn send(&self, message: Message) {
        if let Err(error) = self.0.queue.try_send(message) {
            self.lost(error);
        }
    }

    #[cold]
    fn lost(&self, error: TrySendError<Message>) {
        let (TrySendError::Full(message) | TrySendError::Disconnected(message)) = error;
        let counter = match message {
            Message::End(_) => Some(&self.0.shared.dropped_spans),
            Message::Event(_) => Some(&self.0.shared.dropped_events),
            // A lost start costs the span only its events: its end carries everything else.
            Message::Start(_) | Message::Flush { .. } => None,
        };
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        // Wake the thread, which only polls when left alone; once until it has run.
        if !self.0.shared.woken.swap(true, Ordering::AcqRel) {
            self.0.worker.unpark();
        }
    }

    fn close_now(&self) {
        let sinks: Vec<_> = self.0.sinks.iter().map(|sink| sink.name).collect();
        if let Err(error) = self.shutdown(DEFAULT_CLOSE_TIMEOUT) {
            eprintln!(
                "instrument: the export pipeline ({}) did not finish: {error}",
                sinks.join(", ")
            );
        }
    }
}

impl std::fmt::Debug for ExportPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportPipeline")
            .field("sinks", &self.sinks())
            .field("queue_capacity", &self.0.capacity)
            .field("dropped_spans", &self.dropped_spans())
            .finish_non_exhaustive()
    }
}

/// Makes a type that holds an [`ExportPipeline`] in its field `pipeline` a span handler and an
/// event handler that hand everything to that pipeline: the exporters that are one-sink pipelines.
macro_rules! handlers_through_pipeline {
    ($exporter:ty) => {
        impl instrument_core::SpanHandler for $exporter {
            /// The span's arguments, captured at start while they can still be read.
            type Span = $crate::export::record::Args;

            #[inline]
            fn new_span(&self, start: &instrument_core::SpanStart<'_>) -> Option<Self::Span> {
                self.pipeline.new_span(start)
            }

            #[inline]
            fn prepare_to_exit_span(&self, args: Self::Span, end: &instrument_core::SpanEnd<'_>) {
                self.pipeline.prepare_to_exit_span(args, end);
            }

            #[cold]
            fn prepare_to_drop_span(&self, args: Self::Span, end: &instrument_core::SpanEnd<'_>) {
                self.pipeline.prepare_to_drop_span(args, end);
            }

            fn close(&self) {
                instrument_core::SpanHandler::close(&self.pipeline);
            }
        }

        impl instrument_core::EventHandler for $exporter {
            fn handle(&self, event: &instrument_core::EventEnvelope<'_>) {
                self.pipeline.handle(event);
            }

            fn close(&self) {
                instrument_core::EventHandler::close(&self.pipeline);
            }
        }
    };
}
pub(crate) use handlers_through_pipeline;

impl SpanHandler for ExportPipeline {
    /// The span's arguments, captured at start while they can still be read.
    type Span = Args;

    #[inline]
    fn new_span(&self, start: &SpanStart<'_>) -> Option<Args> {
        self.send(Message::Start(start.id()));
        Some(capture_args(start.args()))
    }

    #[inline]
    fn prepare_to_exit_span(&self, args: Args, end: &SpanEnd<'_>) {
        let record = SpanRecord::exited(end, args, self.0.wants.result);
        self.send(Message::End(Box::new(record)));
    }

    #[cold]
    fn prepare_to_drop_span(&self, args: Args, end: &SpanEnd<'_>) {
        self.send(Message::End(Box::new(SpanRecord::dropped(end, args))));
    }

    fn close(&self) {
        self.close_now();
    }
}

impl EventHandler for ExportPipeline {
    fn handle(&self, event: &EventEnvelope<'_>) {
        let wants = self.0.wants;
        if let Some(record) = EventRecord::new(event, wants.event_json, wants.event_otlp) {
            self.send(Message::Event(Box::new(record)));
        }
    }

    fn close(&self) {
        self.close_now();
    }
}

/// The pipeline's thread.
struct Worker {
    sinks: Vec<Box<dyn Sink>>,
    assembler: Assembler,
    shared: Arc<Shared>,
}

impl Worker {
    /// Runs until told to stop or every sender is gone, flushing every sink before it returns.
    fn run(mut self, queue: &Receiver<Message>) {
        loop {
            self.shared.woken.store(false, Ordering::Release);
            match queue.try_recv() {
                Ok(Message::Flush {
                    answer,
                    stop,
                    timeout,
                }) => {
                    let error = self.flush_all(Some(timeout));
                    let _ = answer.send(error);
                    self.shared.deadline.end();
                    if stop {
                        break;
                    }
                }
                Ok(message) => self.handle(message),
                Err(TryRecvError::Empty) => {
                    if self.shared.stop_when_idle.load(Ordering::Acquire) {
                        self.flush_all(None);
                        break;
                    }
                    self.flush_due();
                    std::thread::park_timeout(self.wait());
                }
                Err(TryRecvError::Disconnected) => {
                    self.flush_all(None);
                    return;
                }
            }
        }
        // Stopped: what arrived after the shutdown is not exported.
        while let Ok(message) = queue.try_recv() {
            match message {
                Message::End(_) => {
                    self.shared.dropped_spans.fetch_add(1, Ordering::Relaxed);
                }
                Message::Flush { answer, .. } => {
                    let _ = answer.send(None);
                    self.shared.deadline.end();
                }
                Message::Event(_) => {
                    self.shared.dropped_events.fetch_add(1, Ordering::Relaxed);
                }
                Message::Start(_) => {}
            }
        }
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::Start(id) => self.assembler.start(id),
            Message::Event(record) => {
                if !self.assembler.event(*record) {
                    self.shared.dropped_events.fetch_add(1, Ordering::Relaxed);
                }
            }
            Message::End(record) => {
                let span = self.assembler.end(*record);
                for sink in &mut self.sinks {
                    sink.accept(&span);
                    if sink.full() {
                        sink.flush(&self.shared.deadline, false);
                    }
                }
            }
            Message::Flush { .. } => {}
        }
    }

    /// Flushes the sinks whose time has come.
    fn flush_due(&mut self) {
        let now = Instant::now();
        for sink in &mut self.sinks {
            if sink.due().is_some_and(|due| due <= now) {
                sink.flush(&self.shared.deadline, false);
            }
        }
    }

    /// Flushes every sink, waiting for each until the pending flush's deadline: the first
    /// failure of any since the last flush, or a timeout when one did not finish in time.
    fn flush_all(&mut self, timeout: Option<Duration>) -> Option<ExportError> {
        let mut first = None;
        let mut finished = true;
        for sink in &mut self.sinks {
            finished &= sink.flush(&self.shared.deadline, true);
            if let Some(error) = sink.take_error() {
                first.get_or_insert(error);
            }
        }
        match timeout {
            Some(timeout) if !finished => Some(ExportError::Timeout(timeout)),
            _ => first,
        }
    }

    /// How long to sleep with an empty queue: until the first sink is due, at most `POLL`.
    fn wait(&self) -> Duration {
        let now = Instant::now();
        self.sinks
            .iter()
            .filter_map(|sink| sink.due())
            .map(|due| due.saturating_duration_since(now))
            .min()
            .map_or(POLL, |wait| wait.min(POLL))
    }
}
