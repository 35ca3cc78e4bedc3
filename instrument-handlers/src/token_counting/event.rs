//! `TokenCountingEvent`: the tokens, and the cost, of one LLM call or one embedded chunk.

use super::cost::Cost;

/// The tokens of one LLM call, or of one chunk sent to an embedding model (LlamaIndex's
/// `TokenCountingEvent`), with the model and what it cost when they are known.
///
/// For an embedded chunk, `prompt` is the chunk, `completion` is empty and its count zero.
/// Serialised, it has LlamaIndex's fields, plus `model`, `cached_prompt_token_count` and `cost`
/// when they are known and not zero.
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
    /// The model that served the call, as the response or the call's start named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Of the prompt tokens, those the provider read from its cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cached_prompt_token_count: u64,
    /// What the call (or the chunk) cost, when its model has a price for every kind of token it
    /// used; see [`cost_of`](super::cost_of).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<Cost>,
}

// A reference is what `skip_serializing_if` passes.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u64) -> bool {
    *n == 0
}
