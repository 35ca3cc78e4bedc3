//! `instrument`: tracing for LLM applications, in the image of LlamaIndex's `instrumentation` module.
//!
//! ```
//! use instrument::{get_dispatcher, span, Event};
//!
//! #[derive(Event, serde::Serialize)]
//! struct CacheHit { key: String, age_ms: u64 }
//!
//! #[span(dispatcher = "my_app")]
//! fn retrieve(query: &str, top_k: usize) -> Vec<String> {
//!     get_dispatcher("my_app").event(CacheHit { key: query.into(), age_ms: 3 });
//!     vec![format!("{query}:{top_k}")]
//! }
//!
//! let spans = get_dispatcher("my_app").add_span_handler(instrument::handlers::SimpleSpanHandler::default());
//! retrieve("rust", 2);
//! assert_eq!(spans.completed().len(), 1);
//! ```

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use instrument_core::*;
pub use instrument_macros::{Event, span};

/// Ready handlers: span trees, debug traces, token counting, fine-tuning files, exporters (JSON
/// Lines, Chrome trace, OTLP with feature `otlp`) and the `tracing` bridge (feature `tracing`).
pub use instrument_handlers as handlers;

/// The README's examples, compiled and run as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[doc(hidden)]
pub use instrument_core::__private;
