//! Tags: key/value pairs that every span and event inside a scope carries (set for a scope in
//! `tagged`).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

/// An immutable, cheaply cloned map of tags (`String` → JSON value).
///
/// Empty tags cost nothing to carry; non-empty tags are shared behind an `Arc`.
///
/// Every value is passed through [`crate::sanitize_json`] as it is added: a tag named like a secret
/// ([`crate::is_sensitive_key`]) holds `"[REDACTED]"`, secrets nested in a value are redacted, and
/// what lies deeper than [`crate::MAX_DEPTH`] is `"<too deep>"`; so tags can go to every
/// handler, exporter and other service as they are.
///
/// ```
/// use instrument::Tags;
///
/// let tags = Tags::from([("user", "ada"), ("tier", "pro")]);
/// assert_eq!(tags.get("user"), Some(&serde_json::json!("ada")));
/// assert_eq!(tags.len(), 2);
/// assert!(Tags::new().is_empty());
///
/// let tags = Tags::from([("token", "abc")]);
/// assert_eq!(tags.get("token"), Some(&serde_json::json!("[REDACTED]")));
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Tags(Option<Arc<BTreeMap<String, Value>>>);

impl Tags {
    /// No tags.
    #[must_use]
    pub const fn new() -> Self {
        Self(None)
    }

    /// Whether dropping these tags frees anything.
    pub(crate) fn owns_anything(&self) -> bool {
        self.0.is_some()
    }

    /// Whether there are no tags.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|map| map.is_empty())
    }

    /// How many tags there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |map| map.len())
    }

    /// The value of tag `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.as_ref()?.get(key)
    }

    /// Tags and values in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0
            .iter()
            .flat_map(|map| map.iter().map(|(k, v)| (k.as_str(), v)))
    }

    /// These tags with `key` set to `value`.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        let key = key.into();
        let value = tag_value(&key, value.into());
        let map = Arc::make_mut(self.0.get_or_insert_with(Default::default));
        if let Some(old) = map.insert(key, value) {
            crate::values::owned_json::drop_json(old);
        }
        self
    }

    /// The tags as a JSON object.
    #[must_use]
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.iter()
                .map(|(k, v)| (k.to_owned(), v.clone()))
                .collect(),
        )
    }
}

impl std::fmt::Debug for Tags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Tags {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let map: BTreeMap<String, Value> = iter
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self::from(map)
    }
}

impl<K: Into<String>, V: Into<Value>, const N: usize> From<[(K, V); N]> for Tags {
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl From<BTreeMap<String, Value>> for Tags {
    fn from(mut map: BTreeMap<String, Value>) -> Self {
        for (key, value) in &mut map {
            let given = std::mem::take(value);
            *value = tag_value(key, given);
        }
        if map.is_empty() {
            Self(None)
        } else {
            Self(Some(Arc::new(map)))
        }
    }
}

impl serde::Serialize for Tags {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for Tags {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::<String, Value>::deserialize(deserializer).map(Self::from)
    }
}

/// A tag's value as kept: redacted when its name is a secret, else sanitised.
fn tag_value(key: &str, value: Value) -> Value {
    if crate::values::sensitive::is_sensitive_key(key) {
        crate::values::owned_json::drop_json(value);
        Value::String(crate::values::sensitive::REDACTED.to_owned())
    } else {
        crate::values::owned_json::sanitize_json(value)
    }
}
