//! `TokenBudgetExceeded`: the error of going over a token budget.

/// More LLM tokens were counted than the budget allows; see
/// [`TokenCountingHandler::with_token_budget`](super::TokenCountingHandler::with_token_budget).
///
/// ```
/// use instrument::handlers::token_counting::TokenBudgetExceeded;
///
/// let err = TokenBudgetExceeded { limit: 100, current: 120 };
/// assert_eq!(err.to_string(), "Token budget exceeded! Limit: 100, Current: 120");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Token budget exceeded! Limit: {limit}, Current: {current}")]
pub struct TokenBudgetExceeded {
    /// The budget, in tokens.
    pub limit: u64,
    /// The LLM tokens counted so far.
    pub current: u64,
}
