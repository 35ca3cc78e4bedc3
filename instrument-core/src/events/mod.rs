//! The built-in event catalog.

mod span;

pub use span::SpanDropEvent;
