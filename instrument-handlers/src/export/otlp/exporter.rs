//! `OtlpExporter`: the handle recording threads call, and the methods that flush and stop it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use instrument_core::{
    Context, Dispatcher, EventEnvelope, EventHandler, REMOTE_SPAN_NAME, SpanEnd, SpanHandler,
    SpanStart,
};

use super::config::OtlpConfig;
use super::encode;
use super::error::OtlpError;
use super::events::event_attrs;
use super::message::{EndRecord, Message};
use super::retry::Sending;
use super::transport::{Transport, TransportConfig};
use super::worker::{Shared, Worker};
use crate::capture::{Args, capture_args};
use crate::register::SpanAndEventHandler;

/// How long `close` (called by `instrument::shutdown`) waits for queued spans to be sent.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends every span it follows to an OTLP/HTTP receiver (Arize Phoenix, an OpenTelemetry
/// collector) as protobuf, with OpenInference attributes from the events emitted inside it.
///
/// The recording thread only captures the span (its arguments at start, a small record at end, the
/// attributes of each built-in event) and hands it to the exporter's thread through a bounded queue
/// with `try_send`: it never encodes, never does I/O and never blocks. When the queue is full, what
/// does not fit is dropped and counted ([`OtlpExporter::dropped_spans`]). The exporter's thread
/// sends a batch when it holds `max_batch_size` spans or its oldest span has waited `max_delay`,
/// and retries a failed request with exponential backoff, a bounded number of times; while it
/// retries the queue fills, so a backend that is down costs the traced code dropped spans, not
/// time.
///
/// It is both a span handler and an event handler: [`OtlpExporter::register`] adds it as both.
/// Clones share one exporter. [`OtlpExporter::flush`] and [`OtlpExporter::shutdown`] wait for what
/// was queued to be sent, within a timeout; `close`, which `instrument::shutdown` calls, shuts down
/// with [`DEFAULT_CLOSE_TIMEOUT`].
///
/// ```no_run
/// use std::time::Duration;
/// use instrument_handlers::export::otlp::OtlpExporter;
///
/// // Phoenix listens for OTLP/HTTP on port 6006.
/// let exporter = OtlpExporter::builder("http://127.0.0.1:6006")
///     .service_name("rag-server")
///     .project_name("rag")
///     .build()?;
/// let dispatcher = instrument_core::get_dispatcher("doc::otlp");
/// exporter.register(dispatcher);
///
/// dispatcher.in_span("query", || dispatcher.in_span("retrieve", || ()));
/// exporter.shutdown(Duration::from_secs(5))?;
/// assert_eq!(exporter.exported_spans(), 2);
/// # Ok::<(), instrument_handlers::export::otlp::OtlpError>(())
/// ```
#[derive(Clone)]
pub struct OtlpExporter(Arc<Inner>);

struct Inner {
    queue: SyncSender<Message>,
    shared: Arc<Shared>,
    worker: Thread,
    handle: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
    url: String,
    capacity: usize,
}

impl OtlpExporter {
    /// An exporter with the default settings, sending to `endpoint` (`http://host:port`; the
    /// request goes to `{endpoint}/v1/traces`).
    ///
    /// # Errors
    /// As [`OtlpConfig::build`].
    pub fn new(endpoint: impl AsRef<str>) -> Result<Self, OtlpError> {
        OtlpConfig::new(endpoint).build()
    }

    /// Settings to adjust before [`OtlpConfig::build`] starts the exporter.
    #[must_use]
    pub fn builder(endpoint: impl AsRef<str>) -> OtlpConfig {
        OtlpConfig::new(endpoint)
    }

    /// An exporter configured by the `OTEL_*` environment variables ([`OtlpConfig::from_env`]), or
    /// `None` when `OTEL_SDK_DISABLED=true`.
    ///
    /// # Errors
    /// As [`OtlpConfig::from_env`] and [`OtlpConfig::build`].
    pub fn from_env() -> Result<Option<Self>, OtlpError> {
        let config = OtlpConfig::from_env()?;
        if config.is_disabled() {
            return Ok(None);
        }
        config.build().map(Some)
    }

    pub(crate) fn start(config: OtlpConfig) -> Result<Self, OtlpError> {
        let transport = Transport::new(&TransportConfig {
            url: &config.url,
            headers: &config.headers,
            compression: config.compression,
            timeout: config.timeout,
            ca_file: config.ca_file.as_deref(),
            client_cert: config
                .client_cert
                .as_ref()
                .map(|(cert, key)| (cert.as_path(), key.as_path())),
        })
        .map_err(|reason| OtlpError::Endpoint {
            endpoint: config.url.clone(),
            reason,
        })?;
        let url = transport.url().to_owned();
        let shared = Arc::new(Shared::default());
        let worker = Worker::new(
            Sending {
                transport,
                initial_backoff: config.initial_backoff,
                max_backoff: config.max_backoff,
                max_elapsed: config.max_elapsed,
            },
            encode::resource(&config.service_name, &config.project_name, &config.resource),
            Arc::clone(&shared),
            config.max_batch_size,
            config.max_delay,
        );
        let (queue, receiver) = mpsc::sync_channel(config.queue_capacity);
        let handle = std::thread::Builder::new()
            .name("instrument-otlp".to_owned())
            .spawn(move || worker.run(&receiver))
            .map_err(OtlpError::Thread)?;
        Ok(Self(Arc::new(Inner {
            queue,
            shared,
            worker: handle.thread().clone(),
            handle: Mutex::new(Some(handle)),
            closed: AtomicBool::new(false),
            url,
            capacity: config.queue_capacity,
        })))
    }

    /// Adds this exporter to `dispatcher` as both a span handler and an event handler.
    pub fn register(&self, dispatcher: &Dispatcher) {
        self.register_both(dispatcher);
    }

    /// How many spans were lost: the queue was full, the exporter was shut down, or their batch
    /// failed every try or was refused.
    #[must_use]
    pub fn dropped_spans(&self) -> u64 {
        self.0.shared.dropped_spans.load(Ordering::Relaxed)
    }

    /// How many events were lost: the queue was full, or their span had too many.
    #[must_use]
    pub fn dropped_events(&self) -> u64 {
        self.0.shared.dropped_events.load(Ordering::Relaxed)
    }

    /// How many spans the receiver accepted.
    #[must_use]
    pub fn exported_spans(&self) -> u64 {
        self.0.shared.exported_spans.load(Ordering::Relaxed)
    }

    /// The URL requests go to.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.0.url
    }

    /// How many messages the queue holds.
    #[must_use]
    pub fn queue_capacity(&self) -> usize {
        self.0.capacity
    }

    /// Waits until every span that ended before this call is sent (or given up on), for at most
    /// `timeout`. Retries still under way when the time is up stop at once.
    ///
    /// # Errors
    /// [`OtlpError::Timeout`] when that took longer than `timeout`, [`OtlpError::Export`] when a
    /// batch failed since the last flush, [`OtlpError::Stopped`] after a shutdown.
    pub fn flush(&self, timeout: Duration) -> Result<(), OtlpError> {
        if self.0.closed.load(Ordering::Acquire) {
            return Err(OtlpError::Stopped);
        }
        self.request(timeout, false)
    }

    /// Flushes as [`OtlpExporter::flush`] does, then stops the exporter's thread: spans that end
    /// afterwards are dropped and counted. A second call does nothing.
    ///
    /// # Errors
    /// As [`OtlpExporter::flush`].
    pub fn shutdown(&self, timeout: Duration) -> Result<(), OtlpError> {
        if self.0.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let result = self.request(timeout, true);
        if !matches!(result, Err(OtlpError::Timeout(_))) {
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
    fn request(&self, timeout: Duration, stop: bool) -> Result<(), OtlpError> {
        let deadline = Instant::now() + timeout;
        let deadlines = &self.0.shared.deadline;
        deadlines.begin(deadline);
        let (answer, answered) = mpsc::sync_channel(1);
        let mut message = Message::Flush { answer, stop };
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
                    return Err(OtlpError::Timeout(timeout));
                }
                Err(TrySendError::Disconnected(_)) => {
                    deadlines.end();
                    return Err(OtlpError::Stopped);
                }
            }
        }
        self.0.worker.unpark();
        let left = deadline.saturating_duration_since(Instant::now());
        match answered.recv_timeout(left) {
            Ok(None) => Ok(()),
            Ok(Some(error)) => Err(OtlpError::Export(error)),
            Err(RecvTimeoutError::Timeout) => Err(OtlpError::Timeout(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(OtlpError::Stopped),
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
            Message::End(_) => &self.0.shared.dropped_spans,
            Message::Event { .. } => &self.0.shared.dropped_events,
            // A lost start costs the span its events, and its children their trace if it is a
            // root; the span itself is still sent when its end fits.
            Message::Start { .. } | Message::Flush { .. } => return self.0.worker.unpark(),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        // Wake the worker: it only polls when left alone.
        self.0.worker.unpark();
    }

    fn close_now(&self) {
        if let Err(error) = self.shutdown(DEFAULT_CLOSE_TIMEOUT) {
            eprintln!(
                "instrument: the OTLP exporter to {} did not send everything: {error}",
                self.0.url
            );
        }
    }
}

impl std::fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("url", &self.0.url)
            .field("queue_capacity", &self.0.capacity)
            .field("exported_spans", &self.exported_spans())
            .field("dropped_spans", &self.dropped_spans())
            .finish_non_exhaustive()
    }
}

/// The trace the context carries, read only where it can matter: for roots (a context made by
/// `Context::with_new_trace`) and for children of a remote parent.
#[inline]
fn context_trace(start: &SpanStart<'_>) -> Option<[u8; 16]> {
    match start.parent_id() {
        Some(parent) if parent.name() != REMOTE_SPAN_NAME => None,
        _ => Context::current().trace_id(),
    }
}

impl SpanHandler for OtlpExporter {
    /// The span's arguments, captured at start while they can still be read.
    type Span = Args;

    #[inline]
    fn new_span(&self, start: &SpanStart<'_>) -> Option<Args> {
        self.send(Message::Start {
            id: start.id(),
            parent: start.parent_id(),
            context_trace: context_trace(start),
        });
        Some(capture_args(start.args()))
    }

    #[inline]
    fn prepare_to_exit_span(&self, args: Args, end: &SpanEnd<'_>) {
        self.send(Message::End(EndRecord::new(end, args)));
    }

    #[cold]
    fn prepare_to_drop_span(&self, args: Args, end: &SpanEnd<'_>) {
        self.send(Message::End(EndRecord::new(end, args)));
    }

    fn close(&self) {
        self.close_now();
    }
}

impl EventHandler for OtlpExporter {
    fn handle(&self, event: &EventEnvelope<'_>) {
        let Some(span) = event.span_id() else {
            return;
        };
        self.send(Message::Event {
            span,
            name: event.class_name(),
            at: event.timestamp(),
            attrs: event_attrs(event).map(Box::new),
        });
    }

    fn close(&self) {
        self.close_now();
    }
}
