//! A piece of text with an id and metadata.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A chunk of a document, as retrievers return and rerankers reorder it: `LlamaIndex`'s `TextNode`,
/// reduced to its id, text and metadata. Other fields of `LlamaIndex`'s JSON are ignored on reading.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TextNode {
    /// The node's id; `LlamaIndex` makes it a UUID v4.
    #[serde(default)]
    pub id_: String,
    /// The text.
    #[serde(default)]
    pub text: String,
    /// What is known about the text: file name, page, section, ...
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// The node type of the catalog; `LlamaIndex`'s `BaseNode` family is represented by [`TextNode`].
pub type Node = TextNode;

impl TextNode {
    /// A node holding `text`, with a fresh UUID v4 id and no metadata.
    #[must_use]
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            id_: uuid::Uuid::new_v4().to_string(),
            text: text.into(),
            metadata: Map::new(),
        }
    }

    /// The node with its id set to `id`.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id_ = id.into();
        self
    }

    /// The node with `key` set to `value` in its metadata.
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}
