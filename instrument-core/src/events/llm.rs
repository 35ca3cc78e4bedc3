//! Events of LLM calls: predictions from templates, structured predictions, completions, chats and
//! the tool calls a model asks for.

use instrument_macros::Event;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::llm::{ChatMessage, ChatResponse, CompletionResponse, ToolMetadata};

/// A prediction from a prompt template is about to start.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct LLMPredictStartEvent {
    /// The prompt template, serialised.
    pub template: Value,
    /// The values that fill the template's variables.
    pub template_args: Option<Map<String, Value>>,
}

/// A prediction from a prompt template has finished.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct LLMPredictEndEvent {
    /// The text the model produced.
    pub output: String,
}

/// A structured prediction (output parsed into a type) is about to start.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct LLMStructuredPredictStartEvent {
    /// The type the output is parsed into: usually its name, or its JSON Schema.
    pub output_cls: Value,
    /// The prompt template, serialised.
    pub template: Value,
    /// The values that fill the template's variables.
    pub template_args: Option<Map<String, Value>>,
}

/// A streamed structured prediction has produced a partial output.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct LLMStructuredPredictInProgressEvent {
    /// The output parsed so far, serialised.
    pub output: Value,
}

/// A structured prediction has finished.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct LLMStructuredPredictEndEvent {
    /// The parsed output, serialised.
    pub output: Value,
}

/// A completion call is about to be sent to the model.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct LLMCompletionStartEvent {
    /// The prompt to complete.
    pub prompt: String,
    /// Extra arguments of this call (temperature, max tokens, ...).
    pub additional_kwargs: Map<String, Value>,
    /// The model's configuration: name, provider, defaults. Keep secrets out of it.
    pub model_dict: Map<String, Value>,
}

/// A streamed completion has received another piece.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct LLMCompletionInProgressEvent {
    /// The prompt being completed.
    pub prompt: String,
    /// The response so far, its newest piece in `delta`.
    pub response: CompletionResponse,
}

/// A completion call has finished.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct LLMCompletionEndEvent {
    /// The prompt that was completed.
    pub prompt: String,
    /// The whole response; its `raw` holds the provider's usage.
    pub response: CompletionResponse,
}

/// A chat call is about to be sent to the model.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct LLMChatStartEvent {
    /// The conversation sent.
    pub messages: Vec<ChatMessage>,
    /// Extra arguments of this call (temperature, tools, ...).
    pub additional_kwargs: Map<String, Value>,
    /// The model's configuration: name, provider, defaults. Keep secrets out of it.
    pub model_dict: Map<String, Value>,
}

/// A streamed chat has received another piece.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct LLMChatInProgressEvent {
    /// The conversation sent.
    pub messages: Vec<ChatMessage>,
    /// The response so far, its newest piece in `delta`.
    pub response: ChatResponse,
}

/// A chat call has finished; `response` is `None` when it produced nothing (a stream that ended
/// before its first piece).
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct LLMChatEndEvent {
    /// The conversation sent.
    pub messages: Vec<ChatMessage>,
    /// The last response; its `raw` holds the provider's usage.
    pub response: Option<ChatResponse>,
}

/// The model asked for a tool to be called.
///
/// `LlamaIndex` reports tool calls only at the agent level ([`AgentToolCallEvent`]); this is the same
/// record at the LLM level, for applications that call tools without an agent.
///
/// [`AgentToolCallEvent`]: super::AgentToolCallEvent
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct LLMToolCallEvent {
    /// The provider's id of the call, when it gives one.
    pub tool_id: Option<String>,
    /// The tool called.
    pub tool: ToolMetadata,
    /// The arguments, as the JSON text the model wrote.
    pub arguments: String,
}
