//! What can go wrong when writing or reading an export.

use std::io;
use std::path::PathBuf;

/// An error from an exporter or from [`crate::export::read_jsonl`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Reading or writing a file failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Writing to a caller-supplied writer (not a file the exporter opened) failed.
    #[error("I/O error writing the export: {source}")]
    Write {
        /// What the writer said.
        #[source]
        source: io::Error,
    },
    /// A line of a JSON Lines file is not a span as [`crate::export::JsonlExporter`] writes them.
    #[error("{}:{line}: not an exported span: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The line, counting from 1.
        line: usize,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },
    /// A sink could not send what it was given (after every retry) and dropped it.
    #[error("{sink} export failed: {message}")]
    Sink {
        /// The sink: `"otlp"`, say.
        sink: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A flush or shutdown did not finish in time; what was queued is still being exported.
    #[error("the export did not finish within {0:?}")]
    Timeout(std::time::Duration),
    /// The exporter was shut down, or its thread has stopped, so nothing more is exported.
    #[error("the exporter is shut down")]
    Stopped,
    /// The exporter's thread could not be started.
    #[error("cannot start the exporter's thread: {0}")]
    Thread(#[source] io::Error),
}

impl ExportError {
    /// An I/O error on `path`, or on a caller's writer when there is no path.
    pub(crate) fn io(path: Option<&std::path::Path>, source: io::Error) -> Self {
        match path {
            Some(path) => Self::Io {
                path: path.to_owned(),
                source,
            },
            None => Self::Write { source },
        }
    }
}
