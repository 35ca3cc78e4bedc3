//! GenAI messages (`gen_ai.input.messages`, `gen_ai.output.messages`,
//! `gen_ai.system_instructions`) as [`ChatMessage`]s.
//!
//! A GenAI message is `{role, parts}`, each part typed: `text` (`content`), `tool_call` (`id`,
//! `name`, `arguments`), `tool_call_response` (`id`, `response`), and media, reasoning or custom
//! parts. A [`ChatMessage`] is `{role, content, additional_kwargs}` in OpenAI's form, so:
//!
//! - text parts become the content, joined by newlines;
//! - tool calls become `additional_kwargs.tool_calls` as OpenAI writes them
//!   (`{id, type: "function", function: {name, arguments}}`, the arguments as JSON text);
//! - each tool call response becomes a message of its own, role `tool`, with
//!   `additional_kwargs.tool_call_id`, as OpenAI takes tool results;
//! - media, reasoning and custom parts are left out.
//!
//! Messages written as `{role, content}` (content a string or OpenAI's content parts) are read
//! too, and text that is not JSON is taken as one message's text. Whatever cannot be read (an
//! item that is no message, a part without its fields) is skipped; the rest is kept.

use instrument_core::llm::{ChatMessage, MessageRole};
use serde_json::{Map, Value, json};

use super::value::decoded;
use crate::tracing_bridge::fields::text;

/// The messages of a conversation value; `role` for items and text that name none.
pub(super) fn conversation(value: &Value, role: MessageRole) -> Vec<ChatMessage> {
    let mut out = Vec::new();
    match &*decoded(value) {
        Value::Array(items) => {
            for item in items {
                item_messages(item, role, &mut out);
            }
        }
        other => item_messages(other, role, &mut out),
    }
    out
}

/// The first answer of a `gen_ai.output.messages` value (one message per choice), with its
/// `finish_reason`.
pub(super) fn first_answer(value: &Value) -> Option<(ChatMessage, Option<String>)> {
    let decoded = decoded(value);
    let first = match &*decoded {
        Value::Array(items) => items.first()?,
        other => other,
    };
    let finish_reason = first
        .get("finish_reason")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut messages = Vec::new();
    item_messages(first, MessageRole::Assistant, &mut messages);
    let answer = messages.into_iter().find(|m| m.role != MessageRole::Tool)?;
    Some((answer, finish_reason))
}

/// `gen_ai.system_instructions` (an array of parts, or text) as one system message; `None` when
/// it holds no text.
pub(super) fn instructions(value: &Value) -> Option<ChatMessage> {
    let decoded = decoded(value);
    let content = match &*decoded {
        Value::Array(parts) => Message::of_parts(parts).content?,
        Value::Object(part) => {
            Message::of_parts(std::slice::from_ref(&Value::Object(part.clone()))).content?
        }
        Value::String(text) => text.clone(),
        _ => return None,
    };
    Some(ChatMessage::system(content))
}

/// The messages one item of a conversation makes: its tool results, then itself.
fn item_messages(item: &Value, default_role: MessageRole, out: &mut Vec<ChatMessage>) {
    match item {
        Value::Object(object) => {
            let role = object
                .get("role")
                .and_then(Value::as_str)
                .and_then(role)
                .unwrap_or(default_role);
            let message = match object.get("parts").or_else(|| object.get("content")) {
                Some(Value::Array(parts)) => Message::of_parts(parts),
                Some(Value::String(text)) => Message::text(text.clone()),
                _ => Message::default(),
            };
            message.push_into(role, out);
        }
        Value::String(text) => out.push(ChatMessage::new(default_role, text.clone())),
        _ => {}
    }
}

/// A role by its name, in any case; `None` for names `MessageRole` lacks.
fn role(name: &str) -> Option<MessageRole> {
    MessageRole::from_name(&name.to_ascii_lowercase())
}

/// What the parts of one message hold.
#[derive(Default)]
struct Message {
    content: Option<String>,
    tool_calls: Vec<Value>,
    tool_results: Vec<ChatMessage>,
}

impl Message {
    fn text(text: String) -> Self {
        Self {
            content: Some(text),
            ..Self::default()
        }
    }

    fn of_parts(parts: &[Value]) -> Self {
        let mut message = Self::default();
        for part in parts {
            message.add(part);
        }
        message
    }

    fn add(&mut self, part: &Value) {
        let Value::Object(part) = part else {
            if let Value::String(text) = part {
                self.add_text(text);
            }
            return;
        };
        match part.get("type").and_then(Value::as_str) {
            // `content` in the GenAI schema, `text` in OpenAI's content parts.
            Some("text") | None => {
                if let Some(text) = ["content", "text"]
                    .iter()
                    .find_map(|key| part.get(*key).and_then(Value::as_str))
                {
                    self.add_text(text);
                }
            }
            Some("tool_call") => {
                if let Some(call) = tool_call(part) {
                    self.tool_calls.push(call);
                }
            }
            Some("tool_call_response") => {
                if let Some(result) = tool_result(part) {
                    self.tool_results.push(result);
                }
            }
            Some(_) => {}
        }
    }

    fn add_text(&mut self, text: &str) {
        match &mut self.content {
            Some(content) => {
                content.push('\n');
                content.push_str(text);
            }
            None => self.content = Some(text.to_owned()),
        }
    }

    /// Pushes the tool results, then the message itself unless it was only tool results.
    fn push_into(self, role: MessageRole, out: &mut Vec<ChatMessage>) {
        let only_results =
            !self.tool_results.is_empty() && self.content.is_none() && self.tool_calls.is_empty();
        out.extend(self.tool_results);
        if only_results {
            return;
        }
        let mut additional_kwargs = Map::new();
        if !self.tool_calls.is_empty() {
            additional_kwargs.insert("tool_calls".into(), Value::Array(self.tool_calls));
        }
        out.push(ChatMessage {
            role,
            content: self.content,
            additional_kwargs,
        });
    }
}

/// A `tool_call` part as an OpenAI tool call; `None` without a name.
fn tool_call(part: &Map<String, Value>) -> Option<Value> {
    let name = part.get("name")?.as_str()?;
    let arguments = match part.get("arguments") {
        Some(Value::String(text)) => text.clone(),
        None | Some(Value::Null) => "{}".to_owned(),
        Some(other) => other.to_string(),
    };
    let mut call = Map::new();
    if let Some(id) = part.get("id").and_then(Value::as_str) {
        call.insert("id".into(), id.into());
    }
    call.insert("type".into(), "function".into());
    call.insert(
        "function".into(),
        json!({"name": name, "arguments": arguments}),
    );
    Some(Value::Object(call))
}

/// A `tool_call_response` part as a `tool` message; `None` without a response. The schema names
/// it `response`; the conventions' own example, `result`.
fn tool_result(part: &Map<String, Value>) -> Option<ChatMessage> {
    let response = part.get("response").or_else(|| part.get("result"))?;
    let mut message = ChatMessage::tool(text(response));
    if let Some(id) = part.get("id").and_then(Value::as_str) {
        message = message.with_kwarg("tool_call_id", id);
    }
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_become_content_tool_calls_and_tool_messages() {
        let value = json!([
            {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
            {"role": "assistant", "parts": [
                {"type": "tool_call", "id": "c1", "name": "weather", "arguments": {"city": "Paris"}}
            ]},
            {"role": "user", "parts": [{"type": "tool_call_response", "id": "c1", "response": "rainy"}]},
        ]);
        let messages = conversation(&value, MessageRole::User);
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0], ChatMessage::user("Weather in Paris?"));
        assert_eq!(messages[1].role, MessageRole::Assistant);
        assert_eq!(messages[1].content, None);
        assert_eq!(
            messages[1].additional_kwargs["tool_calls"],
            json!([{"id": "c1", "type": "function",
                    "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}])
        );
        assert_eq!(
            messages[2],
            ChatMessage::tool("rainy").with_kwarg("tool_call_id", "c1")
        );
    }

    #[test]
    fn json_text_and_openai_shapes_are_read() {
        let text = r#"[{"role":"system","content":"Be brief."},
                       {"role":"user","content":[{"type":"text","text":"Hi"},{"type":"image_url"}]}]"#;
        let messages = conversation(&json!(text), MessageRole::User);
        assert_eq!(
            messages,
            [ChatMessage::system("Be brief."), ChatMessage::user("Hi")]
        );
    }

    #[test]
    fn unreadable_input_is_skipped_not_fatal() {
        assert_eq!(
            conversation(&json!("plain prompt"), MessageRole::User),
            [ChatMessage::user("plain prompt")]
        );
        assert_eq!(
            conversation(&json!("[{\"role\": \"user\""), MessageRole::User),
            [ChatMessage::user("[{\"role\": \"user\"")]
        );
        assert!(conversation(&json!([1, null, true]), MessageRole::User).is_empty());
        assert!(conversation(&json!(3), MessageRole::User).is_empty());
        let odd = conversation(
            &json!([{"role": "narrator", "parts": [{"type": "tool_call"}, {"type": "blob"}]}]),
            MessageRole::User,
        );
        assert_eq!(odd, [ChatMessage::default()]);
        assert_eq!(first_answer(&json!([])), None);
        assert_eq!(instructions(&json!({"type": "blob"})), None);
    }

    #[test]
    fn the_first_answer_and_the_instructions() {
        let output = json!([
            {"role": "assistant", "parts": [{"type": "text", "content": "Rainy."}], "finish_reason": "stop"},
            {"role": "assistant", "parts": [{"type": "text", "content": "Wet."}], "finish_reason": "stop"},
        ]);
        assert_eq!(
            first_answer(&output),
            Some((ChatMessage::assistant("Rainy."), Some("stop".to_owned())))
        );
        assert_eq!(
            instructions(&json!(r#"[{"type":"text","content":"Be brief."}]"#)),
            Some(ChatMessage::system("Be brief."))
        );
        assert_eq!(
            instructions(&json!("Be brief.")),
            Some(ChatMessage::system("Be brief."))
        );
    }
}
