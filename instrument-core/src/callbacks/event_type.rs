//! `CBEventType`: the kinds of step a callback event stands for.

use std::fmt;
use std::str::FromStr;

/// The kind of step a callback event stands for, with LlamaIndex's string values (`"llm"`,
/// `"node_parsing"`, ...), which are also its `Display`, `FromStr` and serde forms.
///
/// ```
/// use instrument::callbacks::CBEventType;
///
/// assert_eq!(CBEventType::SubQuestion.as_str(), "sub_question");
/// assert_eq!("llm".parse::<CBEventType>(), Ok(CBEventType::Llm));
/// assert_eq!(CBEventType::Llm.qualified_name(), "CBEventType.LLM");
/// assert!(CBEventType::Embedding.is_leaf());
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum CBEventType {
    /// Splitting text into chunks. A leaf type.
    Chunking,
    /// Parsing documents into nodes.
    NodeParsing,
    /// Embedding text. A leaf type.
    Embedding,
    /// One LLM call. A leaf type.
    Llm,
    /// A query.
    Query,
    /// Retrieving nodes.
    Retrieve,
    /// Synthesizing a response from nodes.
    Synthesize,
    /// Building or walking a tree index.
    Tree,
    /// One sub-question of a query.
    SubQuestion,
    /// Formatting a prompt template.
    Templating,
    /// A function (tool) call.
    FunctionCall,
    /// Reranking nodes.
    Reranking,
    /// An exception.
    Exception,
    /// One step of an agent.
    AgentStep,
}

impl CBEventType {
    /// Every event type, in declaration order.
    pub const ALL: [Self; 14] = [
        Self::Chunking,
        Self::NodeParsing,
        Self::Embedding,
        Self::Llm,
        Self::Query,
        Self::Retrieve,
        Self::Synthesize,
        Self::Tree,
        Self::SubQuestion,
        Self::Templating,
        Self::FunctionCall,
        Self::Reranking,
        Self::Exception,
        Self::AgentStep,
    ];

    /// LlamaIndex's value for this type: `"chunking"`, `"node_parsing"`, ...
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Chunking => "chunking",
            Self::NodeParsing => "node_parsing",
            Self::Embedding => "embedding",
            Self::Llm => "llm",
            Self::Query => "query",
            Self::Retrieve => "retrieve",
            Self::Synthesize => "synthesize",
            Self::Tree => "tree",
            Self::SubQuestion => "sub_question",
            Self::Templating => "templating",
            Self::FunctionCall => "function_call",
            Self::Reranking => "reranking",
            Self::Exception => "exception",
            Self::AgentStep => "agent_step",
        }
    }

    /// The name Python prints for the member, `"CBEventType.LLM"`, as trace printouts show it.
    #[must_use]
    pub const fn qualified_name(self) -> &'static str {
        match self {
            Self::Chunking => "CBEventType.CHUNKING",
            Self::NodeParsing => "CBEventType.NODE_PARSING",
            Self::Embedding => "CBEventType.EMBEDDING",
            Self::Llm => "CBEventType.LLM",
            Self::Query => "CBEventType.QUERY",
            Self::Retrieve => "CBEventType.RETRIEVE",
            Self::Synthesize => "CBEventType.SYNTHESIZE",
            Self::Tree => "CBEventType.TREE",
            Self::SubQuestion => "CBEventType.SUB_QUESTION",
            Self::Templating => "CBEventType.TEMPLATING",
            Self::FunctionCall => "CBEventType.FUNCTION_CALL",
            Self::Reranking => "CBEventType.RERANKING",
            Self::Exception => "CBEventType.EXCEPTION",
            Self::AgentStep => "CBEventType.AGENT_STEP",
        }
    }

    /// Whether events of this type are leaves: `Chunking`, `Llm` and `Embedding` never become the
    /// parent of events started while they are open.
    #[must_use]
    pub const fn is_leaf(self) -> bool {
        matches!(self, Self::Chunking | Self::Llm | Self::Embedding)
    }
}

impl fmt::Display for CBEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`CBEventType`] from a string that names none.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown callback event type `{0}`")]
pub struct ParseCBEventTypeError(pub String);

impl FromStr for CBEventType {
    type Err = ParseCBEventTypeError;

    /// Accepts the value (`"llm"`) and the qualified name (`"CBEventType.LLM"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s || t.qualified_name() == s)
            .ok_or_else(|| ParseCBEventTypeError(s.to_owned()))
    }
}
