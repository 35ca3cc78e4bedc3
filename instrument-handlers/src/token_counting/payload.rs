//! Reading the texts, the usage and the model of an LLM call out of a callback payload's JSON.
//!
//! Payloads hold whatever the caller put there: plain strings, or serialised `ChatMessage`s,
//! `ChatResponse`s and `CompletionResponse`s. Each reader takes both.

use instrument_core::callbacks::{EventPayload, Payload};
use instrument_core::llm::{ChatMessage, ChatResponse};
use serde_json::Value;

use super::model;
use super::usage::{Usage, usage_from};

/// A value as text: a string as it is, anything else as JSON.
pub(super) fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Chat messages as `role: content` lines.
pub(super) fn messages_text(value: &Value) -> String {
    match value {
        Value::Array(messages) => messages
            .iter()
            .map(message_text)
            .collect::<Vec<_>>()
            .join("\n"),
        other => message_text(other),
    }
}

fn message_text(value: &Value) -> String {
    match value {
        Value::Object(map) if map.contains_key("role") || map.contains_key("content") => {
            serde_json::from_value::<ChatMessage>(value.clone())
                .map_or_else(|_| value.to_string(), |m| m.to_string())
        }
        other => text(other),
    }
}

/// What a serialised response says of the call: its text, the usage it reports in its `raw`
/// (else in its `additional_kwargs`), and the model its `raw` says served the call.
#[derive(Debug, Default)]
pub(super) struct Answer {
    pub(super) text: String,
    pub(super) usage: Option<Usage>,
    pub(super) model: Option<String>,
}

fn answer(text: String, value: &Value) -> Answer {
    let object = value.as_object();
    let raw = object.and_then(|o| o.get("raw"));
    Answer {
        text,
        usage: object
            .and_then(|o| usage_from(raw, o.get("additional_kwargs").and_then(Value::as_object))),
        model: model::served(raw),
    }
}

/// A completion: its text (its `text` field, if it is a serialised response), usage and model.
pub(super) fn completion(value: &Value) -> Answer {
    let body = match value.get("text") {
        Some(Value::String(s)) => s.clone(),
        _ => text(value),
    };
    answer(body, value)
}

/// A chat answer as `role: content` (if it is a serialised response), its usage and model.
pub(super) fn chat_response(value: &Value) -> Answer {
    let body = if value.get("message").is_some() {
        serde_json::from_value::<ChatResponse>(value.clone())
            .map_or_else(|_| value.to_string(), |r| r.to_string())
    } else {
        message_text(value)
    };
    answer(body, value)
}

/// The model a start payload names: in its `additional_kwargs`, then its `serialized` model
/// settings, then its `model_name`.
pub(super) fn model(payload: &Payload) -> Option<String> {
    let object = |key| payload.get(key).and_then(Value::as_object);
    let maps: Vec<_> = [EventPayload::AdditionalKwargs, EventPayload::Serialized]
        .into_iter()
        .filter_map(object)
        .collect();
    model::named_in(&maps).or_else(|| {
        payload
            .get(EventPayload::ModelName)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    })
}
