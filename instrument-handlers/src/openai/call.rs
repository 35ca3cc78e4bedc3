//! One observed API call: a span opened before the request, the events emitted inside it, and an
//! end that is exactly one of exit, failure, or (when dropped first) cancellation.

use std::fmt;

use instrument_core::{Dispatcher, Event, SpanGuard, current_span};
use serde_json::Value;

/// The drop reason of a call (or stream) dropped before it finished.
const CANCELLED: &str = "cancelled";

/// An open call's span.
pub(crate) struct Call {
    dispatcher: &'static Dispatcher,
    /// `None` once ended.
    guard: Option<SpanGuard>,
}

impl Call {
    /// Opens a span called `name` on `dispatcher`, below the current span.
    pub(crate) fn start(dispatcher: &'static Dispatcher, name: &'static str) -> Self {
        Self {
            dispatcher,
            guard: Some(dispatcher.enter_span(name, &[])),
        }
    }

    /// Emits `event` inside the span.
    pub(crate) fn emit<E: Event>(&mut self, event: E) {
        let dispatcher = self.dispatcher;
        match &mut self.guard {
            Some(guard) => guard.in_scope(|| dispatcher.event(event)),
            None => dispatcher.event(event),
        }
    }

    /// Records the response's `usage` into the span's metadata, when it has one.
    pub(crate) fn record_usage(&mut self, response: &Value) {
        let usage = &response["usage"];
        if let Some(guard) = &mut self.guard
            && !usage.is_null()
        {
            guard.in_scope(|| current_span().record("usage", usage));
        }
    }

    /// Ends the span normally.
    pub(crate) fn exit(&mut self) {
        if let Some(guard) = self.guard.take() {
            guard.exit(None);
        }
    }

    /// Ends the span as dropped with `error`.
    pub(crate) fn fail(&mut self, error: &dyn fmt::Display) {
        if let Some(guard) = self.guard.take() {
            guard.drop_with(error);
        }
    }

    /// Runs `f` with the span current (so that what it emits or opens is inside it).
    pub(crate) fn in_scope<R>(&mut self, f: impl FnOnce() -> R) -> R {
        match &mut self.guard {
            Some(guard) => guard.in_scope(f),
            None => f(),
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.fail(&CANCELLED);
    }
}
