//! `TokenCountingEvent`: the tokens of one LLM call or one embedded chunk.

/// The tokens of one LLM call, or of one chunk sent to an embedding model (LlamaIndex's
/// `TokenCountingEvent`).
///
/// For an embedded chunk, `prompt` is the chunk, `completion` is empty and its count zero.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct TokenCountingEvent {
    /// The id of the callback event, or of the instrumentation event, counted.
    pub event_id: String,
    /// The prompt as text: a completion prompt, chat messages as `role: content` lines, or a chunk.
    pub prompt: String,
    /// Tokens in the prompt.
    pub prompt_token_count: u64,
    /// The completion as text: a completion's text, or a chat answer as `role: content`.
    pub completion: String,
    /// Tokens in the completion.
    pub completion_token_count: u64,
    /// Prompt plus completion tokens.
    pub total_token_count: u64,
}
