//! What can go wrong setting up, flushing or shutting down an OTLP exporter.

use std::time::Duration;

/// An error of [`crate::export::otlp::OtlpExporter`]'s own methods. Errors while exporting never reach the
/// traced code: failed batches are retried, then dropped and counted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtlpError {
    /// The endpoint, a header or a certificate file cannot be used.
    #[error("bad OTLP endpoint {endpoint:?}: {reason}")]
    Endpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An `OTEL_*` environment variable holds a value that cannot be used.
    #[error("{variable}={value:?} cannot be used: {reason}")]
    Env {
        /// The variable.
        variable: String,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The exporter's thread could not be started.
    #[error("cannot start the OTLP exporter thread: {0}")]
    Thread(#[source] std::io::Error),
    /// A flush or shutdown did not finish in time; what was queued is still being sent.
    #[error("the OTLP exporter did not finish within {0:?}")]
    Timeout(Duration),
    /// Some spans could not be sent (after every retry) and were dropped.
    #[error("OTLP export failed: {0}")]
    Export(String),
    /// The exporter was shut down, or its thread has stopped.
    #[error("the OTLP exporter is shut down")]
    Stopped,
}
