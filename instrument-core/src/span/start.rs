//! What span handlers see when a span starts.

use crate::context::tags::Tags;
use crate::span::clock::Timestamp;
use crate::span::id::SpanId;
use crate::values::args::Arg;

/// What span handlers see when a span starts.
#[derive(Debug)]
pub struct SpanStart<'a> {
    pub(crate) id: SpanId,
    pub(crate) parent: Option<SpanId>,
    pub(crate) trace: u128,
    pub(crate) start: Timestamp,
    pub(crate) tags: &'a Tags,
    pub(crate) args: &'a [Arg<'a>],
    pub(crate) instance: Option<&'static str>,
    pub(crate) dispatcher: &'static str,
}

impl<'a> SpanStart<'a> {
    /// The new span's id.
    #[must_use]
    pub fn id(&self) -> SpanId {
        self.id
    }

    /// The span's name (`Type.method` for methods, the function's name otherwise).
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.id.name()
    }

    /// The span that was current when this one started.
    #[must_use]
    pub fn parent_id(&self) -> Option<SpanId> {
        self.parent
    }

    /// The W3C trace-id of the span's trace: the UUID of its local root span, or the remote trace
    /// its context continues. Every exporter names the span's trace by it, and a `traceparent`
    /// injected inside the span carries it.
    #[must_use]
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace.to_be_bytes()
    }

    /// When the span started.
    #[must_use]
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// The tags active when the span started.
    #[must_use]
    pub fn tags(&self) -> &'a Tags {
        self.tags
    }

    /// The bound arguments as passed, `self` excluded, in signature order. Values are read lazily:
    /// keep what you need, as the arguments may be gone when the span ends.
    #[must_use]
    pub fn args(&self) -> &'a [Arg<'a>] {
        self.args
    }

    /// The argument called `name`.
    #[must_use]
    pub fn arg(&self, name: &str) -> Option<&'a Arg<'a>> {
        self.args.iter().find(|a| a.name() == name)
    }

    /// For a method, the full type name of `Self` (LlamaIndex's `instance`).
    #[must_use]
    pub fn instance(&self) -> Option<&'static str> {
        self.instance
    }

    /// The name of the dispatcher the span was made on.
    #[must_use]
    pub fn dispatcher(&self) -> &'static str {
        self.dispatcher
    }
}
