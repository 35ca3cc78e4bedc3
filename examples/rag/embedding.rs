//! A deterministic local embedding: hashed bag of words in a fixed-size, normalised vector.

use std::time::Duration;

use instrument::events::{EmbeddingEndEvent, EmbeddingStartEvent};
use instrument::llm::Embedding;
use instrument::span;
use serde_json::{Map, Value, json};

use super::dispatcher;
use super::documents::keywords;

/// Embeds a text by hashing each of its keywords into one of `dim` buckets, then scaling the
/// counts to length 1: texts sharing words point the same way. No model, no network.
#[derive(Debug, Clone, Copy)]
pub struct HashEmbedding {
    /// The vectors' length.
    pub dim: usize,
}

impl HashEmbedding {
    /// The model's configuration, as `EmbeddingStartEvent` reports it.
    #[must_use]
    pub fn model_dict(&self) -> Map<String, Value> {
        let Value::Object(map) = json!({
            "model_name": format!("hashed-bow-{}", self.dim),
            "embed_dim": self.dim,
            "class_name": "HashEmbedding",
        }) else {
            unreachable!("a JSON object literal")
        };
        map
    }

    /// Embeds `texts`, one vector each. Async as a remote embedding call would be.
    #[span]
    pub async fn embed(&self, texts: &[String]) -> Vec<Embedding> {
        let dispatcher = dispatcher!();
        dispatcher.event(EmbeddingStartEvent {
            model_dict: self.model_dict(),
        });
        // Stands in for the round trip to an embedding service.
        tokio::time::sleep(Duration::from_millis(2)).await;
        let embeddings: Vec<Embedding> = texts.iter().map(|text| self.embed_one(text)).collect();
        dispatcher.event(EmbeddingEndEvent {
            chunks: texts.to_vec(),
            embeddings: embeddings.clone(),
        });
        embeddings
    }

    fn embed_one(&self, text: &str) -> Embedding {
        let mut vector = vec![0.0; self.dim];
        for word in keywords(text) {
            vector[fnv1a(&word) % self.dim] += 1.0;
        }
        let norm = vector.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 0.0 {
            vector.iter_mut().for_each(|x| *x /= norm);
        }
        vector
    }
}

/// Cosine similarity of two vectors of length 1: their dot product.
#[must_use]
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// FNV-1a: a stable hash, the same on every run and platform.
fn fnv1a(word: &str) -> usize {
    let hash = word.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    // Truncation is fine: only the bucket matters.
    #[allow(clippy::cast_possible_truncation)]
    let hash = hash as usize;
    hash
}

/// The embedding model the index uses: the local hashed one, or a remote one.
#[derive(Debug, Clone)]
pub enum Embedder {
    /// [`HashEmbedding`], offline.
    Hash(HashEmbedding),
    /// A model behind the instrumented `async-openai` client.
    OpenAi(super::openai::OpenAiEmbedding),
}

impl Embedder {
    /// Embeds `texts`, one vector each.
    pub async fn embed(&self, texts: &[String]) -> Vec<Embedding> {
        match self {
            Self::Hash(model) => model.embed(texts).await,
            Self::OpenAi(model) => model.embed(texts).await,
        }
    }
}
