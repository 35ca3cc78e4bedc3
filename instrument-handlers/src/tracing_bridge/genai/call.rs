//! What a GenAI span recorded about one model call, read into the catalog's terms: the
//! conversation, the call's settings, the model, and the answer with its usage.

use instrument_core::llm::{ChatMessage, ChatResponse, CompletionResponse, MessageRole};
use serde_json::{Map, Value};

use super::{messages, names, value};
use crate::tracing_bridge::fields::Fields;

/// One model call, as its span's fields tell it.
#[derive(Debug, Default)]
pub(super) struct Call {
    /// `gen_ai.system_instructions` as a system message (unless the conversation holds that
    /// message already), then `gen_ai.input.messages` (else the deprecated `gen_ai.prompt`).
    pub(super) messages: Vec<ChatMessage>,
    /// Each `gen_ai.request.*` setting but the model, under its name without the prefix
    /// (`temperature`, `max_tokens`, `stream`, …), and `gen_ai.tool.definitions` as `tools`.
    pub(super) settings: Map<String, Value>,
    /// `model` (the requested model, else the one that answered) and `provider`
    /// (`gen_ai.provider.name`, else the deprecated `gen_ai.system`).
    pub(super) model_dict: Map<String, Value>,
    /// The first of `gen_ai.output.messages` (else the deprecated `gen_ai.completion`).
    answer: Option<ChatMessage>,
    /// `id`, `model` and `usage` of the answer (see [`Call::raw`]).
    raw: Map<String, Value>,
    /// `finish_reasons`.
    response_kwargs: Map<String, Value>,
}

impl Call {
    /// Reads a call from its span's fields; what is missing or unreadable stays empty.
    pub(super) fn read(fields: &Fields) -> Self {
        let mut call = Self::default();
        if let Some(input) = fields
            .get(names::INPUT_MESSAGES)
            .or_else(|| fields.get(names::PROMPT))
        {
            call.messages = messages::conversation(input, MessageRole::User);
        }
        // Instructions go first, unless the conversation already holds them as a system message
        // (rig records them both ways).
        if let Some(instructions) = fields
            .get(names::SYSTEM_INSTRUCTIONS)
            .and_then(messages::instructions)
            .filter(|instructions| !call.messages.contains(instructions))
        {
            call.messages.insert(0, instructions);
        }
        let mut finish_reason = None;
        if let Some(output) = fields
            .get(names::OUTPUT_MESSAGES)
            .or_else(|| fields.get(names::COMPLETION))
            && let Some((answer, reason)) = messages::first_answer(output)
        {
            call.answer = Some(answer);
            finish_reason = reason;
        }
        call.read_fields(fields);
        let reasons = match value::structured(fields, names::FINISH_REASONS) {
            Some(reasons) => Some(reasons.into_owned()),
            None => finish_reason.map(|reason| Value::Array(vec![reason.into()])),
        };
        if let Some(reasons) = reasons {
            call.response_kwargs
                .insert("finish_reasons".into(), reasons);
        }
        call
    }

    /// The settings, usage and names, field by field.
    fn read_fields(&mut self, fields: &Fields) {
        for (name, field) in fields.iter() {
            if let Some(usage) = name.strip_prefix(names::USAGE_PREFIX) {
                let usage_map = self
                    .raw
                    .entry("usage")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(usage_map) = usage_map {
                    usage_map.insert(usage.to_owned(), field.clone());
                }
            } else if name == names::TOOL_DEFINITIONS {
                let tools = value::decoded(field).into_owned();
                self.settings.insert("tools".into(), tools);
            } else if let Some(setting) = name
                .strip_prefix(names::REQUEST_PREFIX)
                .filter(|_| name != names::REQUEST_MODEL)
            {
                let setting_value = value::decoded(field).into_owned();
                self.settings.insert(setting.to_owned(), setting_value);
            }
        }
        let model = value::text(fields, names::REQUEST_MODEL)
            .or_else(|| value::text(fields, names::RESPONSE_MODEL));
        let provider =
            value::text(fields, names::PROVIDER).or_else(|| value::text(fields, names::SYSTEM));
        for (key, found) in [("model", model), ("provider", provider)] {
            if let Some(found) = found {
                self.model_dict.insert(key.into(), found.into());
            }
        }
        for (key, name) in [("id", names::RESPONSE_ID), ("model", names::RESPONSE_MODEL)] {
            if let Some(found) = value::text(fields, name) {
                self.raw.insert(key.into(), found.into());
            }
        }
    }

    /// The answer's `raw`, shaped as a provider's response: `{"id", "model", "usage"}`, the usage
    /// under the conventions' names without their `gen_ai.usage.` prefix (`input_tokens`,
    /// `output_tokens`, `cache_read.input_tokens`, …), which
    /// [`usage_from`](crate::token_counting::usage_from) reads. `None` when none was recorded.
    fn raw(&self) -> Option<Value> {
        (!self.raw.is_empty()).then(|| Value::Object(self.raw.clone()))
    }

    /// Whether anything of an answer was recorded: a message, an id, a model, usage, or a reason
    /// to stop.
    fn answered(&self) -> bool {
        self.answer.is_some() || !self.raw.is_empty() || !self.response_kwargs.is_empty()
    }

    /// The answer as a chat response; `None` when nothing of it was recorded. Without recorded
    /// output (content capture is opt-in in the conventions) the message is the assistant's with
    /// no content, and the response still carries the usage.
    pub(super) fn chat_response(&self) -> Option<ChatResponse> {
        if !self.answered() {
            return None;
        }
        let message = self.answer.clone().unwrap_or(ChatMessage {
            role: MessageRole::Assistant,
            ..ChatMessage::default()
        });
        Some(ChatResponse {
            message,
            delta: None,
            raw: self.raw(),
            additional_kwargs: self.response_kwargs.clone(),
        })
    }

    /// The text of the conversation, as a completion's prompt.
    pub(super) fn prompt(&self) -> String {
        let texts: Vec<&str> = self
            .messages
            .iter()
            .filter_map(|m| m.content.as_deref())
            .collect();
        texts.join("\n")
    }

    /// The answer as a completion response (its text; empty when not recorded).
    pub(super) fn completion_response(&self) -> CompletionResponse {
        CompletionResponse {
            text: self
                .answer
                .as_ref()
                .map(|m| m.text().to_owned())
                .unwrap_or_default(),
            delta: None,
            raw: self.raw(),
            additional_kwargs: self.response_kwargs.clone(),
        }
    }

    /// The answer's text, if one was recorded.
    pub(super) fn answer_text(&self) -> Option<&str> {
        self.answer.as_ref().and_then(|m| m.content.as_deref())
    }
}
