//! The JSON Lines format: one [`ExportedSpan`] per line, and [`read_jsonl`] to load a file back.

use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::ExportError;

/// One span as [`crate::export::JsonlExporter`] writes it: one line of the file.
///
/// Times are nanoseconds since the Unix epoch; `duration_ns` is measured on the monotonic clock, so
/// it is exact even if the wall clock moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedSpan {
    /// The span's id, `"{name}-{uuid}"`.
    pub span_id: String,
    /// The parent span's id; `null` for a root.
    pub parent_id: Option<String>,
    /// The span's name.
    pub name: String,
    /// The W3C trace id the span belongs to, as 32 hex digits: the one the OTLP exporter sends it
    /// under (the root's UUID, or the trace its context carries, a remote one say). Absent in
    /// files from other writers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The dispatcher the span was made on.
    pub dispatcher: String,
    /// When the span started.
    pub start_unix_nano: u64,
    /// When the span ended.
    pub end_unix_nano: u64,
    /// How long the span was open.
    pub duration_ns: u64,
    /// Whether the span exited normally.
    pub status: SpanStatus,
    /// Why the span was dropped: the error's text, the panic message, `"cancelled"`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The span's arguments, recorded metadata and tags.
    pub attributes: SpanAttributes,
    /// The events emitted inside the span (not inside its children), in order.
    #[serde(default)]
    pub events: Vec<ExportedEvent>,
}

/// How a span ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanStatus {
    /// It exited normally.
    Ok,
    /// It was dropped: an error, a panic, cancellation or shutdown; see [`ExportedSpan::error`].
    Error,
}

/// What a span carried besides its ids and times.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpanAttributes {
    /// The captured arguments as JSON, by name; redacted ones are `"[REDACTED]"`.
    #[serde(default)]
    pub args: Map<String, Value>,
    /// What code inside the span recorded with `current_span().record(..)`.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// The tags active when the span started.
    #[serde(default)]
    pub tags: Map<String, Value>,
    /// What the span returned (the `Ok` value of a `Result`), as JSON and redacted like the
    /// arguments; absent for a dropped span, a `skip_ret` or unit function, and in files from
    /// other writers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

/// One event emitted inside a span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedEvent {
    /// The event's class name.
    pub name: String,
    /// When it was emitted, in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// The event's own fields as JSON.
    pub attributes: Value,
}

/// Loads a file written by [`crate::export::JsonlExporter`], one span per line, in file order.
/// Blank lines are skipped.
///
/// # Errors
/// [`ExportError::Io`] when the file cannot be read, [`ExportError::Json`] with the line number when a
/// line is not an [`ExportedSpan`].
pub fn read_jsonl(path: impl AsRef<Path>) -> Result<Vec<ExportedSpan>, ExportError> {
    let path = path.as_ref();
    let io = |source| ExportError::Io {
        path: path.to_owned(),
        source,
    };
    let reader = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    let mut spans = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let span = serde_json::from_str(&line).map_err(|source| ExportError::Json {
            path: path.to_owned(),
            line: index + 1,
            source,
        })?;
        spans.push(span);
    }
    Ok(spans)
}
