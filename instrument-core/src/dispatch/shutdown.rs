//! Ending instrumentation: every open span dropped with `"dispatcher shutdown"` and every
//! handler closed once, for the whole program ([`shutdown`]) or one dispatcher's chain
//! ([`Dispatcher::shutdown`]). Open spans are reached through the table of open spans, which
//! lets exactly one of a span's owner and shutdown end it.

use std::ptr;

use crate::batch;
use crate::dispatch::dispatcher::{self, Dispatcher};
use crate::span::{manual, open_spans};

/// Drops every open span with `"dispatcher shutdown"`, then calls `close` on every handler once.
/// Calling it again drops spans opened since, and closes nothing twice.
///
/// ```
/// instrument::shutdown();
/// instrument::shutdown(); // harmless
/// ```
pub fn shutdown() {
    open_spans::drain(None);
    manual::forget_open_by_id();
    batch::flush();
    for dispatcher in dispatcher::dispatchers() {
        dispatcher.close_own_handlers();
    }
}

impl Dispatcher {
    /// Shuts this dispatcher's chain down, as LlamaIndex's `Dispatcher.shutdown` does: every open
    /// span that the span handlers of its chain (its own, then its ancestors' while they
    /// propagate) follow is dropped for them with `"dispatcher shutdown"`, wherever it runs, and
    /// then each handler of the chain, span and event, is closed. A span also followed by
    /// handlers outside the chain goes on for those, and ends for them as usual. Handlers closed
    /// once, here or by [`shutdown`], are not closed again.
    ///
    /// ```
    /// use instrument::{SpanEnd, SpanHandler, SpanStart};
    /// use std::sync::Mutex;
    ///
    /// #[derive(Default)]
    /// struct Ends(Mutex<Vec<String>>);
    /// impl SpanHandler for Ends {
    ///     type Span = ();
    ///     fn new_span(&self, _: &SpanStart<'_>) -> Option<()> { Some(()) }
    ///     fn prepare_to_exit_span(&self, _: (), end: &SpanEnd<'_>) {
    ///         self.0.lock().unwrap().push("exit".into());
    ///     }
    ///     fn prepare_to_drop_span(&self, _: (), end: &SpanEnd<'_>) {
    ///         self.0.lock().unwrap().push(end.error().unwrap_or_default());
    ///     }
    /// }
    ///
    /// let worker = instrument::get_dispatcher("doc::dispatcher_shutdown");
    /// let ends = worker.add_span_handler(Ends::default());
    /// let guard = worker.enter_span("job", &[]);
    /// worker.shutdown();
    /// drop(guard); // already ended for `ends`
    /// assert_eq!(*ends.0.lock().unwrap(), ["dispatcher shutdown"]);
    /// ```
    pub fn shutdown(&self) {
        let chain = self.chain();
        let shared = self.shared();
        let shared = shared.as_deref();
        let batch = chain.batch.iter().copied();
        let shared_batch = shared
            .into_iter()
            .flat_map(|s| s.batch.iter().map(|h| &**h));
        let batch = || batch.clone().chain(shared_batch.clone());
        let ours: Vec<*const ()> = chain
            .span_handlers(shared)
            .map(|h| h.addr())
            .chain(batch().map(|h| h.addr()))
            .collect();
        let only = |addr: *const ()| ours.iter().any(|a| ptr::addr_eq(*a, addr));
        open_spans::drain(Some(&only));
        batch::flush();
        for handler in chain.span_handlers(shared) {
            handler.close();
        }
        for handler in batch() {
            handler.close();
        }
        for handler in chain.event_handlers(shared) {
            handler.close();
        }
    }
}
