//! What the OpenAI API's JSON says, as the catalog's types: messages, responses, the model's
//! settings. Requests and responses are read through their JSON form, which is the API's own and
//! stays stable while `async-openai`'s Rust types move between versions.

use instrument_core::llm::{ChatMessage, ChatResponse, CompletionResponse, MessageRole};
use serde_json::{Map, Value};

/// Request fields that describe the model rather than the call (`model_dict`).
const MODEL_FIELDS: [&str; 1] = ["model"];
/// Request fields that are the call's payload, not its settings.
const PAYLOAD_FIELDS: [&str; 5] = ["messages", "prompt", "input", "stream", "stream_options"];

/// A request as JSON (`Null` when it does not serialise, which the API's types always do).
pub(crate) fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// `model_dict` and `additional_kwargs` of a request: the model (and the provider) apart, every
/// other setting (temperature, max tokens, tools, ...) as the call's keyword arguments.
pub(crate) fn settings(request: &Value) -> (Map<String, Value>, Map<String, Value>) {
    let mut model = Map::new();
    let mut kwargs = Map::new();
    if let Value::Object(fields) = request {
        for (key, value) in fields {
            if value.is_null() || PAYLOAD_FIELDS.contains(&key.as_str()) {
                continue;
            }
            if MODEL_FIELDS.contains(&key.as_str()) {
                model.insert(key.clone(), value.clone());
            } else {
                kwargs.insert(key.clone(), value.clone());
            }
        }
    }
    model.insert("class_name".into(), Value::String("OpenAI".into()));
    (model, kwargs)
}

/// The messages of a chat request.
pub(crate) fn request_messages(request: &Value) -> Vec<ChatMessage> {
    request["messages"]
        .as_array()
        .map(|messages| messages.iter().map(message).collect())
        .unwrap_or_default()
}

/// One API message: its role, its text (a string, or the text parts of a list), and everything
/// else (tool calls, a tool call's id, a name, non-text parts) as keyword arguments.
pub(crate) fn message(value: &Value) -> ChatMessage {
    let role = value["role"]
        .as_str()
        .and_then(MessageRole::from_name)
        .unwrap_or(MessageRole::User);
    let content = match &value["content"] {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|part| part["text"].as_str())
                .collect();
            (!texts.is_empty()).then(|| texts.join(""))
        }
        _ => None,
    };
    let mut additional_kwargs = Map::new();
    if let Value::Object(fields) = value {
        for (key, field) in fields {
            if key == "role" || field.is_null() {
                continue;
            }
            // The text is `content`; a list with other parts (images, audio) is kept whole.
            if key == "content"
                && !matches!(field, Value::Array(parts) if parts.iter().any(|p| p["text"].is_null()))
            {
                continue;
            }
            additional_kwargs.insert(key.clone(), field.clone());
        }
    }
    ChatMessage {
        role,
        content,
        additional_kwargs,
    }
}

/// A chat completion as the catalog's response: the first choice's message, the whole answer as
/// `raw` (its `usage` is what token counting reads), and its finish reason.
pub(crate) fn chat_response(response: &Value) -> ChatResponse {
    let choice = &response["choices"][0];
    let mut answer = ChatResponse::new(message(&choice["message"]));
    if answer.message.role == MessageRole::User {
        answer.message.role = MessageRole::Assistant;
    }
    if let Some(reason) = choice["finish_reason"].as_str() {
        answer
            .additional_kwargs
            .insert("finish_reason".into(), reason.into());
    }
    answer.raw = Some(response.clone());
    answer
}

/// A legacy completion as the catalog's response.
pub(crate) fn completion_response(response: &Value) -> CompletionResponse {
    let mut answer =
        CompletionResponse::new(response["choices"][0]["text"].as_str().unwrap_or_default());
    answer.raw = Some(response.clone());
    answer
}

/// A completion request's prompt: a string, or the strings of a list joined by new lines.
pub(crate) fn prompt(request: &Value) -> String {
    match &request["prompt"] {
        Value::String(text) => text.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// An embedding request's texts.
pub(crate) fn embedding_inputs(request: &Value) -> Vec<String> {
    match &request["input"] {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map_or_else(|| item.to_string(), str::to_owned)
            })
            .collect(),
        other => vec![other.to_string()],
    }
}

/// An embedding response's vectors, in input order.
pub(crate) fn embedding_vectors(response: &Value) -> Vec<Vec<f64>> {
    let mut data: Vec<&Value> = response["data"]
        .as_array()
        .map(|data| data.iter().collect())
        .unwrap_or_default();
    data.sort_by_key(|item| item["index"].as_u64().unwrap_or(u64::MAX));
    data.iter()
        .map(|item| {
            item["embedding"]
                .as_array()
                .map(|vector| vector.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_split_into_messages_model_and_settings() {
        let request = json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]},
                {"role": "tool", "content": "42", "tool_call_id": "call_1"}
            ],
            "temperature": 0.2,
            "stream": true,
            "tools": [{"type": "function", "function": {"name": "add"}}],
            "user": null
        });
        let messages = request_messages(&request);
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0].role, MessageRole::System);
        assert_eq!(messages[1].content.as_deref(), Some("Hi there"));
        assert_eq!(messages[2].role, MessageRole::Tool);
        assert_eq!(messages[2].additional_kwargs["tool_call_id"], "call_1");
        let (model, kwargs) = settings(&request);
        assert_eq!(model["model"], "gpt-4o-mini");
        assert_eq!(kwargs["temperature"], 0.2);
        assert!(kwargs.contains_key("tools"));
        assert!(!kwargs.contains_key("stream") && !kwargs.contains_key("user"));
    }

    #[test]
    fn responses_keep_tool_calls_usage_and_order() {
        let response = json!({
            "choices": [{"message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{}"}}]},
                "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
        });
        let answer = chat_response(&response);
        assert_eq!(answer.message.role, MessageRole::Assistant);
        assert_eq!(
            answer.message.additional_kwargs["tool_calls"][0]["id"],
            "c1"
        );
        assert_eq!(answer.additional_kwargs["finish_reason"], "tool_calls");
        assert_eq!(answer.raw.unwrap()["usage"]["total_tokens"], 4);

        let vectors = embedding_vectors(&json!({"data": [
            {"index": 1, "embedding": [0.5]}, {"index": 0, "embedding": [0.25, 1.0]}
        ]}));
        assert_eq!(vectors, [vec![0.25, 1.0], vec![0.5]]);
        assert_eq!(embedding_inputs(&json!({"input": ["a", "b"]})), ["a", "b"]);
        assert_eq!(prompt(&json!({"prompt": ["1", "2"]})), "1\n2");
    }
}
