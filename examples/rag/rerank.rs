//! Reranking by keyword overlap with the question.

use std::collections::HashSet;

use instrument::events::{ReRankEndEvent, ReRankStartEvent};
use instrument::llm::{NodeWithScore, QueryType};
use instrument::span;

use super::dispatcher;
use super::documents::keywords;

/// Scores each node by the share of the question's keywords it contains (the retrieval score
/// breaks ties) and keeps the best `top_n`.
#[derive(Debug, Clone, Copy)]
pub struct KeywordReranker {
    /// How many nodes to keep.
    pub top_n: usize,
}

impl KeywordReranker {
    /// The reranker's name, as `ReRankStartEvent` reports it.
    pub const MODEL_NAME: &str = "keyword-overlap";

    /// `nodes` reordered for `query`, the best `top_n` kept, with their new scores.
    #[span]
    pub fn rerank(&self, query: &str, nodes: Vec<NodeWithScore>) -> Vec<NodeWithScore> {
        let dispatcher = dispatcher!();
        dispatcher.event(ReRankStartEvent {
            query: Some(QueryType::from(query)),
            nodes: nodes.clone(),
            top_n: self.top_n,
            model_name: Self::MODEL_NAME.to_owned(),
        });
        let wanted: HashSet<String> = keywords(query).collect();
        let mut ranked: Vec<NodeWithScore> = nodes
            .into_iter()
            .map(|hit| {
                let found: HashSet<String> = keywords(hit.text()).collect();
                #[allow(clippy::cast_precision_loss)] // a handful of words
                let overlap =
                    wanted.intersection(&found).count() as f64 / wanted.len().max(1) as f64;
                let score = overlap + 0.01 * hit.score.unwrap_or(0.0);
                NodeWithScore::new(hit.node, (score * 1000.0).round() / 1000.0)
            })
            .collect();
        ranked.sort_by(|a, b| b.score.unwrap_or(0.0).total_cmp(&a.score.unwrap_or(0.0)));
        ranked.truncate(self.top_n);
        dispatcher.event(ReRankEndEvent {
            nodes: ranked.clone(),
        });
        ranked
    }
}
