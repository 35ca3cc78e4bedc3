//! Secrets in a report: values under a sensitive name are redacted once more when a report is
//! made, so that a file from another writer, or one written before a name was added with
//! `instrument::add_sensitive_name`, shows no secret either.

use instrument_core::{REDACTED, is_sensitive_key};
use serde_json::Value;

/// `value` with every value under a sensitive key, at any depth, replaced by [`REDACTED`].
pub(crate) fn redacted(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let value = if is_sensitive_key(&key) {
                        Value::String(REDACTED.to_owned())
                    } else {
                        redacted(value)
                    };
                    (key, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redacted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_under_sensitive_keys_are_redacted_at_any_depth() {
        let value = serde_json::json!({
            "query": "q",
            "api_key": "sk-1",
            "nested": [{"Authorization": "Bearer x", "max_tokens": 5}],
        });
        assert_eq!(
            redacted(value),
            serde_json::json!({
                "query": "q",
                "api_key": REDACTED,
                "nested": [{"Authorization": REDACTED, "max_tokens": 5}],
            })
        );
    }
}
