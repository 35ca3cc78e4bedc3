//! What kind of work a span did, as OpenInference names the kinds: the OTLP exporter sends it as
//! `openinference.span.kind`, the HTML report colours spans by it.

use serde::Serialize;

/// The kind of a span. A span is a `Chain` unless an event inside it says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SpanKind {
    Llm,
    Embedding,
    Retriever,
    Reranker,
    Tool,
    Agent,
    Chain,
}

impl SpanKind {
    const ALL: [Self; 7] = [
        Self::Llm,
        Self::Embedding,
        Self::Retriever,
        Self::Reranker,
        Self::Tool,
        Self::Agent,
        Self::Chain,
    ];

    /// The name OpenInference gives the kind: `"LLM"`, `"RETRIEVER"`, ...
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Llm => "LLM",
            Self::Embedding => "EMBEDDING",
            Self::Retriever => "RETRIEVER",
            Self::Reranker => "RERANKER",
            Self::Tool => "TOOL",
            Self::Agent => "AGENT",
            Self::Chain => "CHAIN",
        }
    }

    /// The kind named `name`, in any case (`"llm"`, `"RETRIEVER"`).
    pub(crate) fn named(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(name))
    }
}
