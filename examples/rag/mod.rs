//! A small retrieval-augmented generation pipeline that runs offline, traced with `instrument`.
//!
//! Every step is a `#[span]` and emits the built-in events a LlamaIndex pipeline emits:
//!
//! | step | span | events |
//! |---|---|---|
//! | split the bundled documents | `SentenceSplitter.split` | `ChunkingStart/End` |
//! | embed chunks and queries | `HashEmbedding.embed` | `EmbeddingStart/End` |
//! | find the closest chunks | `VectorRetriever.retrieve` | `RetrievalStart/End` |
//! | reorder them by keyword overlap | `KeywordReranker.rerank` | `ReRankStart/End` |
//! | write the answer | `Synthesizer.synthesize` | `SynthesizeStart/End` |
//! | stream it from the LLM | `llm.stream_chat` | `LLMChatStart/InProgress/End` |
//! | the whole question | `RagPipeline.query` | `QueryStart/End` |
//!
//! The LLM is a trait ([`llm::Llm`]): plug in your own client; [`llm::LocalLlm`] stands in for one,
//! streaming its answer a token at a time and reporting its usage the way `OpenAI` does.
//!
//! Shared by `examples/rag_pipeline.rs` and `tests/rag_pipeline.rs`.

pub mod chunking;
pub mod documents;
pub mod embedding;
pub mod llm;
pub mod observe;
pub mod openai;
pub mod pipeline;
pub mod rerank;
pub mod retrieval;
pub mod synthesis;

/// The dispatcher every step of the pipeline reports to (its submodules' dispatchers sit under it).
pub const DISPATCHER: &str = module_path!();

/// The dispatcher of the module that calls it: where a step emits its events, next to its spans.
macro_rules! dispatcher {
    () => {
        ::instrument::get_dispatcher(module_path!())
    };
}
pub(crate) use dispatcher;

pub use pipeline::RagPipeline;
