//! Offline HTML reports: a run's spans as one page that opens from a file, in any browser, with
//! no server and no network.
//!
//! - [`HtmlReport`] makes the page from exported spans (a JSON Lines file read back with
//!   [`crate::export::read_jsonl`], as the `instrument-view` command does).
//! - [`HtmlReportExporter`] keeps the spans of a running program and writes the page on demand
//!   and at shutdown; [`crate::export::ExportPipelineBuilder::html_report`] adds the same sink to
//!   a pipeline that also writes JSON Lines or sends OTLP.
//!
//! The page's data is worked out here (`digest`: traces, tree order, kinds, the LLM call's
//! conversation, tokens and cost, a retriever's documents); its script only draws it.

mod digest;
mod exporter;
mod html_report;
mod page;
mod secrets;
mod sink;

pub use exporter::{DEFAULT_REPORT_CAPACITY, HtmlReportExporter, HtmlReportExporterBuilder};
pub use html_report::{DEFAULT_REPORT_TITLE, HtmlReport};
