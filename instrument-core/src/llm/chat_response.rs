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
}

/// The message, as `role: content`.
impl fmt::Display for ChatResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.message.fmt(f)
    }
}
