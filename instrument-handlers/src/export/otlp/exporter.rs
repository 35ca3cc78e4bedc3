//! `OtlpExporter`: an export pipeline with one OTLP sink, and the OTLP sink for any pipeline.

use std::time::Duration;

use instrument_core::Dispatcher;

use super::config::OtlpConfig;
use super::encode;
use super::error::OtlpError;
use super::retry::Sending;
use super::sink::OtlpSink;
use super::transport::{Transport, TransportConfig};
use crate::export::error::ExportError;
use crate::export::pipeline::{ExportPipeline, ExportPipelineBuilder, handlers_through_pipeline};

pub use crate::export::pipeline::DEFAULT_CLOSE_TIMEOUT;

/// Sends every span it follows to an OTLP/HTTP receiver (Arize Phoenix, Langfuse, W&B Weave,
/// MLflow, an OpenTelemetry collector) as protobuf, with OpenInference attributes from the events
/// emitted inside it.
///
/// It is an [`ExportPipeline`] with one OTLP sink: the recording thread only captures the span
/// (its arguments as JSON at start, a small record at end, the OpenInference attributes of each
/// built-in event) and hands it to the pipeline's thread through a bounded queue with `try_send`:
/// it never builds protobuf, never does I/O and never blocks. When the queue is full, what does
/// not fit is dropped and counted ([`OtlpExporter::dropped_spans`]). A batch goes when it holds
/// `max_batch_size` spans or its oldest span has waited `max_delay`, on the sink's own sending
/// thread, which retries a failed request as [`OtlpConfig::retry`] says; while it retries, spans
/// wait (as many as half the queue holds), then are dropped and counted: a backend that is down
/// costs the traced code dropped spans, not time.
///
/// It is both a span handler and an event handler: [`OtlpExporter::register`] adds it as both.
/// Clones share one exporter. [`OtlpExporter::flush`] and [`OtlpExporter::shutdown`] wait for what
/// was queued to be sent, within a timeout; `close`, which `instrument::shutdown` calls, shuts down
/// with [`DEFAULT_CLOSE_TIMEOUT`].
///
/// ```no_run
/// use std::time::Duration;
/// use instrument::handlers::export::otlp::OtlpExporter;
///
/// // Phoenix listens for OTLP/HTTP on port 6006.
/// let exporter = OtlpExporter::builder("http://127.0.0.1:6006")
///     .service_name("rag-server")
///     .project_name("rag")
///     .build()?;
/// let dispatcher = instrument::get_dispatcher("doc::otlp");
/// exporter.register(dispatcher);
///
/// dispatcher.in_span("query", || dispatcher.in_span("retrieve", || ()));
/// exporter.shutdown(Duration::from_secs(5))?;
/// assert_eq!(exporter.exported_spans(), 2);
/// # Ok::<(), instrument::handlers::export::otlp::OtlpError>(())
/// ```
#[derive(Clone)]
pub struct OtlpExporter {
    pipeline: ExportPipeline,
    url: String,
}

/// The URL without credentials or a query (they may carry keys).
impl std::fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("url", &super::transport::redacted(&self.url))
            .field("pipeline", &self.pipeline)
            .finish()
    }
}

impl ExportPipelineBuilder {
    /// Adds a sink sending OTLP as `config` says (its queue capacity aside: the pipeline has one
    /// queue, set with [`ExportPipelineBuilder::queue_capacity`]).
    ///
    /// # Errors
    /// As [`OtlpConfig::build`].
    pub fn otlp(self, config: &OtlpConfig) -> Result<Self, OtlpError> {
        Ok(self.sink("otlp", Box::new(sink(config)?)))
    }
}

/// The sink `config` describes: the transport checked and made, the resource encoded.
fn sink(config: &OtlpConfig) -> Result<OtlpSink, OtlpError> {
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
        endpoint: super::transport::redacted(&config.url),
        reason,
    })?;
    Ok(OtlpSink::new(
        Sending {
            transport,
            initial_backoff: config.initial_backoff,
            max_backoff: config.max_backoff,
            max_elapsed: config.max_elapsed,
        },
        encode::resource(&config.service_name, &config.project_name, &config.resource),
        config.max_batch_size,
        config.max_delay,
    ))
}

impl From<ExportError> for OtlpError {
    fn from(error: ExportError) -> Self {
        match error {
            ExportError::Timeout(timeout) => OtlpError::Timeout(timeout),
            ExportError::Stopped => OtlpError::Stopped,
            ExportError::Thread(error) => OtlpError::Thread(error),
            ExportError::Sink { message, .. } => OtlpError::Export(message),
            other => OtlpError::Export(other.to_string()),
        }
    }
}

impl OtlpExporter {
    /// An exporter with the default settings, sending to `endpoint` (`http(s)://host:port`; the
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
        let pipeline = ExportPipeline::builder()
            .queue_capacity(config.queue_capacity)
            .otlp(&config)?
            .build()?;
        Ok(Self {
            pipeline,
            url: config.url,
        })
    }

    /// Adds this exporter to `dispatcher` as both a span handler and an event handler.
    pub fn register(&self, dispatcher: &Dispatcher) {
        self.pipeline.register(dispatcher);
    }

    /// How many spans were lost: the queue was full, the exporter was shut down, or their batch
    /// failed every try or was refused.
    #[must_use]
    pub fn dropped_spans(&self) -> u64 {
        self.pipeline.dropped_by(0)
    }

    /// How many events were lost: the queue was full, or their span had too many.
    #[must_use]
    pub fn dropped_events(&self) -> u64 {
        self.pipeline.dropped_events()
    }

    /// How many spans the receiver accepted.
    #[must_use]
    pub fn exported_spans(&self) -> u64 {
        self.pipeline.exported_by(0)
    }

    /// The URL requests go to, as configured (with any query it has: do not log it).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many messages the queue holds.
    #[must_use]
    pub fn queue_capacity(&self) -> usize {
        self.pipeline.queue_capacity()
    }

    /// Waits until every span that ended before this call is sent (or given up on), for at most
    /// `timeout`. Retries still under way when the time is up stop at once.
    ///
    /// # Errors
    /// [`OtlpError::Timeout`] when that took longer than `timeout`, [`OtlpError::Export`] when a
    /// batch failed since the last flush, [`OtlpError::Stopped`] after a shutdown.
    pub fn flush(&self, timeout: Duration) -> Result<(), OtlpError> {
        Ok(self.pipeline.flush(timeout)?)
    }

    /// Flushes as [`OtlpExporter::flush`] does, then stops the exporter's thread: spans that end
    /// afterwards are dropped and counted. A second call does nothing.
    ///
    /// # Errors
    /// As [`OtlpExporter::flush`].
    pub fn shutdown(&self, timeout: Duration) -> Result<(), OtlpError> {
        Ok(self.pipeline.shutdown(timeout)?)
    }
}

handlers_through_pipeline!(OtlpExporter);
