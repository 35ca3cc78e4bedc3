//! Events of embedding calls, dense and sparse.

use instrument_macros::Event;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::llm::{Embedding, SparseEmbedding};

/// An embedding call is about to start.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct EmbeddingStartEvent {
    /// The embedding model's configuration: name, batch size, ... Keep secrets out of it.
    pub model_dict: Map<String, Value>,
}

/// An embedding call has finished.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct EmbeddingEndEvent {
    /// The texts embedded.
    pub chunks: Vec<String>,
    /// Their embeddings, in the same order.
    pub embeddings: Vec<Embedding>,
}

/// A sparse embedding call is about to start.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct SparseEmbeddingStartEvent {
    /// The embedding model's configuration. Keep secrets out of it.
    pub model_dict: Map<String, Value>,
}

/// A sparse embedding call has finished.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct SparseEmbeddingEndEvent {
    /// The texts embedded.
    pub chunks: Vec<String>,
    /// Their sparse embeddings, in the same order.
    pub embeddings: Vec<SparseEmbedding>,
}
