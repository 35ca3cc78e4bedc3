//! Reading GenAI field values: text as text, and structured values (messages, arrays, objects),
//! which spans can only carry as JSON text, decoded.

use std::borrow::Cow;

use serde_json::Value;

use crate::tracing_bridge::fields::Fields;

/// The field's value, if it is a string.
pub(super) fn text<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields.get(name).and_then(Value::as_str)
}

/// The field's value, with JSON text that holds an array or an object decoded.
pub(super) fn structured<'a>(fields: &'a Fields, name: &str) -> Option<Cow<'a, Value>> {
    fields.get(name).map(decoded)
}

/// `value` itself, or, when it is text holding a JSON array or object, what that text holds. Other
/// text stays text: `"42"` is a string recorded as one, not a number.
pub(super) fn decoded(value: &Value) -> Cow<'_, Value> {
    match value {
        Value::String(text) if looks_structured(text) => {
            serde_json::from_str(text).map_or(Cow::Borrowed(value), Cow::Owned)
        }
        other => Cow::Borrowed(other),
    }
}

fn looks_structured(text: &str) -> bool {
    let text = text.trim_start();
    text.starts_with('[') || text.starts_with('{')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_arrays_and_objects_are_decoded() {
        assert_eq!(*decoded(&json!("[1, 2]")), json!([1, 2]));
        assert_eq!(*decoded(&json!(" {\"a\": 1}")), json!({"a": 1}));
        assert_eq!(*decoded(&json!("42")), json!("42"));
        assert_eq!(*decoded(&json!("[not json")), json!("[not json"));
        assert_eq!(*decoded(&json!(7)), json!(7));
    }
}
