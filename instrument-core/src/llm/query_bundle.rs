//! A query: a plain string, or a bundle with what to embed.

use serde::{Deserialize, Serialize};

use super::Embedding;

/// A query with the strings to embed in its place and, when already computed, its embedding.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct QueryBundle {
    /// The query as the user wrote it.
    pub query_str: String,
    /// Strings to embed instead of `query_str`, when given.
    #[serde(default)]
    pub custom_embedding_strs: Option<Vec<String>>,
    /// The query's embedding, once computed.
    #[serde(default)]
    pub embedding: Option<Embedding>,
}

impl QueryBundle {
    /// A bundle of `query_str` alone.
    #[must_use]
    pub fn new(query_str: impl Into<String>) -> Self {
        Self {
            query_str: query_str.into(),
            ..Self::default()
        }
    }

    /// The strings to embed: `custom_embedding_strs` when given, else `query_str`.
    #[must_use]
    pub fn embedding_strs(&self) -> Vec<&str> {
        match &self.custom_embedding_strs {
            Some(strs) => strs.iter().map(String::as_str).collect(),
            None => vec![self.query_str.as_str()],
        }
    }
}

/// A query as retrievers, query engines and synthesizers take it: a string or a [`QueryBundle`]
/// (`LlamaIndex`'s `QueryType`). Serialised as the string or the bundle itself, untagged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum QueryType {
    /// A plain query string.
    Str(String),
    /// A query bundle.
    Bundle(QueryBundle),
}

impl QueryType {
    /// The query text, whichever the form.
    #[must_use]
    pub fn query_str(&self) -> &str {
        match self {
            Self::Str(query) => query,
            Self::Bundle(bundle) => &bundle.query_str,
        }
    }
}

impl Default for QueryType {
    fn default() -> Self {
        Self::Str(String::new())
    }
}

impl From<&str> for QueryType {
    fn from(query: &str) -> Self {
        Self::Str(query.to_owned())
    }
}

impl From<String> for QueryType {
    fn from(query: String) -> Self {
        Self::Str(query)
    }
}

impl From<QueryBundle> for QueryType {
    fn from(bundle: QueryBundle) -> Self {
        Self::Bundle(bundle)
    }
}
