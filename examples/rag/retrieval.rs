//! An in-memory vector index and its top-k retriever.

use instrument::events::{RetrievalEndEvent, RetrievalStartEvent};
use instrument::llm::{Embedding, NodeWithScore, QueryType, TextNode};
use instrument::span;

use super::dispatcher;
use super::embedding::{Embedder, cosine};

/// Nodes and their embeddings; answers a query with the `top_k` nodes closest to it by cosine.
#[derive(Debug)]
pub struct VectorRetriever {
    nodes: Vec<TextNode>,
    vectors: Vec<Embedding>,
    embed_model: Embedder,
    /// How many nodes a query returns.
    pub top_k: usize,
}

impl VectorRetriever {
    /// Indexes `nodes`: embeds their texts with `embed_model`.
    pub async fn from_nodes(nodes: Vec<TextNode>, embed_model: Embedder, top_k: usize) -> Self {
        let texts: Vec<String> = nodes.iter().map(|node| node.text.clone()).collect();
        let vectors = embed_model.embed(&texts).await;
        Self {
            nodes,
            vectors,
            embed_model,
            top_k,
        }
    }

    /// How many nodes the index holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The `top_k` nodes closest to `query`, best first.
    #[span]
    pub async fn retrieve(&self, query: &str) -> Vec<NodeWithScore> {
        let dispatcher = dispatcher!();
        let query_type = QueryType::from(query);
        dispatcher.event(RetrievalStartEvent {
            str_or_query_bundle: query_type.clone(),
        });
        let query_vector = self
            .embed_model
            .embed(&[query.to_owned()])
            .await
            .pop()
            .unwrap_or_default();
        let mut hits: Vec<NodeWithScore> = self
            .nodes
            .iter()
            .zip(&self.vectors)
            .map(|(node, vector)| NodeWithScore::new(node.clone(), cosine(&query_vector, vector)))
            .collect();
        hits.sort_by(|a, b| b.score.unwrap_or(0.0).total_cmp(&a.score.unwrap_or(0.0)));
        hits.truncate(self.top_k);
        dispatcher.event(RetrievalEndEvent {
            str_or_query_bundle: query_type,
            nodes: hits.clone(),
        });
        hits
    }
}
