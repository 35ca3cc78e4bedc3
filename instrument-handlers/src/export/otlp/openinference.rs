//! OpenInference attributes: the span kinds and attribute names Arize Phoenix reads, and the ones
//! a span gets from its own data (arguments, return value, recorded metadata, tags). What the
//! built-in events add is in `events.rs`.

use std::collections::BTreeMap;

use instrument_core::{Tags, to_json_string_guarded};
use serde_json::{Map, Value};

pub(crate) use crate::export::span_kind::SpanKind;

/// `openinference.span.kind`.
pub(crate) const SPAN_KIND: &str = "openinference.span.kind";
pub(crate) const INPUT_VALUE: &str = "input.value";
pub(crate) const INPUT_MIME_TYPE: &str = "input.mime_type";
pub(crate) const OUTPUT_VALUE: &str = "output.value";
pub(crate) const OUTPUT_MIME_TYPE: &str = "output.mime_type";
pub(crate) const METADATA: &str = "metadata";
pub(crate) const TAG_TAGS: &str = "tag.tags";
pub(crate) const SESSION_ID: &str = "session.id";
pub(crate) const USER_ID: &str = "user.id";

/// The MIME type of a JSON `input.value` or `output.value`.
pub(crate) const JSON: &str = "application/json";
/// The MIME type of a plain-text `input.value` or `output.value`.
pub(crate) const TEXT: &str = "text/plain";

/// One attribute value, before it becomes an OTLP `AnyValue`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AttrValue {
    Str(String),
    Int(i64),
    Double(f64),
    Strs(Vec<String>),
    Doubles(Vec<f64>),
}

impl From<String> for AttrValue {
    fn from(value: String) -> Self {
        Self::Str(value)
    }
}

impl From<&str> for AttrValue {
    fn from(value: &str) -> Self {
        Self::Str(value.to_owned())
    }
}

/// Attributes by name; a name set twice keeps its last value, and they are sent in name order.
pub(crate) type Attrs = BTreeMap<String, AttrValue>;

/// Attribute writes in the order they were made, as events produce them on the recording thread.
pub(crate) type AttrList = Vec<(String, AttrValue)>;

/// A JSON value as attribute text: a string as itself (`text/plain`), anything else as compact JSON
/// (`application/json`), bounded in depth and with its secrets redacted (values of events come
/// straight from the user).
pub(crate) fn value_text(value: &Value) -> (String, &'static str) {
    match value {
        Value::String(text) => (text.clone(), TEXT),
        other => (to_json_string_guarded(other), JSON),
    }
}

/// Sets `input.value` (and its MIME type) to `value`.
pub(crate) fn set_input(attrs: &mut AttrList, value: &Value) {
    let (text, mime) = value_text(value);
    set_input_text(attrs, text, mime);
}

/// Sets `input.value` to `text` of MIME type `mime`.
pub(crate) fn set_input_text(attrs: &mut AttrList, text: String, mime: &'static str) {
    attrs.push((INPUT_VALUE.to_owned(), AttrValue::Str(text)));
    attrs.push((INPUT_MIME_TYPE.to_owned(), mime.into()));
}

/// Sets `output.value` (and its MIME type) to `value`.
pub(crate) fn set_output(attrs: &mut AttrList, value: &Value) {
    let (text, mime) = value_text(value);
    set_output_text(attrs, text, mime);
}

/// Sets `output.value` to `text` of MIME type `mime`.
pub(crate) fn set_output_text(attrs: &mut AttrList, text: String, mime: &'static str) {
    attrs.push((OUTPUT_VALUE.to_owned(), AttrValue::Str(text)));
    attrs.push((OUTPUT_MIME_TYPE.to_owned(), mime.into()));
}

/// What a span contributes itself, once it ends: `input.value` from its arguments and
/// `output.value` from its return value (each only when no event set it), `metadata` from what was
/// recorded into it, `tag.tags`, `session.id` and `user.id` from its tags, and the kind.
pub(crate) struct SpanOwn<'a> {
    pub(crate) kind: Option<SpanKind>,
    pub(crate) args: Option<&'a Map<String, Value>>,
    pub(crate) result: Option<&'a Value>,
    pub(crate) metadata: Option<Map<String, Value>>,
    pub(crate) tags: &'a Tags,
}

impl SpanOwn<'_> {
    /// Adds the span's own attributes to those its events set.
    pub(crate) fn apply(self, attrs: &mut Attrs) {
        attrs.insert(
            SPAN_KIND.to_owned(),
            self.kind.unwrap_or(SpanKind::Chain).as_str().into(),
        );
        let mut own = AttrList::new();
        if let Some(args) = self.args.filter(|_| !attrs.contains_key(INPUT_VALUE)) {
            set_input_text(&mut own, to_json_string_guarded(args), JSON);
        }
        if let Some(result) = self.result.filter(|_| !attrs.contains_key(OUTPUT_VALUE)) {
            set_output(&mut own, result);
        }
        if let Some(metadata) = self.metadata.filter(|m| !m.is_empty()) {
            own.push((
                METADATA.to_owned(),
                AttrValue::Str(to_json_string_guarded(&metadata)),
            ));
        }
        tag_attrs(self.tags, &mut own);
        attrs.extend(own);
    }
}

/// `session.id` and `user.id` from the tags `session_id`/`session.id` and `user_id`/`user.id`, and
/// `tag.tags`: every tag as `key=value` (a string value as itself, others as JSON).
fn tag_attrs(tags: &Tags, attrs: &mut AttrList) {
    if tags.is_empty() {
        return;
    }
    let text = |value: &Value| value_text(value).0;
    for (names, key) in [
        (["session_id", "session.id"], SESSION_ID),
        (["user_id", "user.id"], USER_ID),
    ] {
        if let Some(value) = names.iter().find_map(|name| tags.get(name)) {
            attrs.push((key.to_owned(), AttrValue::Str(text(value))));
        }
    }
    let list = tags
        .iter()
        .map(|(key, value)| format!("{key}={}", text(value)))
        .collect();
    attrs.push((TAG_TAGS.to_owned(), AttrValue::Strs(list)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_fill_input_only_when_no_event_did() {
        let args = json!({"question": "why?", "api_key": "[REDACTED]"});
        let args = args.as_object().unwrap();
        let mut attrs = Attrs::new();
        SpanOwn {
            kind: None,
            args: Some(args),
            result: Some(&json!("because")),
            metadata: None,
            tags: &Tags::from([("session_id", "s1"), ("user.id", "ada")]),
        }
        .apply(&mut attrs);
        assert_eq!(attrs[SPAN_KIND], AttrValue::from("CHAIN"));
        // Compared as JSON: the key order is serde_json's map order, sorted or, when a crate in
        // the build turns on `preserve_order` (rig does, in this workspace's tests), as given.
        let AttrValue::Str(input) = &attrs[INPUT_VALUE] else {
            panic!("{:?}", attrs[INPUT_VALUE]);
        };
        assert_eq!(
            serde_json::from_str::<Value>(input).unwrap(),
            json!({"api_key": "[REDACTED]", "question": "why?"})
        );
        assert_eq!(attrs[INPUT_MIME_TYPE], AttrValue::from(JSON));
        assert_eq!(attrs[OUTPUT_VALUE], AttrValue::from("because"));
        assert_eq!(attrs[OUTPUT_MIME_TYPE], AttrValue::from(TEXT));
        assert_eq!(attrs[SESSION_ID], AttrValue::from("s1"));
        assert_eq!(attrs[USER_ID], AttrValue::from("ada"));

        let mut from_event = Attrs::new();
        from_event.insert(INPUT_VALUE.to_owned(), "from the event".into());
        SpanOwn {
            kind: Some(SpanKind::Llm),
            args: Some(args),
            result: None,
            metadata: None,
            tags: &Tags::new(),
        }
        .apply(&mut from_event);
        assert_eq!(from_event[INPUT_VALUE], AttrValue::from("from the event"));
        assert_eq!(from_event[SPAN_KIND], AttrValue::from("LLM"));
        assert!(!from_event.contains_key(TAG_TAGS));
    }
}
