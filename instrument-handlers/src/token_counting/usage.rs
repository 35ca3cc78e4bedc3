//! Token usage as providers report it, read from a response's raw JSON.
//!
//! Providers name the same counts differently: OpenAI `usage.prompt_tokens` / `completion_tokens`,
//! Anthropic `usage.input_tokens` / `output_tokens` (plus `cache_read_input_tokens` and
//! `cache_creation_input_tokens`, which are prompt tokens too), Gemini
//! `usage_metadata.prompt_token_count` / `candidates_token_count`.

use serde_json::{Map, Value};

/// Prompt and completion tokens a provider reported for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Tokens in the prompt, cache reads and cache writes included.
    pub prompt: u64,
    /// Tokens in the completion.
    pub completion: u64,
}

impl Usage {
    /// Prompt plus completion.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.prompt + self.completion
    }
}

const PROMPT_KEYS: [&str; 3] = ["prompt_tokens", "input_tokens", "prompt_token_count"];
const COMPLETION_KEYS: [&str; 3] = [
    "completion_tokens",
    "output_tokens",
    "candidates_token_count",
];
const CACHE_KEYS: [&str; 2] = ["cache_read_input_tokens", "cache_creation_input_tokens"];

/// The usage reported in `raw` (a provider's raw response) or, failing that, in `additional_kwargs`:
/// the first of `raw.usage`, `raw.usage_metadata`, `raw` itself and `additional_kwargs` that names a
/// prompt or completion count. `None` when none does.
///
/// ```
/// use instrument_handlers::token_counting::usage_from;
/// use serde_json::json;
///
/// let openai = json!({"usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}});
/// assert_eq!(usage_from(Some(&openai), None).unwrap().total(), 17);
///
/// let anthropic = json!({"usage": {"input_tokens": 10, "output_tokens": 4,
///                                  "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20}});
/// assert_eq!(usage_from(Some(&anthropic), None).unwrap().prompt, 130);
///
/// let gemini = json!({"usage_metadata": {"prompt_token_count": 7, "candidates_token_count": 3}});
/// assert_eq!(usage_from(Some(&gemini), None).unwrap().completion, 3);
/// ```
#[must_use]
pub fn usage_from(
    raw: Option<&Value>,
    additional_kwargs: Option<&Map<String, Value>>,
) -> Option<Usage> {
    let raw = raw.and_then(Value::as_object);
    let candidates = [
        raw.and_then(|r| r.get("usage")).and_then(Value::as_object),
        raw.and_then(|r| r.get("usage_metadata"))
            .and_then(Value::as_object),
        raw,
        additional_kwargs,
    ];
    candidates.into_iter().flatten().find_map(read)
}

fn read(map: &Map<String, Value>) -> Option<Usage> {
    let first = |keys: &[&str]| keys.iter().find_map(|k| map.get(*k).and_then(count));
    let prompt = first(&PROMPT_KEYS);
    let completion = first(&COMPLETION_KEYS);
    if prompt.is_none() && completion.is_none() {
        return None;
    }
    let cached: u64 = CACHE_KEYS
        .iter()
        .filter_map(|k| map.get(*k).and_then(count))
        .sum();
    Some(Usage {
        prompt: prompt.unwrap_or(0) + cached,
        completion: completion.unwrap_or(0),
    })
}

/// A count: a non-negative integer, or a float with no fraction, or a numeric string.
fn count(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f <= 9.0e15)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_provider_naming() {
        let cases = [
            (
                json!({"usage": {"prompt_tokens": 3, "completion_tokens": 4}}),
                (3, 4),
            ),
            (
                json!({"usage": {"input_tokens": 5, "output_tokens": 6}}),
                (5, 6),
            ),
            (
                json!({"usage": {"input_tokens": 5, "output_tokens": 6, "cache_read_input_tokens": 7}}),
                (12, 6),
            ),
            (
                json!({"usage_metadata": {"prompt_token_count": 8, "candidates_token_count": 9}}),
                (8, 9),
            ),
            (json!({"prompt_tokens": 1, "completion_tokens": 2}), (1, 2)),
            (
                json!({"usage": {"prompt_tokens": "10", "completion_tokens": 2.0}}),
                (10, 2),
            ),
        ];
        for (raw, (prompt, completion)) in cases {
            assert_eq!(
                usage_from(Some(&raw), None),
                Some(Usage { prompt, completion }),
                "{raw}"
            );
        }
    }

    #[test]
    fn absent_or_unreadable_usage_is_none() {
        for raw in [
            json!(null),
            json!({}),
            json!({"usage": {}}),
            json!({"usage": {"prompt_tokens": -1}}),
        ] {
            assert_eq!(usage_from(Some(&raw), None), None, "{raw}");
        }
        assert_eq!(usage_from(None, None), None);
    }

    #[test]
    fn additional_kwargs_are_the_last_resort() {
        let kwargs = json!({"prompt_tokens": 2, "completion_tokens": 1});
        let kwargs = kwargs.as_object().unwrap();
        assert_eq!(
            usage_from(Some(&json!({"id": "x"})), Some(kwargs)),
            Some(Usage {
                prompt: 2,
                completion: 1
            })
        );
        let raw = json!({"usage": {"prompt_tokens": 9, "completion_tokens": 9}});
        assert_eq!(usage_from(Some(&raw), Some(kwargs)).unwrap().prompt, 9);
    }
}
