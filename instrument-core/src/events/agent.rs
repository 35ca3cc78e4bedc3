//! Events of agents: steps, chat turns and tool calls.

use instrument_macros::Event;
use serde::Serialize;
use serde_json::Value;

use crate::llm::ToolMetadata;

/// An agent is about to run one step of a task.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct AgentRunStepStartEvent {
    /// The task the step belongs to.
    pub task_id: String,
    /// The step, serialised, when the agent has one planned.
    pub step: Option<Value>,
    /// The input of the step, if any.
    pub input: Option<String>,
}

/// An agent has run one step of a task.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct AgentRunStepEndEvent {
    /// The step's output, serialised.
    pub step_output: Value,
}

/// An agent has received a user message, to answer step by step.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct AgentChatWithStepStartEvent {
    /// The user's message.
    pub user_msg: String,
}

/// An agent has answered a user message.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct AgentChatWithStepEndEvent {
    /// The answer, serialised, when there is one.
    pub response: Option<Value>,
}

/// An agent is calling a tool.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct AgentToolCallEvent {
    /// The arguments, as the JSON text the model wrote.
    pub arguments: String,
    /// The tool called.
    pub tool: ToolMetadata,
}
