//! What a tool is, as an LLM is told about it.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A tool's name, description and parameters (a JSON Schema object), as given to a function-calling
/// LLM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolMetadata {
    /// The name the LLM calls the tool by.
    pub name: String,
    /// What the tool does, for the LLM to decide when to call it.
    #[serde(default)]
    pub description: String,
    /// The JSON Schema of the tool's arguments.
    #[serde(default = "empty_schema")]
    pub parameters: Value,
}

fn empty_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

impl ToolMetadata {
    /// A tool that takes no arguments (an empty object schema).
    #[must_use]
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            parameters: empty_schema(),
        }
    }

    /// The tool with `parameters` as its arguments' JSON Schema.
    #[must_use]
    pub fn with_parameters(mut self, parameters: Value) -> Self {
        self.parameters = parameters;
        self
    }

    /// The tool as an `OpenAI` function: `{"name", "description", "parameters"}`, the form of a
    /// fine-tuning example's `functions`.
    #[must_use]
    pub fn to_openai_function(&self) -> Value {
        json!({
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        })
    }

    /// The tool as an `OpenAI` tool: `{"type": "function", "function": {..}}`.
    #[must_use]
    pub fn to_openai_tool(&self) -> Value {
        json!({"type": "function", "function": self.to_openai_function()})
    }
}
