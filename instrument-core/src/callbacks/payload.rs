//! `EventPayload` keys and the `Payload` map a callback event carries.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// A key of a callback event's payload, with LlamaIndex's string values: `Prompt` is
/// `"formatted_prompt"`, `FunctionOutput` is `"function_call_response"`, the others their snake_case
/// name. These strings are also the `Display`, `FromStr` and serde forms.
///
/// ```
/// use instrument::callbacks::EventPayload;
///
/// assert_eq!(EventPayload::Prompt.as_str(), "formatted_prompt");
/// assert_eq!("query_str".parse::<EventPayload>(), Ok(EventPayload::QueryStr));
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum EventPayload {
    /// Documents being parsed or indexed.
    Documents,
    /// Text chunks.
    Chunks,
    /// Nodes (retrieved, parsed, reranked).
    Nodes,
    /// The formatted prompt sent to an LLM.
    #[serde(rename = "formatted_prompt")]
    Prompt,
    /// Chat messages sent to an LLM.
    Messages,
    /// An LLM's completion.
    Completion,
    /// A response (of an LLM chat, a query, a synthesis).
    Response,
    /// The query string.
    QueryStr,
    /// A sub-question and its answer.
    SubQuestion,
    /// Embedding vectors.
    Embeddings,
    /// How many results were asked for.
    TopK,
    /// Extra keyword arguments of a call.
    AdditionalKwargs,
    /// The serialized component (model settings and the like).
    Serialized,
    /// A function (tool) call.
    FunctionCall,
    /// A function (tool) call's output.
    #[serde(rename = "function_call_response")]
    FunctionOutput,
    /// The tool called.
    Tool,
    /// The model's name.
    ModelName,
    /// A prompt template.
    Template,
    /// The variables filled into a template.
    TemplateVars,
    /// A system prompt.
    SystemPrompt,
    /// A query wrapper prompt.
    QueryWrapperPrompt,
    /// An error raised inside the event.
    Exception,
}

impl EventPayload {
    /// Every key, in declaration order.
    pub const ALL: [Self; 22] = [
        Self::Documents,
        Self::Chunks,
        Self::Nodes,
        Self::Prompt,
        Self::Messages,
        Self::Completion,
        Self::Response,
        Self::QueryStr,
        Self::SubQuestion,
        Self::Embeddings,
        Self::TopK,
        Self::AdditionalKwargs,
        Self::Serialized,
        Self::FunctionCall,
        Self::FunctionOutput,
        Self::Tool,
        Self::ModelName,
        Self::Template,
        Self::TemplateVars,
        Self::SystemPrompt,
        Self::QueryWrapperPrompt,
        Self::Exception,
    ];

    /// LlamaIndex's value for this key.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Documents => "documents",
            Self::Chunks => "chunks",
            Self::Nodes => "nodes",
            Self::Prompt => "formatted_prompt",
            Self::Messages => "messages",
            Self::Completion => "completion",
            Self::Response => "response",
            Self::QueryStr => "query_str",
            Self::SubQuestion => "sub_question",
            Self::Embeddings => "embeddings",
            Self::TopK => "top_k",
            Self::AdditionalKwargs => "additional_kwargs",
            Self::Serialized => "serialized",
            Self::FunctionCall => "function_call",
            Self::FunctionOutput => "function_call_response",
            Self::Tool => "tool",
            Self::ModelName => "model_name",
            Self::Template => "template",
            Self::TemplateVars => "template_vars",
            Self::SystemPrompt => "system_prompt",
            Self::QueryWrapperPrompt => "query_wrapper_prompt",
            Self::Exception => "exception",
        }
    }
}

impl fmt::Display for EventPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an [`EventPayload`] from a string that names none.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown callback payload key `{0}`")]
pub struct ParseEventPayloadError(pub String);

impl FromStr for EventPayload {
    type Err = ParseEventPayloadError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ParseEventPayloadError(s.to_owned()))
    }
}

/// What a callback event carries: JSON values under [`EventPayload`] keys, kept in key order.
///
/// Serializes as a JSON object keyed by the keys' string forms.
///
/// Every value is passed through [`crate::sanitize_json`] as it is added: secrets nested in it
/// (an `api_key` in the `serialized` model settings, say) are `"[REDACTED]"` and what lies deeper
/// than [`crate::MAX_DEPTH`] is `"<too deep>"`, so that no callback handler keeps or prints them.
///
/// ```
/// use instrument::callbacks::{EventPayload, Payload};
///
/// let payload = Payload::new()
///     .with(EventPayload::Prompt, "What is Rust?")
///     .with(EventPayload::TopK, 3);
/// assert_eq!(payload.get_str(EventPayload::Prompt), Some("What is Rust?"));
/// assert_eq!(payload.get(EventPayload::TopK), Some(&serde_json::json!(3)));
/// assert_eq!(
///     serde_json::to_value(&payload).unwrap(),
///     serde_json::json!({ "formatted_prompt": "What is Rust?", "top_k": 3 }),
/// );
///
/// let settings = Payload::new().with(EventPayload::Serialized, serde_json::json!({"api_key": "sk-1"}));
/// assert_eq!(settings.get(EventPayload::Serialized), Some(&serde_json::json!({"api_key": "[REDACTED]"})));
/// ```
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct Payload(BTreeMap<EventPayload, Value>);

impl<'de> serde::Deserialize<'de> for Payload {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::<EventPayload, Value>::deserialize(deserializer)
            .map(|map| map.into_iter().collect())
    }
}

impl Payload {
    /// An empty payload.
    #[must_use]
    pub const fn new() -> Self {
        Self(BTreeMap::new())
    }

    /// This payload with `key` set to `value`.
    #[must_use]
    pub fn with(mut self, key: EventPayload, value: impl Into<Value>) -> Self {
        self.insert(key, value);
        self
    }

    /// This payload with `key` set to `value` serialized; a value that fails to serialize is kept as
    /// the text `<unserializable: ...>`.
    ///
    /// The value is serialised as [`crate::to_json_guarded`] does: bounded in depth, secrets
    /// redacted, and a `Serialize` impl that panics caught.
    #[must_use]
    pub fn with_serialized(mut self, key: EventPayload, value: &impl serde::Serialize) -> Self {
        // Already bounded and redacted: no second pass.
        self.0
            .insert(key, crate::values::value_guard::to_json_guarded(value));
        self
    }

    /// Sets `key` to `value` (sanitised, see [`Payload`]), returning the value it replaces.
    pub fn insert(&mut self, key: EventPayload, value: impl Into<Value>) -> Option<Value> {
        self.0
            .insert(key, crate::values::owned_json::sanitize_json(value.into()))
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: EventPayload) -> Option<Value> {
        self.0.remove(&key)
    }

    /// The value under `key`.
    #[must_use]
    pub fn get(&self, key: EventPayload) -> Option<&Value> {
        self.0.get(&key)
    }

    /// The value under `key`, if it is a string.
    #[must_use]
    pub fn get_str(&self, key: EventPayload) -> Option<&str> {
        self.get(key)?.as_str()
    }

    /// The value under `key`, if it is a non-negative integer.
    #[must_use]
    pub fn get_u64(&self, key: EventPayload) -> Option<u64> {
        self.get(key)?.as_u64()
    }

    /// Whether `key` is set.
    #[must_use]
    pub fn contains(&self, key: EventPayload) -> bool {
        self.0.contains_key(&key)
    }

    /// How many keys are set.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no key is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Keys and values in key order.
    pub fn iter(&self) -> impl Iterator<Item = (EventPayload, &Value)> {
        self.0.iter().map(|(k, v)| (*k, v))
    }

    /// The payload as a JSON object.
    #[must_use]
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect(),
        )
    }
}

impl<V: Into<Value>> FromIterator<(EventPayload, V)> for Payload {
    fn from_iter<I: IntoIterator<Item = (EventPayload, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k, crate::values::owned_json::sanitize_json(v.into())))
                .collect(),
        )
    }
}

impl<V: Into<Value>, const N: usize> From<[(EventPayload, V); N]> for Payload {
    fn from(pairs: [(EventPayload, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a Payload {
    type Item = (&'a EventPayload, &'a Value);
    type IntoIter = std::collections::btree_map::Iter<'a, EventPayload, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
