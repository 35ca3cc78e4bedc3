//! `HtmlReport`: a run's spans as one self-contained HTML page.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::export::{ExportError, ExportedSpan};

use super::digest::{Digest, digest};
use super::page::write_page;

/// The title a report has unless given one.
pub const DEFAULT_REPORT_TITLE: &str = "instrument run";

/// A run's spans as one HTML page that opens from a file, with no server and no network: its
/// style, script and data are inside it.
///
/// The page lists the run's traces (root spans) with their duration, status, span count, and
/// tokens and cost where LLM spans reported usage; shows one trace as a tree beside a waterfall
/// of bars on a shared time axis, coloured by kind (LLM, embedding, retriever, reranker, tool,
/// agent, chain), errors and cancellations marked; and shows one span's arguments, result or
/// error, metadata, tags and events, an LLM span as its conversation (messages by role, the
/// response, token usage, model) and a retriever's or reranker's as its ranked documents with
/// scores. A search box filters spans by name. Lists draw only the rows in view, so a run of
/// 100,000 spans stays usable; the file grows linearly with the spans' content.
///
/// Values under a sensitive name (see `instrument::is_sensitive_key`) are redacted once more
/// here, and no text from a span is ever read as markup. Opening the page with `#span=N` selects
/// span `N` (its position in tree order).
///
/// Made from spans read back with [`crate::export::read_jsonl`] (what the `instrument-view`
/// command does), or kept by an [`crate::export::HtmlReportExporter`] during the run.
///
/// ```
/// use instrument::handlers::export::{ExportedSpan, HtmlReport, SpanAttributes, SpanStatus};
///
/// let span = ExportedSpan {
///     span_id: "query-0b3d9a4c-8e1f-4c2a-9d5e-7f6a1b2c3d4e".into(),
///     parent_id: None,
///     name: "query".into(),
///     trace_id: None,
///     dispatcher: "app".into(),
///     start_unix_nano: 1_000,
///     end_unix_nano: 5_000,
///     duration_ns: 4_000,
///     status: SpanStatus::Ok,
///     error: None,
///     attributes: SpanAttributes::default(),
///     events: Vec::new(),
/// };
/// let report = HtmlReport::new(vec![span]).title("nightly evaluation");
/// assert_eq!((report.trace_count(), report.span_count()), (1, 1));
/// let mut page = Vec::new();
/// report.write_to(&mut page)?;
/// let page = String::from_utf8(page).unwrap();
/// assert!(page.starts_with("<!doctype html>"));
/// assert!(page.contains("<title>nightly evaluation</title>"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct HtmlReport {
    digest: Digest,
}

impl HtmlReport {
    /// The report of `spans`, in any order (a JSON Lines file has children first). A span whose
    /// parent is not among them is the root of a trace.
    #[must_use]
    pub fn new(spans: Vec<ExportedSpan>) -> Self {
        Self {
            digest: digest(DEFAULT_REPORT_TITLE, spans),
        }
    }

    /// The report with `title` as the page's title and heading.
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.digest.title = title.into();
        self
    }

    /// How many traces (root spans) it shows.
    #[must_use]
    pub fn trace_count(&self) -> usize {
        self.digest.traces.len()
    }

    /// How many spans it shows.
    #[must_use]
    pub fn span_count(&self) -> usize {
        self.digest.spans.len()
    }

    /// Writes the page to `out`.
    ///
    /// # Errors
    /// What `out` returns.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        write_page(&self.digest, out)
    }

    /// Writes the page to a file at `path`, replacing it if it exists. The page is written
    /// beside it first (`<path>.partial`, made afresh, never through a link) and renamed over
    /// it, so a reader never sees half a page; on failure the partial file is removed.
    ///
    /// # Errors
    /// [`ExportError::Io`] when the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ExportError> {
        let path = path.as_ref();
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let written = self
            .write_file(&partial)
            .and_then(|()| std::fs::rename(&partial, path));
        written.map_err(|source| {
            let _ = std::fs::remove_file(&partial);
            ExportError::Io {
                path: path.to_owned(),
                source,
            }
        })
    }

    fn write_file(&self, path: &Path) -> io::Result<()> {
        match std::fs::remove_file(path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)?;
        let mut out = BufWriter::new(file);
        self.write_to(&mut out)?;
        out.into_inner()
            .map_err(io::IntoInnerError::into_error)?
            .sync_all()
    }
}
