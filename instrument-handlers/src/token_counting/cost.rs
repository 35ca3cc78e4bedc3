//! `Cost`: what a call cost, kind of token by kind of token, and `cost_of`, which works it out.

use std::iter::Sum;
use std::ops::{Add, AddAssign};

use serde::{Deserialize, Serialize};

use super::money::Usd;
use super::price::{Price, Rate};
use super::price_table::PriceTable;
use super::usage::Usage;

/// What one call, or many, cost, in US dollars, by kind of token.
///
/// Serialised, each part is an exact decimal string (see [`Usd`]).
///
/// ```
/// use instrument::handlers::token_counting::{Cost, Usd};
///
/// let cents = |n: u128| Usd::from_picodollars(n * 10_000_000_000);
/// let cost = Cost { uncached_prompt: cents(3), cached_prompt: cents(1), completion: cents(5), ..Cost::default() };
/// assert_eq!(cost.prompt(), cents(4));
/// assert_eq!(cost.total().to_string(), "$0.09");
/// assert_eq!((cost + cost).total().dollars(), 0.18);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cost {
    /// Prompt tokens neither read from nor written to a cache, at the prompt rate.
    pub uncached_prompt: Usd,
    /// Prompt tokens read from the provider's cache, at the cached-prompt rate.
    pub cached_prompt: Usd,
    /// Prompt tokens written to the provider's cache, at the cache-write rates.
    pub cache_write: Usd,
    /// Completion tokens, at the completion rate.
    pub completion: Usd,
}

impl Cost {
    /// Every prompt token: uncached, cached and written to the cache.
    #[must_use]
    pub fn prompt(&self) -> Usd {
        self.uncached_prompt + self.cached_prompt + self.cache_write
    }

    /// Prompt and completion.
    #[must_use]
    pub fn total(&self) -> Usd {
        self.prompt() + self.completion
    }
}

impl Add for Cost {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            uncached_prompt: self.uncached_prompt + other.uncached_prompt,
            cached_prompt: self.cached_prompt + other.cached_prompt,
            cache_write: self.cache_write + other.cache_write,
            completion: self.completion + other.completion,
        }
    }
}

impl AddAssign for Cost {
    fn add_assign(&mut self, other: Self) {
        *self = *self + other;
    }
}

impl Sum for Cost {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), Add::add)
    }
}

/// What a call of `model` that used `usage` cost at `table`'s prices; `None` when the table has
/// no price for the model (see [`PriceTable`] for how a name finds its price) or the price does
/// not cover every kind of token the call used (see [`Price::cost`]).
///
/// ```
/// use instrument::handlers::token_counting::{PriceTable, Usage, cost_of};
///
/// // gpt-4o: $2.50 per million prompt tokens, $1.25 cached, $10 per million completion tokens.
/// let usage = Usage { prompt: 2_000, cached_prompt: 1_024, completion: 100, ..Usage::default() };
/// let cost = cost_of("gpt-4o-2024-08-06", &usage, &PriceTable::builtin()).unwrap();
/// assert_eq!(cost.uncached_prompt.to_string(), "$0.00244");
/// assert_eq!(cost.cached_prompt.to_string(), "$0.00128");
/// assert_eq!(cost.total().to_string(), "$0.00472");
///
/// assert_eq!(cost_of("my-own-model", &usage, &PriceTable::builtin()), None);
/// ```
#[must_use]
pub fn cost_of(model: &str, usage: &Usage, table: &PriceTable) -> Option<Cost> {
    table.price(model)?.cost(usage)
}

impl Price {
    /// What a call that used `usage` cost at this price; `None` when it used a kind of token the
    /// price has no rate for: cache reads, five-minute or one-hour cache writes, a prompt over an
    /// [unpriced](Self::unpriced_above) length, or audio input (no price here has an audio rate).
    ///
    /// The prompt tokens are split as the provider reported them: `cached_prompt` at the cached
    /// rate, `cache_write` at the cache-write rates (its `cache_write_1h` part at the one-hour
    /// rate), the rest at the prompt rate; parts reported larger than the prompt are cut to it.
    /// Cache writes are not billed as plain prompt tokens when the price has no rate for them:
    /// the one provider that reports them, Anthropic, charges more for them than for input.
    ///
    /// ```
    /// use instrument::handlers::token_counting::{Price, PriceError, Usage};
    ///
    /// let price = Price::per_million(3.0, 15.0)?.with_cached_prompt(0.30)?.with_cache_write(3.75)?;
    /// let usage = Usage { prompt: 1_000, cached_prompt: 600, cache_write: 300, completion: 50,
    ///                     ..Usage::default() };
    /// let cost = price.cost(&usage).unwrap();
    /// assert_eq!(cost.uncached_prompt.to_string(), "$0.0003");
    /// assert_eq!(cost.cached_prompt.to_string(), "$0.00018");
    /// assert_eq!(cost.cache_write.to_string(), "$0.001125");
    /// assert_eq!(cost.completion.to_string(), "$0.00075");
    ///
    /// // One-hour writes need a one-hour rate.
    /// assert_eq!(price.cost(&Usage { cache_write_1h: 300, ..usage }), None);
    /// # Ok::<(), PriceError>(())
    /// ```
    #[must_use]
    pub fn cost(&self, usage: &Usage) -> Option<Cost> {
        let rates = self.rates_for(usage.prompt)?;
        if usage.audio_prompt > 0 {
            return None;
        }
        let cached = usage.cached_prompt.min(usage.prompt);
        let writes = usage.cache_write.min(usage.prompt - cached);
        let writes_1h = usage.cache_write_1h.min(writes);
        let uncached = usage.prompt - cached - writes;
        Some(Cost {
            uncached_prompt: times(uncached, rates.prompt),
            cached_prompt: times_if(cached, rates.cached_prompt)?,
            cache_write: times_if(writes - writes_1h, rates.cache_write)?
                + times_if(writes_1h, rates.cache_write_1h)?,
            completion: times(usage.completion, rates.completion),
        })
    }
}

/// `tokens` at `rate`, exactly: at most (2⁶⁴)² picodollars, which a `u128` holds.
fn times(tokens: u64, rate: Rate) -> Usd {
    Usd::from_picodollars(u128::from(tokens) * u128::from(rate))
}

/// `tokens` at `rate`; nothing for no tokens, and `None` for some tokens at no known rate.
fn times_if(tokens: u64, rate: Option<Rate>) -> Option<Usd> {
    match (tokens, rate) {
        (0, _) => Some(Usd::ZERO),
        (_, rate) => rate.map(|rate| times(tokens, rate)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(prompt: u64, completion: u64) -> Usage {
        Usage {
            prompt,
            completion,
            ..Usage::default()
        }
    }

    #[test]
    fn tokens_times_rates_exactly() {
        // $0.075 and $0.30 per million: 75,000 and 300,000 picodollars a token.
        let price = Price::micros(75_000, 300_000);
        let cost = price.cost(&usage(7, 3)).unwrap();
        assert_eq!(cost.uncached_prompt.picodollars(), 525_000);
        assert_eq!(cost.completion.picodollars(), 900_000);
        assert_eq!(cost.total().picodollars(), 1_425_000);
        let max = price.cost(&usage(u64::MAX, u64::MAX)).unwrap();
        assert_eq!(max.completion.picodollars(), u128::from(u64::MAX) * 300_000);
    }

    #[test]
    fn each_kind_of_token_needs_its_rate() {
        let price = Price::micros(10, 20);
        assert!(price.cost(&usage(5, 5)).is_some());
        let cached = Usage {
            cached_prompt: 1,
            ..usage(5, 5)
        };
        assert_eq!(price.cost(&cached), None);
        assert!(price.cached(1).cost(&cached).is_some());
        let written = Usage {
            cache_write: 2,
            ..usage(5, 5)
        };
        assert_eq!(price.cost(&written), None);
        let one_hour = Usage {
            cache_write_1h: 2,
            ..written
        };
        assert_eq!(
            price
                .writes(12, 0)
                .cost(&written)
                .unwrap()
                .cache_write
                .picodollars(),
            24
        );
        assert!(price.writes(12, 20).cost(&one_hour).is_some());
        let audio = Usage {
            audio_prompt: 1,
            ..usage(5, 5)
        };
        assert_eq!(price.cost(&audio), None);
    }

    #[test]
    fn the_prompt_is_split_by_kind_and_parts_are_cut_to_it() {
        let price = Price::micros(100, 0).cached(10).writes(125, 200);
        let usage = Usage {
            prompt: 1_000,
            cached_prompt: 600,
            cache_write: 300,
            cache_write_1h: 100,
            ..Usage::default()
        };
        let cost = price.cost(&usage).unwrap();
        assert_eq!(cost.uncached_prompt.picodollars(), 100 * 100);
        assert_eq!(cost.cached_prompt.picodollars(), 600 * 10);
        assert_eq!(cost.cache_write.picodollars(), 200 * 125 + 100 * 200);
        let overstated = Usage {
            prompt: 10,
            cached_prompt: 8,
            cache_write: 8,
            cache_write_1h: 8,
            ..Usage::default()
        };
        let cost = price.cost(&overstated).unwrap();
        assert_eq!(cost.cached_prompt.picodollars(), 80);
        assert_eq!(cost.cache_write.picodollars(), 2 * 200);
        assert_eq!(cost.uncached_prompt, Usd::ZERO);
    }

    #[test]
    fn the_tier_follows_the_whole_prompt() {
        let price = Price::micros(1, 1)
            .cached(1)
            .with_long_context(100, Price::micros(2, 2));
        let short = Usage {
            cached_prompt: 60,
            ..usage(100, 10)
        };
        assert_eq!(price.cost(&short).unwrap().total().picodollars(), 110);
        let long = usage(101, 10);
        assert_eq!(price.cost(&long).unwrap().total().picodollars(), 222);
        // The long tier has no cached rate.
        assert_eq!(
            price.cost(&Usage {
                cached_prompt: 60,
                ..long
            }),
            None
        );
        assert_eq!(Price::micros(1, 1).unpriced_above(100).cost(&long), None);
    }
}
