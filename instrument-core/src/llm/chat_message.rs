//! One message of a chat.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::MessageRole;

/// One message of a chat: who said it, what was said, and whatever else the provider attached
/// (tool calls, names, ids) in `additional_kwargs`.
///
/// ```
/// use instrument::llm::{ChatMessage, MessageRole};
///
/// let message = ChatMessage::user("What is the capital of France?")
///     .with_kwarg("name", "ada");
/// assert_eq!(message.role, MessageRole::User);
/// assert_eq!(message.to_string(), "user: What is the capital of France?");
/// assert_eq!(
///     serde_json::to_value(&message).unwrap(),
///     serde_json::json!({
///         "role": "user",
///         "content": "What is the capital of France?",
///         "additional_kwargs": {"name": "ada"},
///     }),
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who speaks.
    #[serde(default)]
    pub role: MessageRole,
    /// The text, if any: a message that only calls tools has none.
    #[serde(default)]
    pub content: Option<String>,
    /// Provider-specific extras, such as `tool_calls` or `name`.
    #[serde(default)]
    pub additional_kwargs: Map<String, Value>,
}

impl ChatMessage {
    /// A message from `role` with `content` and no extras.
    #[must_use]
    pub fn new(role: MessageRole, content: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(content.into()),
            additional_kwargs: Map::new(),
        }
    }

    /// A system message.
    #[must_use]
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(MessageRole::System, content)
    }

    /// A developer message.
    #[must_use]
    pub fn developer(content: impl Into<String>) -> Self {
        Self::new(MessageRole::Developer, content)
    }

    /// A user message.
    #[must_use]
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(MessageRole::User, content)
    }

    /// An assistant (model) message.
    #[must_use]
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(MessageRole::Assistant, content)
    }

    /// A tool result.
    #[must_use]
    pub fn tool(content: impl Into<String>) -> Self {
        Self::new(MessageRole::Tool, content)
    }

    /// The message with `key` set to `value` in its `additional_kwargs`.
    #[must_use]
    pub fn with_kwarg(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.additional_kwargs.insert(key.into(), value.into());
        self
    }

    /// The text, or `""` when there is none.
    #[must_use]
    pub fn text(&self) -> &str {
        self.content.as_deref().unwrap_or_default()
    }
}

/// `role: content`, the form `LlamaIndex` gives a message as text (and counts tokens of).
impl fmt::Display for ChatMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.role, self.text())
    }
}
