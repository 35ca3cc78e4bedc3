//! Which GenAI operation a span records, from `gen_ai.operation.name` or, on spans of older
//! instrumentations that lack it, from the fields only an inference span has.

use super::{names, value};
use crate::tracing_bridge::fields::Fields;

/// The operations the bridge turns into catalog events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operation {
    /// `chat` or `generate_content`: a conversation in, a message out.
    Chat,
    /// `text_completion`: a prompt in, text out.
    Completion,
    /// `embeddings`.
    Embeddings,
    /// `execute_tool`: a tool the model asked for, run.
    ExecuteTool,
    /// `invoke_agent`: an agent answering a prompt, step by step.
    InvokeAgent,
}

impl Operation {
    /// The operation `fields` record; `None` for spans outside the conventions and for operations
    /// the catalog has no events for (`create_agent`, `rerank`, `retrieval`, …).
    ///
    /// A span without `gen_ai.operation.name` but with `gen_ai.system`, `gen_ai.provider.name` or
    /// `gen_ai.request.model` is taken for a chat, as instrumentations written before the operation
    /// name existed recorded only those.
    pub(super) fn of(fields: &Fields) -> Option<Self> {
        match value::text(fields, names::OPERATION) {
            Some(name) => Self::named(name),
            None => [names::SYSTEM, names::PROVIDER, names::REQUEST_MODEL]
                .iter()
                .any(|name| fields.get(name).is_some())
                .then_some(Self::Chat),
        }
    }

    fn named(name: &str) -> Option<Self> {
        match name {
            "chat" | "generate_content" => Some(Self::Chat),
            "text_completion" => Some(Self::Completion),
            "embeddings" => Some(Self::Embeddings),
            "execute_tool" => Some(Self::ExecuteTool),
            "invoke_agent" => Some(Self::InvokeAgent),
            _ => None,
        }
    }
}
