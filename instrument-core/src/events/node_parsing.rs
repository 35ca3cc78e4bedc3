//! Events of node parsing: documents turned into nodes.

use instrument_macros::Event;
use serde::Serialize;

use crate::llm::Node;

/// A node parser is about to parse documents into nodes.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct NodeParsingStartEvent {
    /// The documents to parse.
    pub documents: Vec<Node>,
}

/// A node parser has parsed its documents.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct NodeParsingEndEvent {
    /// The nodes made.
    pub nodes: Vec<Node>,
}
