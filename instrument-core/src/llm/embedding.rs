//! Embedding vectors, dense and sparse.

use std::collections::BTreeMap;

/// A dense embedding. `f64`, as Python's `float`, so that a vector written to JSON reads back
/// exactly as `LlamaIndex` wrote it.
pub type Embedding = Vec<f64>;

/// A sparse embedding: dimension index to weight. In JSON the indices are object keys, as strings
/// (`{"7": 0.5}`), as when `LlamaIndex` serialises its `Dict[int, float]`.
pub type SparseEmbedding = BTreeMap<u32, f64>;
