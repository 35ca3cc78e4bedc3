//! Events of response synthesis: turning retrieved text into an answer.

use instrument_macros::Event;
use serde::Serialize;
use serde_json::Value;

use crate::llm::QueryType;

/// A synthesizer is about to answer a query from its nodes.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct SynthesizeStartEvent {
    /// The query, as a string or a bundle.
    pub query: QueryType,
}

/// A synthesizer has answered.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct SynthesizeEndEvent {
    /// The query, as a string or a bundle.
    pub query: QueryType,
    /// The answer, serialised: usually `{"response": .., "source_nodes": [..], "metadata": {..}}`.
    pub response: Value,
}

/// A response builder is about to write an answer from text chunks.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct GetResponseStartEvent {
    /// The query.
    pub query_str: String,
    /// The texts the answer draws on.
    pub text_chunks: Vec<String>,
}

/// A response builder has written its answer. It has no fields, as in `LlamaIndex`: the answer may
/// still be streaming, and is reported by [`SynthesizeEndEvent`].
#[derive(Debug, Clone, Default, Serialize, Event)]
#[event(crate = crate)]
pub struct GetResponseEndEvent {}
