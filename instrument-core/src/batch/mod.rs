//! Batched span handlers: the second kind of span handler, whose spans the core records itself.
//!
//! A [`SpanHandler`](crate::SpanHandler) is called twice per span, on the span's own thread, each
//! call behind a virtual call and a panic guard: the right contract for handlers that must see the
//! live arguments (token counting reads the messages as they pass). A handler that only keeps or
//! exports what a span was needs none of that. For a [`BatchSpanHandler`], the core writes each
//! ended span as one [`EndedSpan`] into a buffer of the thread that ended it, and hands the
//! handler a slice of them at a time: when the buffer fills, on [`flush`], when the thread exits,
//! and at [`shutdown`](crate::shutdown). One record serves every batched handler of the span's
//! chain, and one panic guard a whole batch.

mod ended;
mod handler;
mod ring;

pub use ended::EndedSpan;
pub(crate) use ended::Extra;
pub(crate) use handler::ErasedBatchHandler;
pub use handler::{BatchSpanHandler, Capture};
pub(crate) use ring::record;
pub use ring::{BATCH_LEN, flush};
