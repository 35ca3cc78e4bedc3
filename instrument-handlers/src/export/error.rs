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
    /// The exporter's background writer thread is gone (it panicked), so nothing more is written.
    #[error("the exporter's writer thread has stopped")]
    WriterStopped,
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
