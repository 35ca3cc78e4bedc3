//! Events of queries to a query engine.

use instrument_macros::Event;
use serde::Serialize;
use serde_json::Value;

use crate::llm::QueryType;

/// A query engine has received a query.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct QueryStartEvent {
    /// The query, as a string or a bundle.
    pub query: QueryType,
}

/// A query engine has answered.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct QueryEndEvent {
    /// The query, as a string or a bundle.
    pub query: QueryType,
    /// The answer, serialised: usually `{"response": .., "source_nodes": [..], "metadata": {..}}`.
    pub response: Value,
}
