//! `tracing` spans that follow the OpenTelemetry GenAI semantic conventions, as LLM calls: the
//! catalog's events, emitted inside the bridged span when it closes.
//!
//! Rust LLM frameworks (`rig` among them) record each model call as a `tracing` span with
//! `gen_ai.*` fields, most of them declared empty and recorded as the call goes on: the provider
//! and model once the request is routed, the messages when sent, the answer's id, model and usage
//! when it arrives. [`super::InstrumentLayer`] keeps every value recorded into a span until the
//! span closes, and then, by `gen_ai.operation.name`:
//!
//! | operation | events |
//! |---|---|
//! | `chat`, `generate_content` (and spans of older instrumentations with only `gen_ai.system`, `gen_ai.provider.name` or `gen_ai.request.model`) | [`LLMChatStartEvent`], then [`LLMChatEndEvent`] |
//! | `text_completion` | [`LLMCompletionStartEvent`], then [`LLMCompletionEndEvent`] |
//! | `embeddings` | [`EmbeddingStartEvent`], then [`EmbeddingEndEvent`] (no texts or vectors: the conventions record neither) |
//! | `execute_tool` | [`LLMToolCallEvent`] (`gen_ai.tool.name`, `.description`, `.call.id`, `.call.arguments`) |
//! | `invoke_agent` | [`AgentChatWithStepStartEvent`] (`gen_ai.prompt`, else the last user message), then [`AgentChatWithStepEndEvent`] (`gen_ai.completion`, else the answer) |
//!
//! The start events carry the conversation (`gen_ai.system_instructions` as a system message
//! first, unless the conversation holds it already, then `gen_ai.input.messages`), the settings (`gen_ai.request.*` under their short
//! names, `gen_ai.tool.definitions` as `tools`) and the `model_dict` (`model`, `provider`); the
//! end events the answer (the first of `gen_ai.output.messages`) and a `raw` response
//! `{"id", "model", "usage": {"input_tokens", "output_tokens", …}}` that token counting reads as
//! it reads a provider's. A span that ends with an error emits its start event only, as a call
//! that raised does.
//!
//! Both events are emitted when the span closes, one after the other, inside the bridged span and
//! on its dispatcher (the one named after the span's target; handlers see the span's id, and the
//! events before its end): only then is everything the conventions
//! allow to be recorded late known. So the start event's time is the call's end; the span's own
//! start time says when the call began.

mod call;
mod messages;
mod names;
mod operation;
mod value;

use instrument_core::events::{
    AgentChatWithStepEndEvent, AgentChatWithStepStartEvent, EmbeddingEndEvent, EmbeddingStartEvent,
    LLMChatEndEvent, LLMChatStartEvent, LLMCompletionEndEvent, LLMCompletionStartEvent,
    LLMToolCallEvent,
};
use instrument_core::llm::{MessageRole, ToolMetadata};
use instrument_core::{Dispatcher, SpanGuard};
use serde_json::Value;

use self::call::Call;
use self::operation::Operation;
use super::fields::{Fields, text};

/// Emits the catalog events of the GenAI call that `fields` record, inside the span of `guard`,
/// on `dispatcher`; nothing for spans outside the conventions. `failed` when the span ends with an
/// error.
pub(super) fn emit(
    guard: &mut SpanGuard,
    dispatcher: &'static Dispatcher,
    span_name: &str,
    fields: &Fields,
    failed: bool,
) {
    let Some(operation) = Operation::of(fields) else {
        return;
    };
    guard.in_scope(|| match operation {
        Operation::Chat => chat(dispatcher, Call::read(fields), failed),
        Operation::Completion => completion(dispatcher, Call::read(fields), failed),
        Operation::Embeddings => embeddings(dispatcher, Call::read(fields), failed),
        Operation::ExecuteTool => tool(dispatcher, span_name, fields),
        Operation::InvokeAgent => agent(dispatcher, &Call::read(fields), failed),
    });
}

fn chat(dispatcher: &Dispatcher, call: Call, failed: bool) {
    let response = call.chat_response();
    dispatcher.event(LLMChatStartEvent {
        messages: call.messages.clone(),
        additional_kwargs: call.settings,
        model_dict: call.model_dict,
    });
    if !failed {
        dispatcher.event(LLMChatEndEvent {
            messages: call.messages,
            response,
        });
    }
}

fn completion(dispatcher: &Dispatcher, call: Call, failed: bool) {
    let prompt = call.prompt();
    let response = call.completion_response();
    dispatcher.event(LLMCompletionStartEvent {
        prompt: prompt.clone(),
        additional_kwargs: call.settings,
        model_dict: call.model_dict,
    });
    if !failed {
        dispatcher.event(LLMCompletionEndEvent { prompt, response });
    }
}

/// The embedding model's `model_dict` holds the request's settings too (`dimension.count`,
/// `encoding_formats`), as the start event has no other place for them.
fn embeddings(dispatcher: &Dispatcher, call: Call, failed: bool) {
    let mut model_dict = call.model_dict;
    model_dict.extend(call.settings);
    dispatcher.event(EmbeddingStartEvent { model_dict });
    if !failed {
        dispatcher.event(EmbeddingEndEvent {
            chunks: Vec::new(),
            embeddings: Vec::new(),
        });
    }
}

/// The tool is named by `gen_ai.tool.name`, else by the span (`execute_tool {name}`).
fn tool(dispatcher: &Dispatcher, span_name: &str, fields: &Fields) {
    let name = value::text(fields, names::TOOL_NAME)
        .unwrap_or_else(|| span_name.strip_prefix("execute_tool ").unwrap_or(span_name));
    let description = value::text(fields, names::TOOL_DESCRIPTION).unwrap_or_default();
    let arguments = fields
        .get(names::TOOL_CALL_ARGUMENTS)
        .map_or_else(|| "{}".to_owned(), text);
    dispatcher.event(LLMToolCallEvent {
        tool_id: fields.get(names::TOOL_CALL_ID).map(text),
        tool: ToolMetadata::new(name, description),
        arguments,
    });
}

fn agent(dispatcher: &Dispatcher, call: &Call, failed: bool) {
    let user_msg = call
        .messages
        .iter()
        .rev()
        .find(|m| m.role == MessageRole::User)
        .map(|m| m.text().to_owned())
        .unwrap_or_default();
    dispatcher.event(AgentChatWithStepStartEvent { user_msg });
    if !failed {
        let response = call
            .answer_text()
            .map(|answer| Value::String(answer.to_owned()));
        dispatcher.event(AgentChatWithStepEndEvent { response });
    }
}
