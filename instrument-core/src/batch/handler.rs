//! The batched handler trait, what it asks the core to capture, and its erased form.

use std::ops::BitOr;
use std::sync::Arc;

use crate::dispatch::handler::HandlerCell;

use super::ended::EndedSpan;

/// What the core keeps of a span for the batched handlers of its chain, beyond its ids, times,
/// outcome and recorded metadata, which every [`EndedSpan`] carries.
///
/// Each is paid for on every span of the chains the handler is in, so a handler asks only for
/// what it reports: arguments are turned into JSON at the span's start, while they can still be
/// read, and the result at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capture {
    /// The arguments, as a JSON object ([`EndedSpan::args`]).
    pub args: bool,
    /// The return value (the `Ok` value of a `Result`), as JSON ([`EndedSpan::result`]).
    pub result: bool,
    /// The tags active when the span started ([`EndedSpan::tags`]).
    pub tags: bool,
}

impl Capture {
    /// Ids, times, outcome and metadata only: the cheapest record.
    pub const NOTHING: Self = Self {
        args: false,
        result: false,
        tags: false,
    };

    /// Everything a span has: arguments, result and tags.
    pub const EVERYTHING: Self = Self {
        args: true,
        result: true,
        tags: true,
    };

    /// Whether nothing beyond the basic record is asked for.
    #[must_use]
    pub const fn is_nothing(self) -> bool {
        !self.args && !self.result && !self.tags
    }
}

impl BitOr for Capture {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self {
            args: self.args || other.args,
            result: self.result || other.result,
            tags: self.tags || other.tags,
        }
    }
}

/// A span handler that receives ended spans in batches, recorded by the core.
///
/// Where a [`SpanHandler`](crate::SpanHandler) is called when each span starts and ends, on the
/// span's thread, a batched handler is called with a slice of [`EndedSpan`]s now and then: when
/// the recording thread's buffer of [`BATCH_LEN`](crate::BATCH_LEN) spans is full, on
/// [`flush`](crate::flush), when the thread exits, and at [`shutdown`](crate::shutdown). It
/// exists because most span handlers only keep or export what a span was: for those, a per-span
/// virtual call and panic guard are most of a span's cost. Handlers that must see the live
/// arguments while the span runs (token counting) stay [`SpanHandler`](crate::SpanHandler)s.
///
/// The guarantees are those of span handlers: each span reaches each batched handler of its
/// chain exactly once, whatever ended it (return, `Err`, panic, cancellation, shutdown); a
/// panicking `handle_batch` is isolated (the batch is lost for that handler only, and counted in
/// [`handler_panics`](crate::handler_panics)); and the core holds at most
/// [`BATCH_LEN`](crate::BATCH_LEN) undelivered spans per thread. Batches may arrive on any thread
/// (the recording one, or the one calling [`flush`](crate::flush)), each thread's spans in the
/// order they ended, so `handle_batch` may run concurrently with itself.
///
/// A handler that keeps spans calls [`flush`](crate::flush) before it reads them, so that readers
/// see every span that has ended.
///
/// ```
/// use std::sync::Mutex;
/// use instrument::{Arg, BatchSpanHandler, Capture, EndedSpan};
///
/// #[derive(Default)]
/// struct Calls(Mutex<Vec<String>>);
///
/// impl BatchSpanHandler for Calls {
///     const CAPTURE: Capture = Capture { args: true, ..Capture::NOTHING };
///
///     fn handle_batch(&self, spans: &[EndedSpan]) {
///         let mut calls = self.0.lock().unwrap();
///         for span in spans {
///             let args = span.args().map(ToString::to_string).unwrap_or_default();
///             calls.push(format!("{}{args}", span.name()));
///         }
///     }
/// }
///
/// let dispatcher = instrument::get_dispatcher("doc::batch_handler");
/// let calls = dispatcher.add_batch_span_handler(Calls::default());
/// dispatcher.enter_span("retrieve", &[Arg::new("top_k", &3)]).exit(None);
/// instrument::flush();
/// assert_eq!(*calls.0.lock().unwrap(), [r#"retrieve{"top_k":3}"#]);
/// ```
pub trait BatchSpanHandler: Send + Sync + 'static {
    /// What the core captures for this handler beyond the basic record. Read once, when the
    /// handler is added.
    const CAPTURE: Capture = Capture::NOTHING;

    /// Receives ended spans, each thread's in the order they ended.
    fn handle_batch(&self, spans: &[EndedSpan]);

    /// Called once at shutdown, after the last batch was delivered: flush buffers here.
    fn close(&self) {}
}

impl<H: BatchSpanHandler> BatchSpanHandler for Arc<H> {
    const CAPTURE: Capture = H::CAPTURE;

    fn handle_batch(&self, spans: &[EndedSpan]) {
        (**self).handle_batch(spans);
    }

    fn close(&self) {
        (**self).close();
    }
}

/// A batched handler as chains keep it: type-erased and panic-isolated.
pub(crate) trait ErasedBatchHandler: Send + Sync {
    fn handle_batch(&self, spans: &[EndedSpan]);
    fn capture(&self) -> Capture;
    fn close(&self);
    fn addr(&self) -> *const ();
}

impl<H: BatchSpanHandler> ErasedBatchHandler for HandlerCell<H> {
    fn handle_batch(&self, spans: &[EndedSpan]) {
        self.isolate("handle_batch", || self.handler.handle_batch(spans));
    }

    fn capture(&self) -> Capture {
        H::CAPTURE
    }

    fn close(&self) {
        self.close_once(BatchSpanHandler::close);
    }

    fn addr(&self) -> *const () {
        self.known_addr()
    }
}
