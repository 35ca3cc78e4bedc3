//! Reading the texts and the usage of an LLM call out of a callback payload's JSON.
//!
//! Payloads hold whatever the caller put there: plain strings, or serialised `ChatMessage`s,
//! `ChatResponse`s and `CompletionResponse`s. Each reader takes both.

use instrument_core::llm::{ChatMessage, ChatResponse};
use serde_json::Value;

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

/// The usage a serialised response reports in its `raw`, else in its `additional_kwargs`.
fn response_usage(value: &Value) -> Option<Usage> {
    let object = value.as_object()?;
    usage_from(
        object.get("raw"),
        object.get("additional_kwargs").and_then(Value::as_object),
    )
}

/// A completion's text (its `text` field, if it is a serialised response) and usage.
pub(super) fn completion(value: &Value) -> (String, Option<Usage>) {
    let body = match value.get("text") {
        Some(Value::String(s)) => s.clone(),
        _ => text(value),
    };
    (body, response_usage(value))
}

/// A chat answer as `role: content` (if it is a serialised response) and its usage.
pub(super) fn chat_response(value: &Value) -> (String, Option<Usage>) {
    let body = if value.get("message").is_some() {
        serde_json::from_value::<ChatResponse>(value.clone())
            .map_or_else(|_| value.to_string(), |r| r.to_string())
    } else {
        message_text(value)
    };
    (body, response_usage(value))
}
