//! The data that LLM events carry: chat messages and their roles, completion and chat responses,
//! nodes with scores, queries, embeddings and tool descriptions.
//!
//! These are the shapes of `LlamaIndex`'s own types, serialised with the same field names, so that an
//! event written out by `instrument` reads like one written by `LlamaIndex`. Every type here is
//! `Serialize` and `Deserialize`: handlers that keep events as JSON can read them back.
//!
//! ```
//! use instrument::llm::{ChatMessage, ChatResponse, MessageRole};
//!
//! let question = ChatMessage::user("What is Rust?");
//! let answer = ChatResponse::new(ChatMessage::assistant("A language."))
//!     .with_raw(serde_json::json!({"usage": {"prompt_tokens": 4, "completion_tokens": 3}}));
//! assert_eq!(question.role, MessageRole::User);
//! assert_eq!(answer.usage().unwrap()["prompt_tokens"], 4);
//! ```

/// The builder and accessor methods that [`ChatResponse`] and [`CompletionResponse`] share; used
/// inside their `impl` blocks, on types with `delta: Option<String>` and `raw: Option<Value>`.
macro_rules! response_methods {
    () => {
        /// The response with its streaming `delta`.
        #[must_use]
        pub fn with_delta(mut self, delta: impl Into<String>) -> Self {
            self.delta = Some(delta.into());
            self
        }

        /// The response with the provider's `raw` response.
        #[must_use]
        pub fn with_raw(mut self, raw: Value) -> Self {
            self.raw = Some(raw);
            self
        }

        /// The provider's usage report, `raw["usage"]`, when there is one.
        #[must_use]
        pub fn usage(&self) -> Option<&Value> {
            self.raw.as_ref()?.get("usage")
        }
    };
}

mod chat_message;
mod chat_response;
mod completion_response;
mod embedding;
mod message_role;
mod node;
mod node_with_score;
mod query_bundle;
pub mod stream;
mod tool_metadata;

pub use chat_message::ChatMessage;
pub use chat_response::ChatResponse;
pub use completion_response::CompletionResponse;
pub use embedding::{Embedding, SparseEmbedding};
pub use message_role::MessageRole;
pub use node::{Node, TextNode};
pub use node_with_score::NodeWithScore;
pub use query_bundle::{QueryBundle, QueryType};
pub use tool_metadata::ToolMetadata;
