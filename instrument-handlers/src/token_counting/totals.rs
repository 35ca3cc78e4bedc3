//! `CostTotals`: the tokens and the cost of many calls, and the running totals a handler keeps,
//! overall and by model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::cost::Cost;
use super::usage::Usage;

/// The tokens and the cost of a set of calls (LLM calls, and embedding calls with all their
/// chunks), as [`TokenCountingHandler::cost_totals`] and
/// [`cost_by_model`](super::TokenCountingHandler::cost_by_model) report them.
///
/// Every call's tokens are counted. Only calls with a known price are in `priced_cost`, so when
/// some were not priced (`unpriced_calls` above zero), it is less than what the calls cost and
/// [`cost`](Self::cost) is `None`.
///
/// [`TokenCountingHandler::cost_totals`]: super::TokenCountingHandler::cost_totals
///
/// ```
/// use instrument::handlers::token_counting::{Cost, CostTotals, Usd};
///
/// let priced = CostTotals { calls: 2, prompt_tokens: 30, priced_cost: Cost::default(), ..CostTotals::default() };
/// assert_eq!(priced.cost(), Some(Cost::default()));
/// let partly = CostTotals { unpriced_calls: 1, ..priced };
/// assert_eq!(partly.cost(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CostTotals {
    /// Calls counted.
    pub calls: u64,
    /// Calls whose cost is not known: no price for their model, or none for a kind of token they
    /// used.
    pub unpriced_calls: u64,
    /// Prompt tokens, cached and cache-write tokens included.
    pub prompt_tokens: u64,
    /// Of the prompt tokens, those read from the provider's cache.
    pub cached_prompt_tokens: u64,
    /// Of the prompt tokens, those written to the provider's cache.
    pub cache_write_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// What the priced calls cost.
    pub priced_cost: Cost,
}

impl CostTotals {
    /// What the calls cost, when every one of them was priced.
    #[must_use]
    pub fn cost(&self) -> Option<Cost> {
        (self.unpriced_calls == 0).then_some(self.priced_cost)
    }

    /// Counts one call that used `usage` and cost `cost` (`None`: unknown).
    pub(super) fn add(&mut self, usage: &Usage, cost: Option<Cost>) {
        self.calls += 1;
        self.prompt_tokens += usage.prompt;
        self.cached_prompt_tokens += usage.cached_prompt.min(usage.prompt);
        self.cache_write_tokens += usage.cache_write.min(usage.prompt);
        self.completion_tokens += usage.completion;
        match cost {
            Some(cost) => self.priced_cost += cost,
            None => self.unpriced_calls += 1,
        }
    }
}

/// The totals a handler keeps: all calls, and by model name (the empty name for calls that named
/// none).
#[derive(Debug, Default)]
pub(super) struct Totals {
    pub(super) overall: CostTotals,
    pub(super) by_model: BTreeMap<String, CostTotals>,
}

impl Totals {
    /// Counts one call of `model`.
    pub(super) fn add(&mut self, model: Option<&str>, usage: &Usage, cost: Option<Cost>) {
        self.overall.add(usage, cost);
        let model = model.unwrap_or_default();
        match self.by_model.get_mut(model) {
            Some(totals) => totals.add(usage, cost),
            None => {
                let mut totals = CostTotals::default();
                totals.add(usage, cost);
                self.by_model.insert(model.to_owned(), totals);
            }
        }
    }

    /// The models with at least one call without a known cost, in order.
    pub(super) fn unpriced_models(&self) -> Vec<String> {
        self.by_model
            .iter()
            .filter(|(_, totals)| totals.unpriced_calls > 0)
            .map(|(model, _)| model.clone())
            .collect()
    }
}
