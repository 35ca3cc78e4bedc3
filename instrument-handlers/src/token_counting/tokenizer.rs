//! Counting tokens of text when a provider reports none.

use std::fmt;
use std::sync::Arc;

/// Counts the tokens of a text: `cl100k_base` (the tokenizer of OpenAI's GPT-3.5/4 family, bundled
/// with `tiktoken-rs`, no download) by default, or any function you give.
///
/// ```
/// use instrument::handlers::token_counting::Tokenizer;
///
/// let words = Tokenizer::new(|text| text.split_whitespace().count());
/// assert_eq!(words.count("three little words"), 3);
///
/// # #[cfg(feature = "tiktoken")] {
/// let cl100k = Tokenizer::cl100k_base();
/// assert_eq!(cl100k.count("hello world"), 2);
/// # }
/// ```
#[derive(Clone)]
pub struct Tokenizer(Arc<dyn Fn(&str) -> usize + Send + Sync>);

impl Tokenizer {
    /// A tokenizer from a counting function.
    pub fn new(count: impl Fn(&str) -> usize + Send + Sync + 'static) -> Self {
        Self(Arc::new(count))
    }

    /// OpenAI's `cl100k_base`, from the encoding bundled with `tiktoken-rs`. The encoding (about
    /// 25 MB, some 70 ms to build) is loaded when a text is first counted, so a handler whose
    /// providers always report their usage never loads it; [`warm_up`](Self::warm_up) loads it
    /// at once, for programs that would rather pay at start-up than in the first call counted.
    #[cfg(feature = "tiktoken")]
    #[must_use]
    pub fn cl100k_base() -> Self {
        Self::new(|text| {
            tiktoken_rs::cl100k_base_singleton()
                .encode_with_special_tokens(text)
                .len()
        })
    }

    /// The tokens of `text`.
    #[must_use]
    pub fn count(&self, text: &str) -> usize {
        (self.0)(text)
    }

    /// Makes the tokenizer ready now (for `cl100k_base`, loads its encoding) rather than when it
    /// first counts.
    pub fn warm_up(&self) {
        let _ = self.count("");
    }
}

impl Default for Tokenizer {
    /// `cl100k_base` with the `tiktoken` feature (on by default); without it, an estimate of one token
    /// per four bytes, rounded up.
    fn default() -> Self {
        #[cfg(feature = "tiktoken")]
        {
            Self::cl100k_base()
        }
        #[cfg(not(feature = "tiktoken"))]
        {
            Self::new(|text| text.len().div_ceil(4))
        }
    }
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tokenizer")
    }
}
