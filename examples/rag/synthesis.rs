//! Writing the answer: a prompt from the question and the chosen chunks, streamed through the LLM.

use instrument::events::{SynthesizeEndEvent, SynthesizeStartEvent};
use instrument::llm::{ChatMessage, NodeWithScore, QueryType};
use instrument::span;
use serde_json::{Value, json};

use super::dispatcher;
use super::llm::{Llm, next, stream_chat};

/// The system prompt of every answer.
pub const SYSTEM_PROMPT: &str =
    "You answer questions about tracing from the context alone, quoting it.";

/// Asks its LLM to answer a question from a few chunks.
#[derive(Debug)]
pub struct Synthesizer<L> {
    /// The model that writes the answer.
    pub llm: L,
}

/// What the synthesizer produced: the answer and the usage the LLM reported.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Synthesis {
    /// The answer.
    pub text: String,
    /// The provider's `usage` object from its last chunk (`Null` if it sent none).
    pub usage: Value,
}

impl<L: Llm> Synthesizer<L> {
    /// The chat sent for `query` over `nodes`: a system prompt, then the context and the question.
    #[must_use]
    pub fn messages(query: &str, nodes: &[NodeWithScore]) -> Vec<ChatMessage> {
        let context: Vec<String> = nodes
            .iter()
            .map(|hit| format!("[{}] {}", hit.id(), hit.text()))
            .collect();
        vec![
            ChatMessage::system(SYSTEM_PROMPT),
            ChatMessage::user(format!(
                "Context:\n{}\n\nQuestion: {query}",
                context.join("\n")
            )),
        ]
    }

    /// Answers `query` from `nodes`, handing each streamed piece to `on_token` as it arrives.
    #[span(skip(on_token))]
    pub async fn synthesize(
        &self,
        query: &str,
        nodes: &[NodeWithScore],
        on_token: &mut (dyn FnMut(&str) + Send),
    ) -> Synthesis {
        let dispatcher = dispatcher!();
        dispatcher.event(SynthesizeStartEvent {
            query: QueryType::from(query),
        });
        let mut stream = stream_chat(&self.llm, Self::messages(query, nodes));
        let mut last = None;
        while let Some(response) = next(&mut stream).await {
            on_token(response.delta.as_deref().unwrap_or_default());
            last = Some(response);
        }
        let text = last
            .as_ref()
            .map(|response| response.message.text().to_owned())
            .unwrap_or_default();
        let usage = last
            .as_ref()
            .and_then(|response| response.usage().cloned())
            .unwrap_or(Value::Null);
        dispatcher.event(SynthesizeEndEvent {
            query: QueryType::from(query),
            response: json!({
                "response": text,
                "source_nodes": nodes,
                "metadata": {"usage": usage},
            }),
        });
        Synthesis { text, usage }
    }
}
