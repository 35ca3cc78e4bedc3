//! `OtlpConfig`: where spans go, what the resource is called, and how the queue, batches and
//! retries behave.

use std::time::Duration;

use super::error::OtlpError;
use super::exporter::OtlpExporter;

/// Messages (span starts, span ends, events) the queue holds unless told otherwise.
pub const DEFAULT_QUEUE_CAPACITY: usize = 8192;
/// Spans per request at most, unless told otherwise.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 512;
/// How long an ended span waits for its batch to fill, unless told otherwise.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(1);
/// Tries per batch (the first send and its retries), unless told otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// The wait before the first retry, unless told otherwise; it doubles on each retry.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two tries.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The time one request may take (connecting, sending and reading the answer each), unless told
/// otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The project Phoenix files spans under unless told otherwise (`openinference.project.name`).
pub const DEFAULT_PROJECT_NAME: &str = "default";
/// The `service.name` of the resource unless told otherwise.
pub const DEFAULT_SERVICE_NAME: &str = "instrument";

/// How an [`OtlpExporter`] is set up; made by [`OtlpExporter::builder`], finished by
/// [`OtlpConfig::build`].
///
/// ```
/// use std::time::Duration;
/// use instrument_handlers::otlp::OtlpExporter;
///
/// let exporter = OtlpExporter::builder("http://127.0.0.1:6006")
///     .service_name("rag-server")
///     .project_name("rag")
///     .max_batch_size(256)
///     .max_delay(Duration::from_millis(500))
///     .build()?;
/// # exporter.shutdown(Duration::from_millis(10)).ok();
/// # Ok::<(), instrument_handlers::otlp::OtlpError>(())
/// ```
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    pub(crate) endpoint: String,
    pub(crate) service_name: String,
    pub(crate) project_name: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) queue_capacity: usize,
    pub(crate) max_batch_size: usize,
    pub(crate) max_delay: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) timeout: Duration,
}

impl OtlpConfig {
    /// The defaults, sending to `endpoint`: an `http://host:port` base to which `/v1/traces` is
    /// added (a URL that already ends in `/v1/traces` is used as it is).
    #[must_use]
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            service_name: DEFAULT_SERVICE_NAME.to_owned(),
            project_name: DEFAULT_PROJECT_NAME.to_owned(),
            headers: Vec::new(),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            max_delay: DEFAULT_MAX_DELAY,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The resource's `service.name`.
    #[must_use]
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// The resource's `openinference.project.name`: the Phoenix project the spans land in.
    #[must_use]
    pub fn project_name(mut self, name: impl Into<String>) -> Self {
        self.project_name = name.into();
        self
    }

    /// A header sent with every request (an `authorization` or `api_key` for a hosted backend,
    /// say). Names and values with line breaks are refused by [`OtlpConfig::build`].
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How many messages the queue holds (at least one): each span takes two, its start and its
    /// end, and each event one. When it is full, what does not fit is dropped and counted.
    #[must_use]
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// Spans per request at most (at least one).
    #[must_use]
    pub fn max_batch_size(mut self, size: usize) -> Self {
        self.max_batch_size = size.max(1);
        self
    }

    /// How long an ended span may wait for its batch to fill before the batch is sent.
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Tries per batch (at least one); a batch that fails them all is dropped and its spans
    /// counted.
    #[must_use]
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The wait before the first retry; it doubles on each retry, up to `max`.
    #[must_use]
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// The time a request may take to connect, and then to send and to read the answer.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Starts the exporter's thread.
    ///
    /// # Errors
    /// [`OtlpError::Endpoint`] when the endpoint is not an `http://` URL with a host, or a header
    /// cannot be sent; [`OtlpError::Thread`] when the thread cannot start.
    pub fn build(self) -> Result<OtlpExporter, OtlpError> {
        OtlpExporter::start(self)
    }
}
