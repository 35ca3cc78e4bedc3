//! Events of reranking.

use instrument_macros::Event;
use serde::Serialize;

use crate::llm::{NodeWithScore, QueryType};

/// A reranker is about to reorder nodes for a query.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct ReRankStartEvent {
    /// The query, when there is one.
    pub query: Option<QueryType>,
    /// The nodes to reorder, with their retrieval scores.
    pub nodes: Vec<NodeWithScore>,
    /// How many nodes to keep.
    pub top_n: usize,
    /// The reranking model.
    pub model_name: String,
}

/// A reranker has reordered its nodes.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct ReRankEndEvent {
    /// The nodes kept, best first, with their new scores.
    pub nodes: Vec<NodeWithScore>,
}
