//! The built-in event catalog: what a RAG pipeline reports, one type per moment, with `LlamaIndex`'s
//! class names and field names, so that a serialised event reads like `LlamaIndex`'s.
//!
//! | Family | Events |
//! |---|---|
//! | LLM | [`LLMPredictStartEvent`]/[`LLMPredictEndEvent`], [`LLMStructuredPredictStartEvent`]/[`LLMStructuredPredictInProgressEvent`]/[`LLMStructuredPredictEndEvent`], [`LLMCompletionStartEvent`]/[`LLMCompletionInProgressEvent`]/[`LLMCompletionEndEvent`], [`LLMChatStartEvent`]/[`LLMChatInProgressEvent`]/[`LLMChatEndEvent`], [`LLMToolCallEvent`] |
//! | Embedding | [`EmbeddingStartEvent`]/[`EmbeddingEndEvent`], [`SparseEmbeddingStartEvent`]/[`SparseEmbeddingEndEvent`] |
//! | Retrieval | [`RetrievalStartEvent`]/[`RetrievalEndEvent`] |
//! | Query | [`QueryStartEvent`]/[`QueryEndEvent`] |
//! | Synthesis | [`SynthesizeStartEvent`]/[`SynthesizeEndEvent`], [`GetResponseStartEvent`]/[`GetResponseEndEvent`] |
//! | Rerank | [`ReRankStartEvent`]/[`ReRankEndEvent`] |
//! | Agent | [`AgentRunStepStartEvent`]/[`AgentRunStepEndEvent`], [`AgentChatWithStepStartEvent`]/[`AgentChatWithStepEndEvent`], [`AgentToolCallEvent`] |
//! | Chunking | [`ChunkingStartEvent`]/[`ChunkingEndEvent`] |
//! | Node parsing | [`NodeParsingStartEvent`]/[`NodeParsingEndEvent`] |
//! | Errors | [`ExceptionEvent`] |
//! | Spans | [`SpanDropEvent`] |
//!
//! The data they carry (messages, responses, nodes, queries) is in [`crate::llm`]. Where `LlamaIndex`
//! holds an arbitrary object (a prompt template, an agent step, a query engine's response) the field
//! is a `serde_json::Value`, and where it holds a dict, a `serde_json::Map`.
//!
//! A handler picks out the events it wants by downcasting:
//!
//! ```
//! use std::sync::Mutex;
//! use instrument::events::LLMChatEndEvent;
//! use instrument::llm::{ChatMessage, ChatResponse};
//! use instrument::{EventEnvelope, EventHandler, get_dispatcher};
//!
//! /// Keeps the answer of every chat.
//! #[derive(Default)]
//! struct Answers(Mutex<Vec<String>>);
//!
//! impl EventHandler for Answers {
//!     fn handle(&self, event: &EventEnvelope<'_>) {
//!         if let Some(end) = event.downcast_ref::<LLMChatEndEvent>() {
//!             if let Some(response) = &end.response {
//!                 self.0.lock().unwrap().push(response.message.text().to_owned());
//!             }
//!         }
//!     }
//! }
//!
//! let dispatcher = get_dispatcher("doc::events");
//! let answers = dispatcher.add_event_handler(Answers::default());
//! dispatcher.event(LLMChatEndEvent {
//!     messages: vec![ChatMessage::user("2 + 2?")],
//!     response: Some(ChatResponse::new(ChatMessage::assistant("4"))),
//! });
//! assert_eq!(*answers.0.lock().unwrap(), ["4"]);
//! ```

mod agent;
mod chunking;
mod embedding;
mod exception;
mod llm;
mod node_parsing;
mod query;
mod rerank;
mod retrieval;
mod span;
mod synthesis;

pub use agent::{
    AgentChatWithStepEndEvent, AgentChatWithStepStartEvent, AgentRunStepEndEvent,
    AgentRunStepStartEvent, AgentToolCallEvent,
};
pub use chunking::{ChunkingEndEvent, ChunkingStartEvent};
pub use embedding::{
    EmbeddingEndEvent, EmbeddingStartEvent, SparseEmbeddingEndEvent, SparseEmbeddingStartEvent,
};
pub use exception::ExceptionEvent;
pub use llm::{
    LLMChatEndEvent, LLMChatInProgressEvent, LLMChatStartEvent, LLMCompletionEndEvent,
    LLMCompletionInProgressEvent, LLMCompletionStartEvent, LLMPredictEndEvent,
    LLMPredictStartEvent, LLMStructuredPredictEndEvent, LLMStructuredPredictInProgressEvent,
    LLMStructuredPredictStartEvent, LLMToolCallEvent,
};
pub use node_parsing::{NodeParsingEndEvent, NodeParsingStartEvent};
pub use query::{QueryEndEvent, QueryStartEvent};
pub use rerank::{ReRankEndEvent, ReRankStartEvent};
pub use retrieval::{RetrievalEndEvent, RetrievalStartEvent};
pub use span::SpanDropEvent;
pub use synthesis::{
    GetResponseEndEvent, GetResponseStartEvent, SynthesizeEndEvent, SynthesizeStartEvent,
};
