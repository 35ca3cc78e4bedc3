//! Events of retrieval.

use instrument_macros::Event;
use serde::Serialize;

use crate::llm::{NodeWithScore, QueryType};

/// A retriever is about to look for nodes matching a query.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct RetrievalStartEvent {
    /// The query, as a string or a bundle.
    pub str_or_query_bundle: QueryType,
}

/// A retriever has found its nodes.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct RetrievalEndEvent {
    /// The query, as a string or a bundle.
    pub str_or_query_bundle: QueryType,
    /// The nodes found, with their scores, best first.
    pub nodes: Vec<NodeWithScore>,
}
