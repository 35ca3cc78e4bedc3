//! `tracing` field values as JSON: a [`Visit`]or that keeps them in a small owned list.

use std::fmt;

use instrument_core::{Arg, REDACTED, debug_text_guarded, is_sensitive_key};
use serde_json::{Map, Number, Value};
use tracing::field::{Field, Visit};

/// The name `tracing` gives the text of `info!("…")` and friends.
pub(super) const MESSAGE: &str = "message";

/// The field whose value drops a bridged span; see the module docs.
pub(super) const ERROR: &str = "error";

/// Field values in the order first recorded; a field recorded again keeps its place and takes the new
/// value. Spans and events have a handful of fields, so a list beats a map.
#[derive(Debug, Default)]
pub(super) struct Fields(Vec<(&'static str, Value)>);

impl Fields {
    pub(super) fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    pub(super) fn take(&mut self, name: &str) -> Option<Value> {
        let index = self.0.iter().position(|(n, _)| *n == name)?;
        Some(self.0.remove(index).1)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each field's name and value, in the order first recorded.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        self.0.iter().map(|(name, value)| (*name, value))
    }

    /// Each field as a span argument.
    pub(super) fn args(&self) -> Vec<Arg<'_>> {
        self.0
            .iter()
            .map(|(name, value)| Arg::new(name, value))
            .collect()
    }

    pub(super) fn into_map(self) -> Map<String, Value> {
        self.0
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }

    /// Keeps `value` under the field's name; a field named like a secret keeps `"[REDACTED]"`,
    /// whatever it was given, so that no handler of a bridged span or event sees it.
    fn set(&mut self, field: &Field, value: Value) {
        let name = field.name();
        let value = if is_sensitive_key(name) {
            Value::String(REDACTED.to_owned())
        } else {
            value
        };
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, old)) => *old = value,
            None => self.0.push((name, value)),
        }
    }
}

/// The text of a field value, as `error` and `message` are kept: a string as is, anything else as JSON.
pub(super) fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

impl Visit for Fields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // NaN and infinities have no JSON number.
        let value =
            Number::from_f64(value).map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.set(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field, Value::from(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        let value =
            i64::try_from(value).map_or_else(|_| Value::String(value.to_string()), Value::from);
        self.set(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        let value =
            u64::try_from(value).map_or_else(|_| Value::String(value.to_string()), Value::from);
        self.set(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, Value::String(value.to_owned()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // Through `Debug` as `Display`: the guard catches an impl that fails or panics.
        self.set(
            field,
            Value::String(debug_text_guarded(&DisplayAsDebug(value))),
        );
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` fields arrive here too, wrapped so that their `Debug` is their `Display`. User
        // code: an impl that fails or panics makes the value a marker, not a lost span.
        self.set(field, Value::String(debug_text_guarded(value)));
    }
}

/// A value's `Display` as its `Debug`, for [`debug_text_guarded`].
struct DisplayAsDebug<'a>(&'a dyn fmt::Display);

impl fmt::Debug for DisplayAsDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
