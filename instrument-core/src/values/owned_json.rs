//! JSON values the library takes ownership of (tag values, callback payloads): made safe to keep,
//! clone and drop, without recursion.
//!
//! `serde_json::Value`'s `Clone` and `Drop` recurse once per level, so a value nested a hundred
//! thousand deep overflows the stack when the library clones or drops it. [`sanitize_json`] cuts
//! such a value at [`MAX_DEPTH`] with loops rather than recursion, and redacts secrets on the way,
//! as [`crate::Guarded`] does for values serialised from Rust types.

use serde_json::Value;

use crate::values::bounded_serialize::{MAX_DEPTH, TOO_DEEP};
use crate::values::sensitive::REDACTED;
use crate::values::sensitive::is_sensitive_key;

/// `value` made fit to keep: every value under an object key named like a secret
/// ([`crate::is_sensitive_key`]) becomes [`crate::REDACTED`], and every value more than
/// [`MAX_DEPTH`] levels down becomes [`TOO_DEEP`], as [`crate::Guarded`] counts them. Works without recursion, whatever the depth of `value`,
/// and drops what it cuts off without recursion too.
///
/// [`crate::Tags`] and [`crate::callbacks::Payload`] pass every value given to them through it.
///
/// ```
/// use instrument::{sanitize_json, MAX_DEPTH, TOO_DEEP};
/// use serde_json::json;
///
/// let kwargs = json!({"temperature": 0.2, "headers": {"Authorization": "Bearer sk-1"}});
/// assert_eq!(
///     sanitize_json(kwargs),
///     json!({"temperature": 0.2, "headers": {"Authorization": "[REDACTED]"}}),
/// );
///
/// let mut deep = json!(0);
/// for _ in 0..100_000 {
///     deep = serde_json::Value::Array(vec![deep]); // `json!` would serialise `deep` anew
/// }
/// let kept = sanitize_json(deep); // no stack overflow, here or when `kept` is dropped
/// let mut level = &kept;
/// for _ in 0..=MAX_DEPTH {
///     level = &level[0];
/// }
/// assert_eq!(level, &json!(TOO_DEEP));
/// ```
#[must_use]
pub fn sanitize_json(mut value: Value) -> Value {
    if !matches!(value, Value::Array(_) | Value::Object(_)) {
        return value;
    }
    let mut cut_off = Vec::new();
    let mut stack: Vec<(&mut Value, usize)> = vec![(&mut value, 0)];
    while let Some((at, depth)) = stack.pop() {
        match at {
            Value::Array(items) => {
                for item in items {
                    visit(item, depth + 1, false, &mut stack, &mut cut_off);
                }
            }
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    let secret = is_sensitive_key(key);
                    visit(item, depth + 1, secret, &mut stack, &mut cut_off);
                }
            }
            _ => {}
        }
    }
    for dead in cut_off {
        drop_json(dead);
    }
    value
}

/// Queues `item` for a visit, or replaces it by a marker (keeping what it held in `cut_off`).
fn visit<'v>(
    item: &'v mut Value,
    depth: usize,
    secret: bool,
    stack: &mut Vec<(&'v mut Value, usize)>,
    cut_off: &mut Vec<Value>,
) {
    let marker = if secret {
        REDACTED
    } else if depth > MAX_DEPTH {
        TOO_DEEP
    } else {
        if matches!(item, Value::Array(_) | Value::Object(_)) {
            stack.push((item, depth));
        }
        return;
    };
    let old = std::mem::replace(item, Value::String(marker.to_owned()));
    if matches!(old, Value::Array(_) | Value::Object(_)) {
        cut_off.push(old);
    }
}

/// Drops `value` level by level, with a loop instead of the recursion of `Value`'s own `Drop`, so
/// that a value of any depth is dropped without overflowing the stack.
///
/// ```
/// let mut deep = serde_json::Value::Null;
/// for _ in 0..100_000 {
///     deep = serde_json::Value::Array(vec![deep]);
/// }
/// instrument::drop_json(deep);
/// ```
pub fn drop_json(value: Value) {
    if !matches!(value, Value::Array(_) | Value::Object(_)) {
        return;
    }
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, item)| item)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_shallow_values_and_redacts_secrets() {
        let value = json!({"a": [1, {"password": {"x": 1}}], "b": null, "my_token": 3});
        assert_eq!(
            sanitize_json(value),
            json!({"a": [1, {"password": REDACTED}], "b": null, "my_token": REDACTED})
        );
    }

    #[test]
    fn cuts_at_the_bound() {
        let mut deep = json!("leaf");
        for _ in 0..=MAX_DEPTH {
            deep = json!({ "k": deep });
        }
        let mut level = &sanitize_json(deep.clone());
        for _ in 0..MAX_DEPTH {
            level = &level["k"];
        }
        assert_eq!(level, &json!({ "k": TOO_DEEP }));
        drop_json(deep);
    }
}
