//! The `CallbackHandler` trait and the error its methods return.

use super::event_type::CBEventType;
use super::payload::Payload;
use super::trace_map::TraceMap;

/// The legacy way to observe a pipeline: told when each event starts and ends, and when each trace
/// starts and ends.
///
/// This trait exists because many handlers are written against LlamaIndex's `callbacks` module
/// rather than its newer instrumentation (debug printers, token counters, fine-tuning collectors,
/// observability exporters). A handler registered on a [`CallbackManager`] is called on the thread
/// that opens or closes the event, so it should be quick.
///
/// What an implementor owes:
/// - [`on_event_start`](Self::on_event_start) and [`on_event_end`](Self::on_event_end) for every
///   event whose type is not in the matching ignore list; `event_id` is the same string in both, and
///   `parent_id` is the id of the innermost open non-leaf event of the trace, or `"root"`.
/// - An `Err` is not swallowed: it stops the remaining handlers and reaches the code that opened or
///   closed the event, as it does in LlamaIndex. A token budget relies on this. Return `Ok` for
///   anything the program should survive.
///
/// Defaults worth overriding: [`start_trace`](Self::start_trace) and
/// [`end_trace`](Self::end_trace) do nothing; the ignore lists are empty.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use instrument::callbacks::{CallbackError, CallbackHandler, CallbackManager, CBEventType, Payload};
///
/// /// Remembers the type of every event that ended, ignoring embeddings.
/// #[derive(Default)]
/// struct Ended(Mutex<Vec<CBEventType>>);
///
/// impl CallbackHandler for Ended {
///     fn on_event_start(&self, _: CBEventType, _: Option<&Payload>, id: &str, _: &str) -> Result<String, CallbackError> {
///         Ok(id.to_owned())
///     }
///     fn on_event_end(&self, event_type: CBEventType, _: Option<&Payload>, _: &str) -> Result<(), CallbackError> {
///         self.0.lock().unwrap().push(event_type);
///         Ok(())
///     }
///     fn event_ends_to_ignore(&self) -> &[CBEventType] {
///         &[CBEventType::Embedding]
///     }
/// }
///
/// let ended = Arc::new(Ended::default());
/// let manager = CallbackManager::new(vec![ended.clone()]);
/// manager.with_trace("query", || -> Result<(), CallbackError> {
///     let query = manager.event(CBEventType::Query, None)?;
///     manager.event(CBEventType::Embedding, None)?.on_end(None)?;
///     query.on_end(None)
/// })?;
/// assert_eq!(*ended.0.lock().unwrap(), [CBEventType::Query]);
/// # Ok::<(), CallbackError>(())
/// ```
///
/// [`CallbackManager`]: super::CallbackManager
pub trait CallbackHandler: Send + Sync {
    /// An event of `event_type` with id `event_id` starts below the event `parent_id` (`"root"` at
    /// the top of a trace). Returns the event's id, as LlamaIndex's handlers do (the manager keeps
    /// the id it gave; a handler called directly tells its caller which id it recorded).
    ///
    /// # Errors
    /// An `Err` stops the remaining handlers and is returned by [`CallbackManager::event`]; the
    /// event is then not opened.
    ///
    /// [`CallbackManager::event`]: super::CallbackManager::event
    fn on_event_start(
        &self,
        event_type: CBEventType,
        payload: Option<&Payload>,
        event_id: &str,
        parent_id: &str,
    ) -> Result<String, CallbackError>;

    /// The event `event_id` ends.
    ///
    /// # Errors
    /// An `Err` stops the remaining handlers and is returned by [`EventGuard::on_end`] (or counted, if
    /// the guard was dropped instead).
    ///
    /// [`EventGuard::on_end`]: super::EventGuard::on_end
    fn on_event_end(
        &self,
        event_type: CBEventType,
        payload: Option<&Payload>,
        event_id: &str,
    ) -> Result<(), CallbackError>;

    /// The outermost trace of a thread or task starts. Nested traces do not call it.
    fn start_trace(&self, trace_id: Option<&str>) {
        let _ = trace_id;
    }

    /// The outermost trace ends; `trace_map` is the shape of every event it held.
    fn end_trace(&self, trace_id: Option<&str>, trace_map: &TraceMap) {
        let _ = (trace_id, trace_map);
    }

    /// Event types whose starts this handler is not told about.
    fn event_starts_to_ignore(&self) -> &[CBEventType] {
        &[]
    }

    /// Event types whose ends this handler is not told about.
    fn event_ends_to_ignore(&self) -> &[CBEventType] {
        &[]
    }
}

/// The error a [`CallbackHandler`] returns; it reaches the code that opened or closed the event.
///
/// ```
/// use instrument::callbacks::CallbackError;
///
/// let err = CallbackError::handler("TokenCountingHandler", "Token budget exceeded! Limit: 10, Current: 12");
/// assert_eq!(err.to_string(), "TokenCountingHandler: Token budget exceeded! Limit: 10, Current: 12");
/// assert_eq!(err.message(), "Token budget exceeded! Limit: 10, Current: 12");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// A handler refused the event, with a message.
    #[error("{handler}: {message}")]
    Handler {
        /// The handler's name.
        handler: String,
        /// What went wrong.
        message: String,
    },
    /// A handler failed because of another error.
    #[error("{handler}: {source}")]
    Source {
        /// The handler's name.
        handler: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl CallbackError {
    /// A [`CallbackError::Handler`] error.
    #[must_use]
    pub fn handler(handler: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Handler {
            handler: handler.into(),
            message: message.into(),
        }
    }

    /// A [`CallbackError::Source`] error.
    #[must_use]
    pub fn from_source(
        handler: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self::Source {
            handler: handler.into(),
            source: source.into(),
        }
    }

    /// The name of the handler that failed.
    #[must_use]
    pub fn handler_name(&self) -> &str {
        match self {
            Self::Handler { handler, .. } | Self::Source { handler, .. } => handler,
        }
    }

    /// The message, without the handler's name.
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            Self::Handler { message, .. } => message.clone(),
            Self::Source { source, .. } => source.to_string(),
        }
    }
}
