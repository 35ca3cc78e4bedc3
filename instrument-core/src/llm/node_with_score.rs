//! A node as a retriever or reranker ranks it.

use serde::{Deserialize, Serialize};

use super::TextNode;

/// A node and how well it matched the query; `score` is `None` for retrievers that do not score.
///
/// ```
/// use instrument::llm::{NodeWithScore, TextNode};
///
/// let hit = NodeWithScore::new(TextNode::new("Paris is in France.").with_id("n1"), 0.82);
/// assert_eq!(hit.text(), "Paris is in France.");
/// let json = serde_json::to_value(&hit).unwrap();
/// assert_eq!(json["node"]["id_"], "n1");
/// assert_eq!(json["score"], 0.82);
/// let back: NodeWithScore = serde_json::from_value(json).unwrap();
/// assert_eq!(back, hit);
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NodeWithScore {
    /// The node.
    pub node: TextNode,
    /// The match score; higher is better.
    #[serde(default)]
    pub score: Option<f64>,
}

impl NodeWithScore {
    /// `node` scored `score`.
    #[must_use]
    pub fn new(node: TextNode, score: f64) -> Self {
        Self {
            node,
            score: Some(score),
        }
    }

    /// `node` with no score.
    #[must_use]
    pub fn unscored(node: TextNode) -> Self {
        Self { node, score: None }
    }

    /// The node's id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.node.id_
    }

    /// The node's text.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.node.text
    }
}
