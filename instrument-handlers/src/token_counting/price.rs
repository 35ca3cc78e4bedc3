//! `Price`: what one model charges per million tokens of each kind.

/// A rate in picodollars per token, which is the same number as microdollars per million tokens
/// (see [`Usd`](super::Usd) for why money is kept in whole picodollars).
pub(crate) type Rate = u64;

/// The largest price accepted, in dollars per million tokens: a dollar a token.
const MAX_PER_MILLION: f64 = 1_000_000.0;

/// The rates of one price tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rates {
    pub(crate) prompt: Rate,
    pub(crate) completion: Rate,
    pub(crate) cached_prompt: Option<Rate>,
    pub(crate) cache_write: Option<Rate>,
    pub(crate) cache_write_1h: Option<Rate>,
}

/// Rates for calls whose prompt is longer than `above` tokens; `None` when those calls have no
/// known price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LongContext {
    pub(crate) above: u64,
    pub(crate) rates: Option<Rates>,
}

/// What a model charges, in US dollars per million tokens: prompt (input) and completion (output)
/// tokens, and, where the provider bills them apart, prompt tokens read from its cache and written
/// to it (five-minute and one-hour writes), and a long-context tier.
///
/// A kind of token the price does not name has no known price: a call that used it gets no cost
/// (see [`cost_of`](super::cost_of)) rather than one with those tokens billed at some other rate.
/// So name the cached-prompt rate of a model whose provider caches prompts by itself (OpenAI,
/// Gemini), even if it is the prompt rate. Embedding models have a prompt rate and a completion
/// rate of zero (they produce no tokens).
///
/// Prices are kept to a millionth of a dollar per million tokens (a picodollar per token); a price
/// given with more decimals is rounded to that.
///
/// ```
/// use instrument::handlers::token_counting::{Price, PriceError};
///
/// // $2.50 per million prompt tokens, $1.25 when read from the cache, $10 per million completion
/// // tokens; above 200,000 prompt tokens a call costs twice as much.
/// let price = Price::per_million(2.50, 10.0)?
///     .with_cached_prompt(1.25)?
///     .with_long_context(200_000, Price::per_million(5.0, 20.0)?.with_cached_prompt(2.5)?);
///
/// assert!(Price::per_million(-1.0, 0.0).is_err());
/// # Ok::<(), PriceError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    pub(crate) base: Rates,
    pub(crate) long: Option<LongContext>,
}

/// A price that cannot be one: negative, not a number, infinite or over a dollar a token, or a
/// table entry with no model name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PriceError {
    /// A rate outside 0 to 1,000,000 dollars per million tokens.
    #[error(
        "the {kind} price must be a number of dollars per million tokens from 0 to 1000000, not {value}"
    )]
    OutOfRange {
        /// Which rate: `prompt`, `completion`, `cached prompt`, `cache write` or `one-hour cache
        /// write`.
        kind: &'static str,
        /// The value given.
        value: f64,
    },
    /// A price table entry whose model name is empty (or only spaces and slashes).
    #[error("a price table entry needs a model name")]
    EmptyModelName,
}

/// `per_million` dollars per million tokens as a [`Rate`].
fn rate(kind: &'static str, per_million: f64) -> Result<Rate, PriceError> {
    if !(0.0..=MAX_PER_MILLION).contains(&per_million) {
        return Err(PriceError::OutOfRange {
            kind,
            value: per_million,
        });
    }
    // In range, so the product is at most 10¹² and fits a u64 exactly.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok((per_million * 1_000_000.0).round() as Rate)
}

impl Price {
    /// `prompt` dollars per million prompt tokens and `completion` dollars per million completion
    /// tokens; no cache rates and no long-context tier.
    ///
    /// # Errors
    /// [`PriceError::OutOfRange`] when either is negative, not finite or over 1,000,000.
    pub fn per_million(prompt: f64, completion: f64) -> Result<Self, PriceError> {
        Ok(Self::micros(
            rate("prompt", prompt)?,
            rate("completion", completion)?,
        ))
    }

    /// The price, with prompt tokens read from the provider's cache at `per_million` dollars per
    /// million.
    ///
    /// # Errors
    /// [`PriceError::OutOfRange`] when `per_million` is negative, not finite or over 1,000,000.
    pub fn with_cached_prompt(self, per_million: f64) -> Result<Self, PriceError> {
        Ok(self.cached(rate("cached prompt", per_million)?))
    }

    /// The price, with prompt tokens written to the provider's cache for five minutes (Anthropic's
    /// default) at `per_million` dollars per million. One-hour writes have their own rate,
    /// [`with_cache_write_1h`](Self::with_cache_write_1h).
    ///
    /// # Errors
    /// [`PriceError::OutOfRange`] when `per_million` is negative, not finite or over 1,000,000.
    pub fn with_cache_write(mut self, per_million: f64) -> Result<Self, PriceError> {
        self.base.cache_write = Some(rate("cache write", per_million)?);
        Ok(self)
    }

    /// The price, with prompt tokens written to the provider's cache for an hour (Anthropic) at
    /// `per_million` dollars per million.
    ///
    /// # Errors
    /// [`PriceError::OutOfRange`] when `per_million` is negative, not finite or over 1,000,000.
    pub fn with_cache_write_1h(mut self, per_million: f64) -> Result<Self, PriceError> {
        self.base.cache_write_1h = Some(rate("one-hour cache write", per_million)?);
        Ok(self)
    }

    /// The price, with every token of a call whose prompt (cache reads and writes included) is
    /// longer than `above_prompt_tokens` billed at `long`'s rates instead (Gemini 2.5 Pro above
    /// 200,000 tokens, for one). `long`'s own long-context tier, if any, is not used.
    #[must_use]
    pub const fn with_long_context(self, above_prompt_tokens: u64, long: Price) -> Self {
        self.long_tier(above_prompt_tokens, Some(long.base))
    }

    /// The price, with no known price for a call whose prompt (cache reads and writes included) is
    /// longer than `prompt_tokens`: the provider bills such calls otherwise, at rates this price
    /// does not know.
    #[must_use]
    pub const fn unpriced_above(self, prompt_tokens: u64) -> Self {
        self.long_tier(prompt_tokens, None)
    }

    /// Prompt and completion rates in microdollars per million tokens.
    pub(crate) const fn micros(prompt: Rate, completion: Rate) -> Self {
        Self {
            base: Rates {
                prompt,
                completion,
                cached_prompt: None,
                cache_write: None,
                cache_write_1h: None,
            },
            long: None,
        }
    }

    /// The price, with cache reads at `rate` microdollars per million.
    pub(crate) const fn cached(mut self, rate: Rate) -> Self {
        self.base.cached_prompt = Some(rate);
        self
    }

    /// The price, with five-minute and one-hour cache writes at these microdollars per million.
    pub(crate) const fn writes(mut self, five_minutes: Rate, one_hour: Rate) -> Self {
        self.base.cache_write = Some(five_minutes);
        self.base.cache_write_1h = Some(one_hour);
        self
    }

    const fn long_tier(mut self, above: u64, rates: Option<Rates>) -> Self {
        self.long = Some(LongContext { above, rates });
        self
    }

    /// The rates that apply to a call with `prompt_tokens` prompt tokens; `None` when such a call
    /// has no known price.
    pub(crate) fn rates_for(&self, prompt_tokens: u64) -> Option<&Rates> {
        match &self.long {
            Some(long) if prompt_tokens > long.above => long.rates.as_ref(),
            _ => Some(&self.base),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_kept_to_the_microdollar_per_million() {
        let price = Price::per_million(0.075, 0.3)
            .unwrap()
            .with_cached_prompt(0.01875)
            .unwrap();
        assert_eq!(price, Price::micros(75_000, 300_000).cached(18_750));
        assert_eq!(
            Price::per_million(0.000_000_4, 0.000_000_6).unwrap(),
            Price::micros(0, 1)
        );
    }

    #[test]
    fn out_of_range_rates_are_errors_naming_the_rate() {
        for value in [-0.01, f64::NAN, f64::INFINITY, 1_000_000.5] {
            let err = Price::per_million(1.0, value).unwrap_err();
            assert!(
                matches!(
                    err,
                    PriceError::OutOfRange {
                        kind: "completion",
                        ..
                    }
                ),
                "{value}: {err}"
            );
        }
        let err = Price::per_million(1.0, 1.0)
            .unwrap()
            .with_cache_write_1h(-2.0)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the one-hour cache write price must be a number of dollars per million tokens from 0 \
             to 1000000, not -2"
        );
    }

    #[test]
    fn the_long_tier_applies_above_its_threshold_only() {
        let short = Price::micros(1, 2);
        let long = Price::micros(3, 4);
        let price = short.with_long_context(100, long);
        assert_eq!(price.rates_for(100), Some(&short.base));
        assert_eq!(price.rates_for(101), Some(&long.base));
        assert_eq!(short.unpriced_above(100).rates_for(101), None);
        assert_eq!(short.rates_for(u64::MAX), Some(&short.base));
    }
}
