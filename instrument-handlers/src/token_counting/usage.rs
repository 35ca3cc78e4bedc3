//! Token usage as providers report it, read from a response's raw JSON.
//!
//! Providers name the same counts differently: OpenAI `usage.prompt_tokens` / `completion_tokens`
//! (Responses API: `input_tokens` / `output_tokens`), with the cache reads and audio tokens among
//! them in `prompt_tokens_details` (`input_tokens_details`); Anthropic `usage.input_tokens` /
//! `output_tokens`, plus `cache_read_input_tokens` and `cache_creation_input_tokens`, which are
//! prompt tokens too; Gemini `usage_metadata.prompt_token_count` / `candidates_token_count` (or the
//! REST API's `usageMetadata.promptTokenCount` / `candidatesTokenCount`), with
//! `cached_content_token_count` among the prompt tokens and `thoughts_token_count` billed as output.

use serde_json::{Map, Value};

/// The tokens a provider reported for one call.
///
/// `prompt` counts every prompt token; `cached_prompt`, `cache_write` and `audio_prompt` say how
/// many of them were of each kind, and `cache_write_1h` how many of the cache writes were one-hour
/// writes. Pricing needs the parts: providers bill each kind of prompt token at its own rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Tokens in the prompt, cache reads and cache writes included.
    pub prompt: u64,
    /// Tokens in the completion, reasoning ("thinking") tokens included.
    pub completion: u64,
    /// Of the prompt, the tokens read from the provider's prompt cache: OpenAI
    /// `prompt_tokens_details.cached_tokens`, Anthropic `cache_read_input_tokens`, Gemini
    /// `cached_content_token_count`.
    pub cached_prompt: u64,
    /// Of the prompt, the tokens written to the prompt cache: Anthropic
    /// `cache_creation_input_tokens`.
    pub cache_write: u64,
    /// Of the cache writes, those kept for an hour rather than five minutes: Anthropic
    /// `cache_creation.ephemeral_1h_input_tokens`.
    pub cache_write_1h: u64,
    /// Of the prompt, the audio tokens: OpenAI `prompt_tokens_details.audio_tokens`, Gemini's
    /// `AUDIO` entry in `prompt_tokens_details`.
    pub audio_prompt: u64,
}

impl Usage {
    /// Prompt plus completion.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.prompt.saturating_add(self.completion)
    }
}

const PROMPT_KEYS: [&str; 4] = [
    "prompt_tokens",
    "input_tokens",
    "prompt_token_count",
    "promptTokenCount",
];
const COMPLETION_KEYS: [&str; 4] = [
    "completion_tokens",
    "output_tokens",
    "candidates_token_count",
    "candidatesTokenCount",
];
/// Reasoning tokens a provider reports beside the completion rather than inside it (Gemini).
const THOUGHTS_KEYS: [&str; 2] = ["thoughts_token_count", "thoughtsTokenCount"];
/// Cache reads a provider reports beside the prompt rather than inside it (Anthropic).
const CACHE_READ_KEY: &str = "cache_read_input_tokens";
/// Cache writes a provider reports beside the prompt rather than inside it (Anthropic).
const CACHE_WRITE_KEY: &str = "cache_creation_input_tokens";
/// Cache reads counted inside the prompt (Gemini).
const CACHED_CONTENT_KEYS: [&str; 2] = ["cached_content_token_count", "cachedContentTokenCount"];
/// Where OpenAI details the prompt: Chat Completions, then the Responses API.
const PROMPT_DETAILS_KEYS: [&str; 2] = ["prompt_tokens_details", "input_tokens_details"];
/// Where Gemini details the prompt by modality.
const MODALITY_DETAILS_KEYS: [&str; 2] = ["prompt_tokens_details", "promptTokensDetails"];

/// The usage reported in `raw` (a provider's raw response) or, failing that, in `additional_kwargs`:
/// the first of `raw.usage`, `raw.usage_metadata` (or `raw.usageMetadata`), `raw` itself and
/// `additional_kwargs` that names a prompt or completion count. `None` when none does.
///
/// ```
/// use instrument::handlers::token_counting::usage_from;
/// use serde_json::json;
///
/// let openai = json!({"usage": {"prompt_tokens": 1200, "completion_tokens": 5, "total_tokens": 1205,
///                               "prompt_tokens_details": {"cached_tokens": 1024}}});
/// let usage = usage_from(Some(&openai), None).unwrap();
/// assert_eq!((usage.prompt, usage.cached_prompt, usage.total()), (1200, 1024, 1205));
///
/// let anthropic = json!({"usage": {"input_tokens": 10, "output_tokens": 4,
///                                  "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20}});
/// let usage = usage_from(Some(&anthropic), None).unwrap();
/// assert_eq!((usage.prompt, usage.cached_prompt, usage.cache_write), (130, 100, 20));
///
/// let gemini = json!({"usage_metadata": {"prompt_token_count": 7, "candidates_token_count": 3,
///                                        "thoughts_token_count": 9}});
/// assert_eq!(usage_from(Some(&gemini), None).unwrap().completion, 12);
/// ```
#[must_use]
pub fn usage_from(
    raw: Option<&Value>,
    additional_kwargs: Option<&Map<String, Value>>,
) -> Option<Usage> {
    let raw = raw.and_then(Value::as_object);
    let nested = |key: &str| raw.and_then(|r| r.get(key)).and_then(Value::as_object);
    let candidates = [
        nested("usage"),
        nested("usage_metadata"),
        nested("usageMetadata"),
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
    let cache_read = first(&[CACHE_READ_KEY]).unwrap_or(0);
    let (cache_write, cache_write_1h) = cache_writes(map);
    let prompt_details = PROMPT_DETAILS_KEYS
        .iter()
        .find_map(|k| map.get(*k).and_then(Value::as_object));
    let detail = |key: &str| prompt_details.and_then(|d| d.get(key)).and_then(count);
    let cached_inside = first(&CACHED_CONTENT_KEYS)
        .or_else(|| detail("cached_tokens"))
        .unwrap_or(0);
    let audio = detail("audio_tokens").unwrap_or_else(|| gemini_audio(map));
    // Counts come from a provider's JSON: added without overflow, however large.
    let prompt = prompt
        .unwrap_or(0)
        .saturating_add(cache_read)
        .saturating_add(cache_write);
    Some(Usage {
        prompt,
        completion: completion
            .unwrap_or(0)
            .saturating_add(first(&THOUGHTS_KEYS).unwrap_or(0)),
        cached_prompt: cache_read.saturating_add(cached_inside).min(prompt),
        cache_write,
        cache_write_1h,
        audio_prompt: audio.min(prompt),
    })
}

/// Anthropic's cache writes, all of them and the one-hour ones: `cache_creation_input_tokens`, or
/// failing that the sum of the `cache_creation` breakdown.
fn cache_writes(map: &Map<String, Value>) -> (u64, u64) {
    let breakdown = map.get("cache_creation").and_then(Value::as_object);
    let part = |key: &str| {
        breakdown
            .and_then(|b| b.get(key))
            .and_then(count)
            .unwrap_or(0)
    };
    let one_hour = part("ephemeral_1h_input_tokens");
    let all = map
        .get(CACHE_WRITE_KEY)
        .and_then(count)
        .unwrap_or_else(|| part("ephemeral_5m_input_tokens").saturating_add(one_hour));
    (all, one_hour.min(all))
}

/// Gemini's audio prompt tokens: the `AUDIO` entries of its per-modality prompt details.
fn gemini_audio(map: &Map<String, Value>) -> u64 {
    MODALITY_DETAILS_KEYS
        .iter()
        .filter_map(|k| map.get(*k).and_then(Value::as_array))
        .flatten()
        .filter(|entry| entry.get("modality").and_then(Value::as_str) == Some("AUDIO"))
        .filter_map(|entry| {
            entry
                .get("token_count")
                .or_else(|| entry.get("tokenCount"))
                .and_then(count)
        })
        .sum()
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
        for (raw, expected) in cases {
            let usage = usage_from(Some(&raw), None).unwrap();
            assert_eq!((usage.prompt, usage.completion), expected, "{raw}");
        }
    }

    #[test]
    fn openai_cached_and_audio_tokens_are_parts_of_the_prompt() {
        let chat = json!({"usage": {"prompt_tokens": 2000, "completion_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": 1536, "audio_tokens": 0}}});
        let responses = json!({"usage": {"input_tokens": 2000, "output_tokens": 10,
            "input_tokens_details": {"cached_tokens": 1536},
            "output_tokens_details": {"reasoning_tokens": 4}}});
        for raw in [chat, responses] {
            assert_eq!(
                usage_from(Some(&raw), None),
                Some(Usage {
                    prompt: 2000,
                    completion: 10,
                    cached_prompt: 1536,
                    ..Usage::default()
                }),
                "{raw}"
            );
        }
        let audio = json!({"usage": {"prompt_tokens": 50, "completion_tokens": 1,
            "prompt_tokens_details": {"audio_tokens": 40}}});
        assert_eq!(usage_from(Some(&audio), None).unwrap().audio_prompt, 40);
    }

    #[test]
    fn anthropic_cache_reads_and_writes_are_added_to_the_prompt() {
        let raw = json!({"usage": {"input_tokens": 10, "output_tokens": 3,
            "cache_read_input_tokens": 100, "cache_creation_input_tokens": 50,
            "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 20}}});
        assert_eq!(
            usage_from(Some(&raw), None),
            Some(Usage {
                prompt: 160,
                completion: 3,
                cached_prompt: 100,
                cache_write: 50,
                cache_write_1h: 20,
                audio_prompt: 0,
            })
        );
        // Only the breakdown: its sum is the cache writes.
        let raw = json!({"usage": {"input_tokens": 1, "output_tokens": 1,
            "cache_creation": {"ephemeral_5m_input_tokens": 4, "ephemeral_1h_input_tokens": 6}}});
        let usage = usage_from(Some(&raw), None).unwrap();
        assert_eq!(
            (usage.prompt, usage.cache_write, usage.cache_write_1h),
            (11, 10, 6)
        );
    }

    #[test]
    fn gemini_cached_content_thoughts_and_audio_both_spellings() {
        let snake = json!({"usage_metadata": {"prompt_token_count": 900, "candidates_token_count": 20,
            "cached_content_token_count": 512, "thoughts_token_count": 80,
            "prompt_tokens_details": [{"modality": "TEXT", "token_count": 700},
                                      {"modality": "AUDIO", "token_count": 200}]}});
        let camel = json!({"usageMetadata": {"promptTokenCount": 900, "candidatesTokenCount": 20,
            "cachedContentTokenCount": 512, "thoughtsTokenCount": 80, "totalTokenCount": 1000,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 700},
                                    {"modality": "AUDIO", "tokenCount": 200}]}});
        for raw in [snake, camel] {
            assert_eq!(
                usage_from(Some(&raw), None),
                Some(Usage {
                    prompt: 900,
                    completion: 100,
                    cached_prompt: 512,
                    audio_prompt: 200,
                    ..Usage::default()
                }),
                "{raw}"
            );
        }
    }

    #[test]
    fn parts_never_exceed_the_prompt() {
        let raw = json!({"usage": {"prompt_tokens": 10, "completion_tokens": 1,
            "prompt_tokens_details": {"cached_tokens": 99, "audio_tokens": 99}}});
        let usage = usage_from(Some(&raw), None).unwrap();
        assert_eq!((usage.cached_prompt, usage.audio_prompt), (10, 10));
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
    fn counts_too_large_to_add_saturate() {
        let raw = json!({"usage": {"prompt_tokens": u64::MAX, "completion_tokens": u64::MAX,
            "cache_read_input_tokens": 5}});
        let usage = usage_from(Some(&raw), None).unwrap();
        assert_eq!(
            (usage.prompt, usage.completion, usage.total()),
            (u64::MAX, u64::MAX, u64::MAX)
        );
    }

    #[test]
    fn additional_kwargs_are_the_last_resort() {
        let kwargs = json!({"prompt_tokens": 2, "completion_tokens": 1});
        let kwargs = kwargs.as_object().unwrap();
        assert_eq!(
            usage_from(Some(&json!({"id": "x"})), Some(kwargs)),
            Some(Usage {
                prompt: 2,
                completion: 1,
                ..Usage::default()
            })
        );
        let raw = json!({"usage": {"prompt_tokens": 9, "completion_tokens": 9}});
        assert_eq!(usage_from(Some(&raw), Some(kwargs)).unwrap().prompt, 9);
    }
}
