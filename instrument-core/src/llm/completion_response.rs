//! What a completion model answers.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A completion model's answer: the text, the newest piece of it while streaming (`delta`), and the
/// provider's raw response, where its token usage lives (`{"usage": {"prompt_tokens": ..}}`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CompletionResponse {
    /// The text so far (all of it once the stream ends).
    pub text: String,
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

impl CompletionResponse {
    /// A response holding `text`, with no delta, raw response or extras.
    #[must_use]
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    response_methods!();
}

/// The text.
impl fmt::Display for CompletionResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
