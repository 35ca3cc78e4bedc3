//! What a chat model answers.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ChatMessage;

/// A chat model's answer: the message, the newest piece of it while streaming (`delta`), and the
/// provider's raw response, where its token usage lives (`{"usage": {"prompt_tokens": ..}}`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The answer so far (all of it once the stream ends).
    pub message: ChatMessage,
    /// While streaming, the text that arrived last.
    #[serde(default)]
    pub delta: Option<String>,
    /// The provider's response as it came, usage included.
    #[serde(default)]
    pub raw: Option<Value>,
    /// Anything else the integration reports.
    #[serde(default)]
    pub additional_kwargs: Map<String, Value>,
}

impl ChatResponse {
    /// A response holding `message`, with no delta, raw response or extras.
    #[must_use]
    pub fn new(message: ChatMessage) -> Self {
        Self {
            message,
            ..Self::default()
        }
    }

    response_methods!();
}

/// The message, as `role: content`.
impl fmt::Display for ChatResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.message.fmt(f)
    }
}
