//! Who speaks a chat message.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The author of a [`ChatMessage`](super::ChatMessage), serialised in lowercase (`"user"`,
/// `"assistant"`, ...) as `LlamaIndex`'s `MessageRole` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    /// Instructions that frame the conversation.
    System,
    /// Instructions from the application developer (`OpenAI`'s successor to `system`).
    Developer,
    /// The person using the application; the default, as in `LlamaIndex`.
    #[default]
    User,
    /// The model.
    Assistant,
    /// The result of a function call, in `OpenAI`'s legacy function-calling protocol.
    Function,
    /// The result of a tool call.
    Tool,
    /// The model, in Cohere's vocabulary.
    Chatbot,
    /// The model, in Google's vocabulary.
    Model,
}

impl MessageRole {
    /// The role's name as serialised: `"system"`, `"user"`, ...
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Developer => "developer",
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::Function => "function",
            Self::Tool => "tool",
            Self::Chatbot => "chatbot",
            Self::Model => "model",
        }
    }
}

impl MessageRole {
    /// The role whose serialised name is `name` (the inverse of [`MessageRole::as_str`]), if any.
    ///
    /// ```
    /// use instrument::llm::MessageRole;
    ///
    /// assert_eq!(MessageRole::from_name("assistant"), Some(MessageRole::Assistant));
    /// assert_eq!(MessageRole::from_name("Assistant"), None);
    /// ```
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::System,
            Self::Developer,
            Self::User,
            Self::Assistant,
            Self::Function,
            Self::Tool,
            Self::Chatbot,
            Self::Model,
        ]
        .into_iter()
        .find(|role| role.as_str() == name)
    }
}

impl fmt::Display for MessageRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
