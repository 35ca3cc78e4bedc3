//! Registering one handler as both a span handler and an event handler.

use instrument_core::{Dispatcher, EventHandler, SpanHandler};

/// A handler that follows spans and the events inside them, and whose clones share one state, so
/// that one clone can be registered as the span handler and another as the event handler.
pub(crate) trait SpanAndEventHandler: SpanHandler + EventHandler + Clone {
    /// Adds a clone of this handler to `dispatcher` as a span handler, and another as an event
    /// handler.
    fn register_both(&self, dispatcher: &Dispatcher) {
        dispatcher.add_span_handler(self.clone());
        dispatcher.add_event_handler(self.clone());
    }
}

impl<H: SpanHandler + EventHandler + Clone> SpanAndEventHandler for H {}
