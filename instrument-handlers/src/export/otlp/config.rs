//! `OtlpConfig`: where spans go, how they travel (headers, TLS, compression, timeout, retries),
//! what the resource says, and how the queue and batches behave.

use std::path::PathBuf;
use std::time::Duration;

use super::error::OtlpError;
use super::exporter::OtlpExporter;

pub use crate::export::DEFAULT_QUEUE_CAPACITY;
/// Spans per request at most, unless told otherwise.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 512;
/// How long an ended span waits for its batch to fill, unless told otherwise.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(1);
/// The wait before the first retry, unless told otherwise (the OpenTelemetry Go SDK's
/// `InitialInterval`); each later wait is 1.5 times the one before, with ±50% jitter.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(5);
/// The longest wait between two tries (the Go SDK's `MaxInterval`).
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long a batch is retried before it is given up (the Go SDK's `MaxElapsedTime`).
pub const DEFAULT_MAX_ELAPSED: Duration = Duration::from_secs(60);
/// The time one request may take, from connecting to reading the answer, unless told otherwise
/// (`OTEL_EXPORTER_OTLP_TIMEOUT`'s default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Where spans go when nothing says otherwise: an OpenTelemetry collector on this machine.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:4318";
/// The project Phoenix files spans under unless told otherwise (`openinference.project.name`).
pub const DEFAULT_PROJECT_NAME: &str = "default";
/// The `service.name` of the resource unless told otherwise.
pub const DEFAULT_SERVICE_NAME: &str = "instrument";

/// The longest wait between tries and the longest batch delay taken: longer ones are shortened.
const LONGEST_WAIT: Duration = Duration::from_secs(3600);
/// The longest a batch is retried, and a request may take.
const LONGEST_RETRY: Duration = Duration::from_secs(86_400);

/// The path OTLP/HTTP receivers take traces at, added to a base endpoint.
const TRACES_PATH: &str = "/v1/traces";

/// How request bodies are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// As they are.
    #[default]
    None,
    /// Gzipped, with `Content-Encoding: gzip`: protobuf spans with long texts shrink several
    /// times.
    Gzip,
}

/// How an [`OtlpExporter`] is set up: made by [`OtlpExporter::builder`],
/// [`OtlpConfig::from_env`] or a backend preset ([`OtlpConfig::phoenix`] and its neighbours),
/// adjusted with its methods, and finished by [`OtlpConfig::build`].
///
/// ```
/// use std::time::Duration;
/// use instrument::handlers::export::otlp::{Compression, OtlpExporter};
///
/// let exporter = OtlpExporter::builder("http://127.0.0.1:6006")
///     .service_name("rag-server")
///     .project_name("rag")
///     .resource_attribute("deployment.environment", "staging")
///     .compression(Compression::Gzip)
///     .max_batch_size(256)
///     .max_delay(Duration::from_millis(500))
///     .build()?;
/// # exporter.shutdown(Duration::from_millis(10)).ok();
/// # Ok::<(), instrument::handlers::export::otlp::OtlpError>(())
/// ```
#[derive(Clone)]
pub struct OtlpConfig {
    /// The full URL requests go to.
    pub(crate) url: String,
    pub(crate) service_name: String,
    pub(crate) project_name: String,
    /// Resource attributes besides `service.name` and `openinference.project.name`, in order.
    pub(crate) resource: Vec<(String, String)>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) compression: Compression,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) client_cert: Option<(PathBuf, PathBuf)>,
    pub(crate) queue_capacity: usize,
    pub(crate) max_batch_size: usize,
    pub(crate) max_delay: Duration,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_elapsed: Duration,
    pub(crate) timeout: Duration,
    pub(crate) disabled: bool,
}

/// Header values are credentials (API keys, Basic auth): `Debug` shows their names only.
impl std::fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(name, _)| format!("{name}: [REDACTED]"))
            .collect();
        f.debug_struct("OtlpConfig")
            .field("url", &super::transport::redacted(&self.url))
            .field("service_name", &self.service_name)
            .field("project_name", &self.project_name)
            .field("resource", &self.resource)
            .field("headers", &headers)
            .field("compression", &self.compression)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_batch_size", &self.max_batch_size)
            .field("max_delay", &self.max_delay)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("max_elapsed", &self.max_elapsed)
            .field("timeout", &self.timeout)
            .field("disabled", &self.disabled)
            .finish()
    }
}

impl OtlpConfig {
    /// The defaults, sending to `endpoint`: a base URL (`http://host:port`, `https://host/base`)
    /// to which `/v1/traces` is added, as `OTEL_EXPORTER_OTLP_ENDPOINT` is read; a URL that already
    /// ends in `/v1/traces` is used as it is. [`OtlpConfig::traces_endpoint`] takes a URL as it is.
    #[must_use]
    pub fn new(endpoint: impl AsRef<str>) -> Self {
        Self {
            url: traces_url(endpoint.as_ref()),
            service_name: DEFAULT_SERVICE_NAME.to_owned(),
            project_name: DEFAULT_PROJECT_NAME.to_owned(),
            resource: Vec::new(),
            headers: Vec::new(),
            compression: Compression::None,
            ca_file: None,
            client_cert: None,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            max_delay: DEFAULT_MAX_DELAY,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            max_elapsed: DEFAULT_MAX_ELAPSED,
            timeout: DEFAULT_TIMEOUT,
            disabled: false,
        }
    }

    /// Sends to `url` exactly as given, as `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is read.
    #[must_use]
    pub fn traces_endpoint(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// The URL requests go to.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
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

    /// A resource attribute (`deployment.environment`, `wandb.entity`, ...). Setting a key again
    /// replaces its value; `service.name` and `openinference.project.name` go to
    /// [`OtlpConfig::service_name`] and [`OtlpConfig::project_name`].
    #[must_use]
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        match key.as_str() {
            "service.name" => self.service_name = value,
            "openinference.project.name" => self.project_name = value,
            _ => match self.resource.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => self.resource.push((key, value)),
            },
        }
        self
    }

    /// A header sent with every request (an `authorization` or `api_key` for a hosted backend,
    /// say). Setting a name again (in any case) replaces its value. Names that are not tokens and
    /// values with line breaks are refused by [`OtlpConfig::build`].
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(slot) => *slot = (name, value),
            None => self.headers.push((name, value)),
        }
        self
    }

    /// Whether request bodies are gzipped.
    #[must_use]
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Trusts the CA certificates in this PEM file, and only them, to verify the server (a
    /// self-signed collector, a company CA). Without it, Mozilla's root certificates are trusted.
    #[must_use]
    pub fn ca_certificate(mut self, pem_file: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(pem_file.into());
        self
    }

    /// A client certificate chain and its private key, both PEM files, for servers that ask for
    /// mutual TLS.
    #[must_use]
    pub fn client_certificate(
        mut self,
        cert_file: impl Into<PathBuf>,
        key_file: impl Into<PathBuf>,
    ) -> Self {
        self.client_cert = Some((cert_file.into(), key_file.into()));
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
        self.max_delay = delay.min(LONGEST_WAIT);
        self
    }

    /// How a failed batch is retried, as the OpenTelemetry SDKs do: the first wait is `initial`,
    /// each later one 1.5 times longer up to `max_interval`, each with ±50% jitter, and a wait the
    /// server asks for with `Retry-After` is honoured; once `max_elapsed` has passed since the
    /// first try, the batch is dropped and its spans counted. A zero `max_elapsed` means one try.
    #[must_use]
    pub fn retry(
        mut self,
        initial: Duration,
        max_interval: Duration,
        max_elapsed: Duration,
    ) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max_interval.max(initial);
        self.max_elapsed = max_elapsed;
        self
    }

    /// The time one request may take, from resolving the host to reading the answer.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.clamp(Duration::from_millis(1), LONGEST_RETRY);
        self
    }

    /// Whether `OTEL_SDK_DISABLED` turned export off: [`OtlpExporter::from_env`] then makes no
    /// exporter.
    #[must_use]
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// Starts the exporter's thread.
    ///
    /// # Errors
    /// [`OtlpError::Endpoint`] when the URL is not `http(s)://` with a host, a header cannot be
    /// sent, or a certificate file cannot be read; [`OtlpError::Thread`] when the thread cannot
    /// start.
    pub fn build(self) -> Result<OtlpExporter, OtlpError> {
        OtlpExporter::start(self)
    }
}

/// `base` + `/v1/traces`, unless it already ends so.
pub(crate) fn traces_url(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    if base.ends_with(TRACES_PATH) {
        base.to_owned()
    } else {
        format!("{base}{TRACES_PATH}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_endpoints_get_the_traces_path_once() {
        assert_eq!(
            traces_url("http://localhost:4318"),
            "http://localhost:4318/v1/traces"
        );
        assert_eq!(
            traces_url("https://x/api/public/otel/"),
            "https://x/api/public/otel/v1/traces"
        );
        assert_eq!(traces_url("http://x/v1/traces/"), "http://x/v1/traces");
        let config = OtlpConfig::new("http://a").traces_endpoint("http://b/custom");
        assert_eq!(config.url(), "http://b/custom");
    }

    #[test]
    fn headers_and_resource_attributes_replace_by_key() {
        let config = OtlpConfig::new("http://a")
            .header("Authorization", "one")
            .header("authorization", "two")
            .resource_attribute("k", "1")
            .resource_attribute("k", "2")
            .resource_attribute("service.name", "svc");
        assert_eq!(config.headers, [("authorization".into(), "two".into())]);
        assert_eq!(config.resource, [("k".into(), "2".into())]);
        assert_eq!(config.service_name, "svc");
    }

    #[test]
    fn debug_output_hides_header_values() {
        let config = OtlpConfig::langfuse("http://x", "pk-public", "sk-very-secret")
            .header("wandb-api-key", "another-secret");
        let text = format!("{config:?}");
        assert!(text.contains("authorization: [REDACTED]"), "{text}");
        for secret in ["sk-very-secret", "another-secret", "cGstcHVibGlj"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
