//! `PriceTable`: prices by model name, and the rule that finds a model's price.

use std::collections::BTreeMap;

use super::price::{Price, PriceError};

/// Prices by model name, and the rule that finds the price of a model name as a provider reports
/// it.
///
/// [`PriceTable::builtin`] holds dated list prices of common models; [`PriceTable::new`] is empty;
/// [`with_model`](Self::with_model) adds or replaces one entry, so a table of your own can start
/// from either.
///
/// # Finding a model's price
///
/// 1. The name is compared without case and without surrounding spaces.
/// 2. A name that is an entry is that entry.
/// 3. Otherwise, if the name has a path (`models/gemini-2.5-pro`, `openai/gpt-4o`), what follows
///    its last `/` is looked up the same way.
/// 4. Otherwise the name's last *version tag* is taken off and the rest looked up, again and
///    again: `gpt-4o-mini-2024-07-18` finds `gpt-4o-mini`. A version tag is `-` followed by a date
///    (`2024-07-18` or `20241022`), a three-digit version (`001`) or `latest`. So the longest entry
///    the name starts with wins (`gpt-4o-2024-05-13` before `gpt-4o`), and a name is never priced
///    as a different model that merely shares its start: `gpt-4o-mini-tts`, `o3-pro`,
///    `gemini-2.5-pro-preview-05-06` or `claude-opus-4-5` are not `gpt-4o-mini`, `o3`,
///    `gemini-2.5-pro` or `claude-opus-4`.
/// 5. A name none of this finds has no price.
///
/// ```
/// use instrument::handlers::token_counting::{Price, PriceError, PriceTable};
///
/// let table = PriceTable::new()
///     .with_model("gpt-4o-mini", Price::per_million(0.15, 0.60)?.with_cached_prompt(0.075)?)?
///     .with_model("my-finetune", Price::per_million(0.30, 1.20)?)?;
///
/// assert_eq!(table.lookup("gpt-4o-mini-2024-07-18").map(|(entry, _)| entry), Some("gpt-4o-mini"));
/// assert_eq!(table.lookup("openai/GPT-4o-mini").map(|(entry, _)| entry), Some("gpt-4o-mini"));
/// assert!(table.lookup("gpt-4o-mini-tts").is_none());
/// assert!(table.price("my-finetune").is_some());
/// # Ok::<(), PriceError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceTable {
    entries: BTreeMap<String, Price>,
}

impl PriceTable {
    /// A table with no prices.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The table, with `model` priced at `price` (replacing its price if it had one). The name is
    /// kept lower-case and trimmed; a path before the last `/` is kept too, so an entry
    /// `openrouter/my-model` matches that full name only.
    ///
    /// # Errors
    /// [`PriceError::EmptyModelName`] when `model` is empty once trimmed.
    pub fn with_model(mut self, model: &str, price: Price) -> Result<Self, PriceError> {
        let name = normalise(model);
        if name.trim_matches('/').is_empty() {
            return Err(PriceError::EmptyModelName);
        }
        self.entries.insert(name, price);
        Ok(self)
    }

    /// A table of entries whose names are known to be fine (the built-in ones).
    pub(crate) fn from_entries(entries: impl IntoIterator<Item = (&'static str, Price)>) -> Self {
        Self {
            entries: entries
                .into_iter()
                .map(|(model, price)| (normalise(model), price))
                .collect(),
        }
    }

    /// The price of `model` by the rule above, and the entry that gave it.
    #[must_use]
    pub fn lookup(&self, model: &str) -> Option<(&str, &Price)> {
        let name = normalise(model);
        let base = name.rsplit('/').next().unwrap_or(&name);
        self.entry(&name)
            .or_else(|| self.without_version_tags(base))
    }

    /// The price of `model` by the rule above.
    #[must_use]
    pub fn price(&self, model: &str) -> Option<&Price> {
        self.lookup(model).map(|(_, price)| price)
    }

    /// The entries' model names, in order.
    pub fn models(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// How many models the table prices.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table prices no model.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn entry(&self, name: &str) -> Option<(&str, &Price)> {
        self.entries
            .get_key_value(name)
            .map(|(name, price)| (name.as_str(), price))
    }

    /// `name`, then `name` less one version tag after another, until one is an entry.
    fn without_version_tags(&self, name: &str) -> Option<(&str, &Price)> {
        let mut name = name;
        loop {
            if let Some(found) = self.entry(name) {
                return Some(found);
            }
            name = strip_version_tag(name)?;
        }
    }
}

/// Lower-case, without surrounding spaces.
fn normalise(model: &str) -> String {
    model.trim().to_ascii_lowercase()
}

/// `name` without its last version tag (`-2024-07-18`, `-20241022`, `-001`, `-latest`); `None`
/// when it does not end with one, or nothing would be left.
fn strip_version_tag(name: &str) -> Option<&str> {
    let (rest, tag) = name.rsplit_once('-')?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let stripped = if tag == "latest" || digits(tag, 3) || digits(tag, 8) {
        rest
    } else if digits(tag, 2) {
        // A dashed date: `-YYYY-MM-DD` ends in `-DD`, with `-YYYY-MM` before it.
        let (rest, month) = rest.rsplit_once('-')?;
        let (rest, year) = rest.rsplit_once('-')?;
        if !(digits(month, 2) && digits(year, 4)) {
            return None;
        }
        rest
    } else {
        return None;
    };
    (!stripped.is_empty()).then_some(stripped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(names: &[&str]) -> PriceTable {
        names.iter().fold(PriceTable::new(), |table, name| {
            table.with_model(name, Price::micros(1, 1)).unwrap()
        })
    }

    fn found<'a>(table: &'a PriceTable, model: &str) -> Option<&'a str> {
        table.lookup(model).map(|(entry, _)| entry)
    }

    #[test]
    fn version_tags() {
        let cases = [
            ("gpt-4o-2024-08-06", Some("gpt-4o")),
            ("claude-3-5-sonnet-20241022", Some("claude-3-5-sonnet")),
            ("gemini-2.0-flash-001", Some("gemini-2.0-flash")),
            ("claude-3-5-sonnet-latest", Some("claude-3-5-sonnet")),
            ("gpt-4o-mini", None),
            ("o3-pro", None),
            ("gpt-4o-11-20", None),
            ("gpt-4o-2024-8-6", None),
            ("gpt-4o-0806", None),
            ("-2024-08-06", None),
            ("2024-08-06", None),
        ];
        for (name, stripped) in cases {
            assert_eq!(strip_version_tag(name), stripped, "{name}");
        }
    }

    #[test]
    fn exact_then_path_then_version_tags() {
        let table = table(&[
            "gpt-4o",
            "gpt-4o-mini",
            "openrouter/special",
            "gemini-2.5-pro",
        ]);
        assert_eq!(found(&table, "gpt-4o"), Some("gpt-4o"));
        assert_eq!(found(&table, "  GPT-4o-Mini "), Some("gpt-4o-mini"));
        assert_eq!(
            found(&table, "openrouter/special"),
            Some("openrouter/special")
        );
        assert_eq!(found(&table, "special"), None);
        assert_eq!(
            found(&table, "models/gemini-2.5-pro"),
            Some("gemini-2.5-pro")
        );
        assert_eq!(
            found(&table, "publishers/google/models/gemini-2.5-pro-001"),
            Some("gemini-2.5-pro")
        );
        assert_eq!(found(&table, "gpt-4o-mini-2024-07-18"), Some("gpt-4o-mini"));
        assert_eq!(found(&table, "gpt-4o-2024-05-13-latest"), Some("gpt-4o"));
    }

    #[test]
    fn the_longest_entry_wins_whatever_the_order() {
        let names = ["gpt-4o", "gpt-4o-2024-05-13"];
        for order in [names, [names[1], names[0]]] {
            let table = table(&order);
            assert_eq!(
                found(&table, "gpt-4o-2024-05-13"),
                Some("gpt-4o-2024-05-13")
            );
            assert_eq!(
                found(&table, "gpt-4o-2024-05-13-001"),
                Some("gpt-4o-2024-05-13")
            );
            assert_eq!(found(&table, "gpt-4o-2024-08-06"), Some("gpt-4o"));
        }
    }

    #[test]
    fn a_shared_start_is_not_a_match() {
        let table = table(&["gpt-4o-mini", "o3", "claude-opus-4", "gemini-2.5-pro"]);
        for name in [
            "gpt-4o-mini-tts",
            "gpt-4o-mini-audio-preview-2024-12-17",
            "o3-pro",
            "o3-mini-2025-01-31",
            "claude-opus-4-5-20251101",
            "gemini-2.5-pro-preview-05-06",
            "",
        ] {
            assert_eq!(found(&table, name), None, "{name}");
        }
    }

    #[test]
    fn empty_names_are_errors_and_entries_replace() {
        for name in ["", "  ", "/"] {
            assert_eq!(
                PriceTable::new().with_model(name, Price::micros(1, 1)),
                Err(PriceError::EmptyModelName)
            );
        }
        let table = PriceTable::new()
            .with_model("m", Price::micros(1, 1))
            .unwrap()
            .with_model("M", Price::micros(2, 2))
            .unwrap();
        assert_eq!(table.len(), 1);
        assert_eq!(table.price("m"), Some(&Price::micros(2, 2)));
        assert_eq!(table.models().collect::<Vec<_>>(), ["m"]);
    }
}
