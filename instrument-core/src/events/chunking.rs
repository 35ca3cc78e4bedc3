//! Events of text splitting.

use instrument_macros::Event;
use serde::Serialize;

/// A text splitter is about to split texts into chunks.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct ChunkingStartEvent {
    /// The texts to split.
    pub text: Vec<String>,
}

/// A text splitter has split its texts.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct ChunkingEndEvent {
    /// The chunks, in order.
    pub chunks: Vec<String>,
}
