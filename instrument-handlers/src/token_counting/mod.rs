//! Token counting: reading providers' usage reports, and counting tokens when they report none.

mod tokenizer;
mod usage;

pub use tokenizer::Tokenizer;
pub use usage::{Usage, usage_from};
