//! The `tracing` field names of the OpenTelemetry GenAI semantic conventions that the bridge reads.
//!
//! Sources: the conventions' span definitions (`docs/gen-ai/gen-ai-spans.md` of
//! open-telemetry/semantic-conventions: inference, embeddings and execute-tool spans), their
//! attribute registry (`docs/registry/attributes/gen-ai.md`, deprecated names included) and the
//! JSON schemas of the message attributes (`docs/gen-ai/gen-ai-input-messages.json`,
//! `gen-ai-output-messages.json`, `gen-ai-system-instructions.json`). `rig-core` 0.44 and
//! `rig-agent` 0.44 record these names (their `telemetry` modules), most of them declared
//! `Empty` when the span is made and recorded later.

/// What the span does: `chat`, `generate_content`, `text_completion`, `embeddings`,
/// `execute_tool`, `invoke_agent`, …
pub(super) const OPERATION: &str = "gen_ai.operation.name";
/// Who serves the model: `openai`, `anthropic`, `gcp.vertex_ai`, …
pub(super) const PROVIDER: &str = "gen_ai.provider.name";
/// The provider's older name, replaced by [`PROVIDER`].
pub(super) const SYSTEM: &str = "gen_ai.system";
/// The model asked for.
pub(super) const REQUEST_MODEL: &str = "gen_ai.request.model";
/// The prefix of the request's settings: `temperature`, `max_tokens`, `top_p`, `top_k`,
/// `frequency_penalty`, `presence_penalty`, `stop_sequences`, `seed`, `choice.count`, `stream`,
/// `encoding_formats`, …
pub(super) const REQUEST_PREFIX: &str = "gen_ai.request.";
/// The model that answered.
pub(super) const RESPONSE_MODEL: &str = "gen_ai.response.model";
/// The provider's id of the answer.
pub(super) const RESPONSE_ID: &str = "gen_ai.response.id";
/// Why the model stopped, one reason per choice (a string array, so JSON text on a span).
pub(super) const FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
/// The prefix of the token counts: `input_tokens`, `output_tokens`,
/// `cache_read.input_tokens`, `cache_creation.input_tokens`, and the deprecated
/// `prompt_tokens`/`completion_tokens`.
pub(super) const USAGE_PREFIX: &str = "gen_ai.usage.";
/// The conversation sent: a JSON array of `{role, parts: [{type, …}]}`.
pub(super) const INPUT_MESSAGES: &str = "gen_ai.input.messages";
/// The answers, one per choice: `{role, parts, finish_reason}`.
pub(super) const OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
/// Instructions given apart from the conversation: a JSON array of parts.
pub(super) const SYSTEM_INSTRUCTIONS: &str = "gen_ai.system_instructions";
/// The tools offered to the model.
pub(super) const TOOL_DEFINITIONS: &str = "gen_ai.tool.definitions";
/// The deprecated prompt attribute (rig's `invoke_agent` span records the user's prompt here).
pub(super) const PROMPT: &str = "gen_ai.prompt";
/// The deprecated completion attribute (rig's `invoke_agent` span records the answer here).
pub(super) const COMPLETION: &str = "gen_ai.completion";
/// The tool an `execute_tool` span runs.
pub(super) const TOOL_NAME: &str = "gen_ai.tool.name";
/// What that tool does.
pub(super) const TOOL_DESCRIPTION: &str = "gen_ai.tool.description";
/// The model's id of the tool call.
pub(super) const TOOL_CALL_ID: &str = "gen_ai.tool.call.id";
/// The tool call's arguments (an object, so JSON text on a span).
pub(super) const TOOL_CALL_ARGUMENTS: &str = "gen_ai.tool.call.arguments";
