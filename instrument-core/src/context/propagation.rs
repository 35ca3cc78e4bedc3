//! Carrying a span's context across process boundaries as a small serialisable map.

use serde_json::{Map, Value};

use crate::context::current::{Context, ContextGuard};
use crate::context::tags::Tags;
use crate::context::traceparent::TraceParent;
use crate::dispatch::dispatcher::Dispatcher;
use crate::span::id::{ParseSpanIdError, SpanId, clip};

/// Why a propagation context could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropagationError {
    /// The context is not a JSON object.
    #[error("propagation context must be a JSON object, got {0}")]
    NotAnObject(String),
    /// `span_id` is neither null nor a span id string.
    #[error("propagation context has a bad span_id: {0}")]
    BadSpanId(#[from] ParseSpanIdError),
    /// `span_id` is not a string.
    #[error("propagation context's span_id must be a string, got {0}")]
    SpanIdNotString(String),
    /// `tags` is not an object.
    #[error("propagation context's tags must be an object, got {0}")]
    BadTags(String),
    /// `traceparent` is not a valid W3C `traceparent` header (or `tracestate` is not a string).
    #[error("propagation context has a bad traceparent: {0}")]
    BadTraceParent(String),
    /// `handlers` is not an object.
    #[error("propagation context's handlers must be an object, got {0}")]
    BadHandlers(String),
}

/// The current span and tags in a form that crosses process boundaries: a JSON object with
/// `span_id`, `tags` (only when there are some), and the span's W3C trace as `traceparent` (and
/// `tracestate` when the trace came with one), so that spans on the other side are exported in
/// the same trace; outside any span, only the tags. Captured through a dispatcher
/// ([`Dispatcher::capture_propagation_context`]), it also carries what the span handlers of its
/// chain asked for, as `handlers`.
///
/// ```
/// use instrument::{capture_propagation_context, with_propagation_context, Context};
///
/// let carried = capture_propagation_context().to_json(); // send this along with a request
/// assert_eq!(carried, serde_json::json!({}));
///
/// // On the other side: spans made inside become children of the sender's span.
/// let inside = with_propagation_context(&carried, Context::current).unwrap();
/// assert!(inside.span_id().is_none());
///
/// let bad = serde_json::json!({"span_id": 42});
/// assert!(with_propagation_context(&bad, || ()).is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PropagationContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    span_id: Option<SpanId>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    tags: Tags,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    traceparent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tracestate: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    handlers: Map<String, Value>,
}

impl PropagationContext {
    /// The captured span.
    #[must_use]
    pub fn span_id(&self) -> Option<SpanId> {
        self.span_id
    }

    /// The captured tags.
    #[must_use]
    pub fn tags(&self) -> &Tags {
        &self.tags
    }

    /// The W3C trace carried, as a `traceparent` header, if any.
    #[must_use]
    pub fn traceparent(&self) -> Option<&str> {
        self.traceparent.as_deref()
    }

    /// What the span handlers carried ([`crate::SpanHandler::capture_propagation_context`]).
    #[must_use]
    pub fn handlers(&self) -> &Map<String, Value> {
        &self.handlers
    }

    /// As a JSON object.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        if let Some(id) = self.span_id {
            map.insert("span_id".into(), Value::String(id.to_string()));
        }
        if !self.tags.is_empty() {
            map.insert("tags".into(), self.tags.to_json());
        }
        if let Some(traceparent) = &self.traceparent {
            map.insert("traceparent".into(), Value::String(traceparent.clone()));
        }
        if let Some(tracestate) = &self.tracestate {
            map.insert("tracestate".into(), Value::String(tracestate.clone()));
        }
        if !self.handlers.is_empty() {
            map.insert("handlers".into(), Value::Object(self.handlers.clone()));
        }
        Value::Object(map)
    }

    /// Reads a context made by [`PropagationContext::to_json`]. Unknown keys are ignored.
    ///
    /// # Errors
    /// When `value` is not an object, or `span_id` or `tags` is malformed.
    pub fn from_json(value: &Value) -> Result<Self, PropagationError> {
        let Value::Object(map) = value else {
            return Err(PropagationError::NotAnObject(clip(&value.to_string())));
        };
        let span_id = match map.get("span_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.parse::<SpanId>()?),
            Some(other) => return Err(PropagationError::SpanIdNotString(clip(&other.to_string()))),
        };
        let tags = match map.get("tags") {
            None | Some(Value::Null) => Tags::new(),
            Some(Value::Object(tags)) => tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Some(other) => return Err(PropagationError::BadTags(clip(&other.to_string()))),
        };
        let text = |key: &str| match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(PropagationError::BadTraceParent(format!(
                "{key} must be a string, got {}",
                clip(&other.to_string())
            ))),
        };
        let traceparent = text("traceparent")?;
        if let Some(header) = &traceparent {
            TraceParent::parse(header)
                .map_err(|error| PropagationError::BadTraceParent(error.to_string()))?;
        }
        let tracestate = text("tracestate")?;
        let handlers = match map.get("handlers") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(handlers)) => handlers.clone(),
            Some(other) => return Err(PropagationError::BadHandlers(clip(&other.to_string()))),
        };
        Ok(Self {
            span_id,
            tags,
            traceparent,
            tracestate,
            handlers,
        })
    }

    /// The in-process context this describes: its span as the parent of new spans, its tags, and
    /// the W3C trace it continues.
    #[must_use]
    pub fn to_context(&self) -> Context {
        let cx = Context::new(self.span_id, self.tags.clone());
        match self
            .traceparent
            .as_deref()
            .and_then(|header| TraceParent::parse(header).ok())
        {
            Some(trace) => cx.continuing(TraceParent {
                tracestate: self.tracestate.clone(),
                ..trace
            }),
            None => cx,
        }
    }
}

/// The current span and tags, to send to another thread, task or process.
#[must_use]
pub fn capture_propagation_context() -> PropagationContext {
    let cx = Context::current();
    let trace = TraceParent::from_context(&cx);
    PropagationContext {
        span_id: cx.span,
        tags: cx.tags,
        traceparent: trace.as_ref().map(ToString::to_string),
        tracestate: trace.and_then(|trace| trace.tracestate),
        handlers: Map::new(),
    }
}

/// Makes a captured context current until the guard drops: new spans become children of its span.
///
/// # Errors
/// When `value` is malformed; the current context is then left as it was.
pub fn restore_propagation_context(value: &Value) -> Result<ContextGuard, PropagationError> {
    Ok(PropagationContext::from_json(value)?.to_context().attach())
}

/// Runs `f` in a captured context: the scope form of [`restore_propagation_context`].
///
/// # Errors
/// When `value` is malformed; `f` is then not run.
pub fn with_propagation_context<R>(
    value: &Value,
    f: impl FnOnce() -> R,
) -> Result<R, PropagationError> {
    Ok(PropagationContext::from_json(value)?.to_context().scope(f))
}

impl Dispatcher {
    /// [`capture_propagation_context`], with what every span handler of this dispatcher's chain
    /// carries ([`crate::SpanHandler::capture_propagation_context`]) merged into `handlers`. A
    /// handler that panics adds nothing, and is counted like any handler fault.
    #[must_use]
    pub fn capture_propagation_context(&self) -> PropagationContext {
        let mut captured = capture_propagation_context();
        let shared = self.shared();
        for handler in self.chain().span_handlers(shared.as_deref()) {
            handler.capture_propagation(&mut captured.handlers);
        }
        captured
    }

    /// [`restore_propagation_context`], first handing the context's `handlers` to every span
    /// handler of this dispatcher's chain ([`crate::SpanHandler::restore_propagation_context`]);
    /// a handler that panics is isolated, and the context is restored all the same.
    ///
    /// # Errors
    /// When `value` is malformed; no handler is called and the current context is left as it was.
    pub fn restore_propagation_context(
        &self,
        value: &Value,
    ) -> Result<ContextGuard, PropagationError> {
        let captured = PropagationContext::from_json(value)?;
        let shared = self.shared();
        for handler in self.chain().span_handlers(shared.as_deref()) {
            handler.restore_propagation(&captured.handlers);
        }
        Ok(captured.to_context().attach())
    }
}
