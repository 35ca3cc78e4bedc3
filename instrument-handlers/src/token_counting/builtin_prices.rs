//! The built-in price table: list prices of common models, as their providers published them.
//!
//! Rates are in microdollars per million tokens (= picodollars per token): `2_500_000` is $2.50
//! per million tokens. A rate the provider's page did not confirm is left out, which makes the
//! calls that need it unpriced rather than priced at a guess (see [`Price`]).

use super::price::Price;
use super::price_table::PriceTable;

/// Dollars per million tokens, in microdollars per million tokens.
const fn usd(dollars: u64, microdollars: u64) -> u64 {
    dollars * 1_000_000 + microdollars
}

/// OpenAI, <https://platform.openai.com/docs/pricing> (now
/// <https://developers.openai.com/api/docs/pricing>), standard tier, text tokens: input, cached
/// input, output. The newest copies of that page no longer list these models, which OpenAI still
/// bills; the rates were checked against dated copies of the page's table that agree with each
/// other. `gpt-4o-2024-05-13` is listed apart because it costs more than later `gpt-4o` snapshots
/// and has no cache discount.
const OPENAI: [(&str, Price); 10] = [
    (
        "gpt-4o",
        Price::micros(usd(2, 500_000), usd(10, 0)).cached(usd(1, 250_000)),
    ),
    ("gpt-4o-2024-05-13", Price::micros(usd(5, 0), usd(15, 0))),
    (
        "gpt-4o-mini",
        Price::micros(usd(0, 150_000), usd(0, 600_000)).cached(usd(0, 75_000)),
    ),
    (
        "gpt-4.1",
        Price::micros(usd(2, 0), usd(8, 0)).cached(usd(0, 500_000)),
    ),
    (
        "gpt-4.1-mini",
        Price::micros(usd(0, 400_000), usd(1, 600_000)).cached(usd(0, 100_000)),
    ),
    (
        "gpt-4.1-nano",
        Price::micros(usd(0, 100_000), usd(0, 400_000)).cached(usd(0, 25_000)),
    ),
    (
        "o3",
        Price::micros(usd(2, 0), usd(8, 0)).cached(usd(0, 500_000)),
    ),
    (
        "o4-mini",
        Price::micros(usd(1, 100_000), usd(4, 400_000)).cached(usd(0, 275_000)),
    ),
    ("text-embedding-3-small", Price::micros(usd(0, 20_000), 0)),
    ("text-embedding-3-large", Price::micros(usd(0, 130_000), 0)),
];

/// An Anthropic price: base input, 5-minute cache writes, 1-hour cache writes, cache hits, output.
const fn claude(input: u64, write_5m: u64, write_1h: u64, hit: u64, output: u64) -> Price {
    Price::micros(input, output)
        .cached(hit)
        .writes(write_5m, write_1h)
}

const SONNET: Price = claude(
    usd(3, 0),
    usd(3, 750_000),
    usd(6, 0),
    usd(0, 300_000),
    usd(15, 0),
);
const OPUS_4: Price = claude(
    usd(15, 0),
    usd(18, 750_000),
    usd(30, 0),
    usd(1, 500_000),
    usd(75, 0),
);
const OPUS_4_5: Price = claude(
    usd(5, 0),
    usd(6, 250_000),
    usd(10, 0),
    usd(0, 500_000),
    usd(25, 0),
);
/// Prompts over 200,000 tokens (Sonnet 4 with the 1M-token context window) are billed at other
/// rates.
const LONG_CONTEXT: u64 = 200_000;

const SONNET_4: Price =
    SONNET.with_long_context(LONG_CONTEXT, Price::micros(usd(6, 0), usd(22, 500_000)));

/// Anthropic, <https://platform.claude.com/docs/en/about-claude/pricing> (formerly
/// <https://docs.anthropic.com/en/docs/about-claude/pricing>), "Model pricing" and "Long context
/// pricing". Only Sonnet 4's long-context input and output rates were on the page: its long
/// calls that read or write the cache, and long calls of the other 1M-context models, are
/// unpriced.
const ANTHROPIC: [(&str, Price); 13] = [
    ("claude-3-5-sonnet", SONNET),
    ("claude-3-7-sonnet", SONNET),
    (
        "claude-3-5-haiku",
        claude(
            usd(0, 800_000),
            usd(1, 0),
            usd(1, 600_000),
            usd(0, 80_000),
            usd(4, 0),
        ),
    ),
    ("claude-sonnet-4", SONNET_4),
    ("claude-sonnet-4-0", SONNET_4),
    ("claude-sonnet-4-5", SONNET.unpriced_above(LONG_CONTEXT)),
    ("claude-sonnet-4-6", SONNET.unpriced_above(LONG_CONTEXT)),
    ("claude-opus-4", OPUS_4),
    ("claude-opus-4-0", OPUS_4),
    ("claude-opus-4-1", OPUS_4),
    ("claude-opus-4-5", OPUS_4_5),
    ("claude-opus-4-6", OPUS_4_5.unpriced_above(LONG_CONTEXT)),
    (
        "claude-haiku-4-5",
        claude(
            usd(1, 0),
            usd(1, 250_000),
            usd(2, 0),
            usd(0, 100_000),
            usd(5, 0),
        ),
    ),
];

/// Google, Gemini Developer API, <https://ai.google.dev/gemini-api/docs/pricing>, paid tier, text
/// (and image and video) input and output, thinking tokens included in the output. The cached
/// input rates were not confirmed: calls that read Gemini's cache (implicit caching is on by
/// default for 2.5 models) are unpriced. Gemini 1.5 and 2.0 are left out: both are retired and
/// no longer on the page.
const GOOGLE: [(&str, Price); 2] = [
    (
        "gemini-2.5-pro",
        Price::micros(usd(1, 250_000), usd(10, 0))
            .with_long_context(LONG_CONTEXT, Price::micros(usd(2, 500_000), usd(15, 0))),
    ),
    (
        "gemini-2.5-flash",
        Price::micros(usd(0, 300_000), usd(2, 500_000)),
    ),
];

impl PriceTable {
    /// The day the built-in prices were last checked against the providers' pages.
    pub const BUILTIN_PRICES_CHECKED: &'static str = "2026-12-06";

    /// List prices of common models, in US dollars per million tokens, as published by the
    /// providers and last checked on 2026-12-06 ([`BUILTIN_PRICES_CHECKED`]); check them before
    /// relying on them, and supply your own ([`with_model`](Self::with_model)) for negotiated
    /// prices, batch or priority tiers, regional endpoints, or resellers (Azure, Bedrock, Vertex
    /// AI and OpenRouter set their own).
    ///
    /// | model | prompt | cached prompt | cache write (5 min / 1 h) | completion |
    /// |---|---|---|---|---|
    /// | **OpenAI** ([pricing](https://platform.openai.com/docs/pricing)) | | | | |
    /// | `gpt-4o` | 2.50 | 1.25 | | 10.00 |
    /// | `gpt-4o-2024-05-13` | 5.00 | | | 15.00 |
    /// | `gpt-4o-mini` | 0.15 | 0.075 | | 0.60 |
    /// | `gpt-4.1` | 2.00 | 0.50 | | 8.00 |
    /// | `gpt-4.1-mini` | 0.40 | 0.10 | | 1.60 |
    /// | `gpt-4.1-nano` | 0.10 | 0.025 | | 0.40 |
    /// | `o3` | 2.00 | 0.50 | | 8.00 |
    /// | `o4-mini` | 1.10 | 0.275 | | 4.40 |
    /// | `text-embedding-3-small` | 0.02 | | | |
    /// | `text-embedding-3-large` | 0.13 | | | |
    /// | **Anthropic** ([pricing](https://platform.claude.com/docs/en/about-claude/pricing)) | | | | |
    /// | `claude-3-5-sonnet`, `claude-3-7-sonnet`, `claude-sonnet-4` (`-4-0`), `claude-sonnet-4-5`, `claude-sonnet-4-6` | 3.00 | 0.30 | 3.75 / 6.00 | 15.00 |
    /// | `claude-sonnet-4` (`-4-0`) over 200,000 prompt tokens | 6.00 | | | 22.50 |
    /// | `claude-3-5-haiku` | 0.80 | 0.08 | 1.00 / 1.60 | 4.00 |
    /// | `claude-haiku-4-5` | 1.00 | 0.10 | 1.25 / 2.00 | 5.00 |
    /// | `claude-opus-4` (`-4-0`), `claude-opus-4-1` | 15.00 | 1.50 | 18.75 / 30.00 | 75.00 |
    /// | `claude-opus-4-5`, `claude-opus-4-6` | 5.00 | 0.50 | 6.25 / 10.00 | 25.00 |
    /// | **Google** ([Gemini API pricing](https://ai.google.dev/gemini-api/docs/pricing)) | | | | |
    /// | `gemini-2.5-pro` | 1.25 | | | 10.00 |
    /// | `gemini-2.5-pro` over 200,000 prompt tokens | 2.50 | | | 15.00 |
    /// | `gemini-2.5-flash` | 0.30 | | | 2.50 |
    ///
    /// A blank rate was not confirmed on the provider's page, so a call that needs it has no
    /// cost: Gemini calls that read the cache, calls over 200,000 prompt tokens to
    /// `claude-sonnet-4-5`, `claude-sonnet-4-6` and `claude-opus-4-6`, and long `claude-sonnet-4`
    /// calls that read or write the cache. Calls with audio input are never priced (the table has
    /// no audio rates). Gemini 1.5 and 2.0 are not listed: they are retired and off Google's page.
    /// Dated snapshots and `-latest` aliases find their model by the table's rule
    /// (`claude-3-7-sonnet-20250219`, `gpt-4o-mini-2024-07-18`, `claude-3-5-haiku-latest`).
    ///
    /// [`BUILTIN_PRICES_CHECKED`]: Self::BUILTIN_PRICES_CHECKED
    ///
    /// ```
    /// use instrument::handlers::token_counting::{PriceTable, Usage, Usd, cost_of};
    ///
    /// let table = PriceTable::builtin();
    /// assert_eq!(PriceTable::BUILTIN_PRICES_CHECKED, "2026-12-06");
    /// let usage = Usage { prompt: 1_000_000, completion: 1_000_000, ..Usage::default() };
    /// let cost = cost_of("gpt-4o-mini-2024-07-18", &usage, &table).unwrap();
    /// assert_eq!(cost.total().to_string(), "$0.75");
    /// assert!(cost_of("gpt-4o-mini-tts", &usage, &table).is_none());
    /// ```
    #[must_use]
    pub fn builtin() -> Self {
        Self::from_entries(OPENAI.into_iter().chain(ANTHROPIC).chain(GOOGLE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_model_ids_find_their_entries() {
        let table = PriceTable::builtin();
        let cases = [
            ("gpt-4o-2024-08-06", "gpt-4o"),
            ("gpt-4o-2024-11-20", "gpt-4o"),
            ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
            ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
            ("gpt-4.1-2025-04-14", "gpt-4.1"),
            ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
            ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
            ("o3-2025-04-16", "o3"),
            ("o4-mini-2025-04-16", "o4-mini"),
            ("text-embedding-3-small", "text-embedding-3-small"),
            ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
            ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
            ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
            ("claude-sonnet-4-20250514", "claude-sonnet-4"),
            ("claude-opus-4-20250514", "claude-opus-4"),
            ("claude-opus-4-1-20250805", "claude-opus-4-1"),
            ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
            ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
            ("claude-opus-4-5-20251101", "claude-opus-4-5"),
            ("models/gemini-2.5-pro", "gemini-2.5-pro"),
            ("gemini-2.5-flash", "gemini-2.5-flash"),
        ];
        for (model, entry) in cases {
            assert_eq!(table.lookup(model).map(|(e, _)| e), Some(entry), "{model}");
        }
    }

    #[test]
    fn other_models_of_the_same_families_are_not_priced() {
        let table = PriceTable::builtin();
        for model in [
            "gpt-4o-mini-tts",
            "gpt-4o-audio-preview",
            "chatgpt-4o-latest",
            "o3-pro",
            "o3-mini",
            "claude-3-opus-20240229",
            "gemini-2.0-flash",
            "gemini-1.5-pro-002",
            "gemini-2.5-flash-lite",
            "gemini-2.5-flash-preview-05-20",
        ] {
            assert_eq!(table.lookup(model), None, "{model}");
        }
    }

    #[test]
    fn rates_read_as_the_providers_print_them() {
        let table = PriceTable::builtin();
        let per_million = |model: &str| {
            let price = table.price(model).unwrap();
            (
                price.base.prompt,
                price.base.completion,
                price.base.cached_prompt,
            )
        };
        assert_eq!(
            per_million("o4-mini"),
            (1_100_000, 4_400_000, Some(275_000))
        );
        assert_eq!(
            per_million("claude-3-5-haiku"),
            (800_000, 4_000_000, Some(80_000))
        );
        assert_eq!(per_million("gemini-2.5-flash"), (300_000, 2_500_000, None));
        assert_eq!(table.len(), 25);
    }
}
