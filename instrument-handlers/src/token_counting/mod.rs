//! Token counting: reading providers' usage reports, counting tokens when they report none, and
//! [`TokenCountingHandler`], which does both for every LLM and embedding call.

mod budget;
mod event;
mod handler;
mod payload;
mod tokenizer;
mod usage;

pub use budget::TokenBudgetExceeded;
pub use event::TokenCountingEvent;
pub use handler::TokenCountingHandler;
pub use tokenizer::Tokenizer;
pub use usage::{Usage, usage_from};
