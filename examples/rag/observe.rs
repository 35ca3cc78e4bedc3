//! What watches the pipeline: the handlers, registered once on a dispatcher.
//!
//! - [`SimpleSpanHandler`] keeps every span, for the trace trees;
//! - [`EventCounter`] (below) counts events by type;
//! - [`TokenCountingHandler`] adds up the tokens of every LLM call and embedded chunk;
//! - [`FineTuningHandler`] keeps every chat as a fine-tuning example;
//! - [`DebugHandler`] is a legacy callback handler: a [`CallbackBridge`] turns the events into
//!   callback events for its [`CallbackManager`], one callback trace per root span.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use instrument::callbacks::{CallbackBridge, CallbackManager};
use instrument::handlers::{
    DebugHandler, FineTuningHandler, SimpleSpanHandler, TokenCountingHandler,
};
use instrument::{Dispatcher, EventEnvelope, EventHandler};

/// Counts events by class name.
#[derive(Debug, Default)]
pub struct EventCounter(Mutex<BTreeMap<&'static str, usize>>);

impl EventCounter {
    /// How many events of each class were seen, by class name.
    #[must_use]
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl EventHandler for EventCounter {
    fn handle(&self, event: &EventEnvelope<'_>) {
        *self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(event.class_name())
            .or_default() += 1;
    }
}

/// Text written from any thread, read at the end: where [`DebugHandler`] prints its traces.
#[derive(Debug, Clone, Default)]
pub struct SharedText(Arc<Mutex<Vec<u8>>>);

impl SharedText {
    /// Everything written so far.
    #[must_use]
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

impl io::Write for SharedText {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The handlers watching a pipeline.
pub struct Observers {
    /// Every span, for the trace trees.
    pub spans: &'static SimpleSpanHandler,
    /// Every event, counted by type.
    pub events: &'static EventCounter,
    /// The tokens of every LLM call (as the provider reported them) and every embedded chunk.
    pub tokens: &'static TokenCountingHandler,
    /// Every chat, as a fine-tuning example.
    pub finetuning: &'static FineTuningHandler,
    /// The callback events, paired and timed.
    pub debug: Arc<DebugHandler>,
    /// The traces `debug` printed, one per root span.
    pub debug_traces: SharedText,
    /// What feeds `debug`.
    pub bridge: CallbackBridge,
}

impl Observers {
    /// Registers the handlers on `dispatcher`: they see every span and event of the dispatchers
    /// under it.
    pub fn install(dispatcher: &'static Dispatcher) -> Self {
        let debug_traces = SharedText::default();
        let debug = Arc::new(DebugHandler::new().with_writer(debug_traces.clone()));
        let bridge = CallbackBridge::new(CallbackManager::new(vec![debug.clone()]));
        bridge.register(dispatcher);
        Self {
            spans: dispatcher.add_span_handler(SimpleSpanHandler::default()),
            events: dispatcher.add_event_handler(EventCounter::default()),
            tokens: dispatcher.add_event_handler(TokenCountingHandler::new()),
            finetuning: dispatcher.add_event_handler(FineTuningHandler::new().with_verbose(false)),
            debug,
            debug_traces,
            bridge,
        }
    }
}
