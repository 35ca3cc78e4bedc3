//! The pipeline: index the bundled documents once, then answer questions.

use std::time::Duration;

use instrument::events::{QueryEndEvent, QueryStartEvent};
use instrument::llm::{NodeWithScore, QueryType};
use instrument::span;
use serde_json::{Value, json};

use super::chunking::SentenceSplitter;
use super::dispatcher;
use super::documents;
use super::embedding::{Embedder, HashEmbedding};
use super::llm::{Llm, LocalLlm};
use super::openai::{OpenAiEmbedding, OpenAiLlm, OpenAiSettings};
use super::rerank::KeywordReranker;
use super::retrieval::VectorRetriever;
use super::synthesis::Synthesizer;

/// The pipeline's settings.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// The most words in a chunk.
    pub chunk_words: usize,
    /// The embedding vectors' length.
    pub embed_dim: usize,
    /// How many chunks retrieval returns.
    pub top_k: usize,
    /// How many of them the reranker keeps for the answer.
    pub top_n: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            chunk_words: 40,
            embed_dim: 256,
            top_k: 4,
            top_n: 2,
        }
    }
}

/// The answer to one question.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Answer {
    /// The question.
    pub question: String,
    /// The answer.
    pub text: String,
    /// The chunks it was written from, with their rerank scores.
    pub sources: Vec<NodeWithScore>,
    /// The usage the LLM reported for it.
    pub usage: Value,
}

/// Retrieval, reranking and synthesis over the bundled documents.
#[derive(Debug)]
pub struct RagPipeline<L> {
    retriever: VectorRetriever,
    reranker: KeywordReranker,
    synthesizer: Synthesizer<L>,
}

impl RagPipeline<LocalLlm> {
    /// The pipeline with the local stand-in LLM, streaming a token every `token_delay`.
    pub async fn local(config: Config, token_delay: Duration) -> Self {
        Self::build(config, LocalLlm { token_delay }).await
    }
}

impl RagPipeline<OpenAiLlm> {
    /// The pipeline on a real model: its chat and embedding models behind the instrumented
    /// `async-openai` client, at `settings`.
    pub async fn openai(config: Config, settings: &OpenAiSettings) -> Self {
        let embedder = Embedder::OpenAi(OpenAiEmbedding::new(settings));
        Self::build_with(config, OpenAiLlm::new(settings), embedder).await
    }
}

impl<L: Llm> RagPipeline<L> {
    /// Indexes the bundled documents (chunk, embed locally) and keeps `llm` to answer with.
    pub async fn build(config: Config, llm: L) -> Self {
        let embedder = Embedder::Hash(HashEmbedding {
            dim: config.embed_dim,
        });
        Self::build_with(config, llm, embedder).await
    }

    /// As [`RagPipeline::build`], embedding with `embedder`.
    pub async fn build_with(config: Config, llm: L, embedder: Embedder) -> Self {
        Self {
            retriever: build_index(config, embedder).await,
            reranker: KeywordReranker {
                top_n: config.top_n,
            },
            synthesizer: Synthesizer { llm },
        }
    }

    /// How many chunks the index holds.
    #[must_use]
    pub fn chunk_count(&self) -> usize {
        self.retriever.len()
    }

    /// Answers `question`: retrieve, rerank, synthesize. Each piece of the answer goes to
    /// `on_token` as the LLM streams it.
    #[span(skip(on_token))]
    pub async fn query(&self, question: &str, on_token: &mut (dyn FnMut(&str) + Send)) -> Answer {
        let dispatcher = dispatcher!();
        dispatcher.event(QueryStartEvent {
            query: QueryType::from(question),
        });
        let hits = self.retriever.retrieve(question).await;
        let sources = self.reranker.rerank(question, hits);
        let synthesis = self
            .synthesizer
            .synthesize(question, &sources, on_token)
            .await;
        let answer = Answer {
            question: question.to_owned(),
            text: synthesis.text,
            sources,
            usage: synthesis.usage,
        };
        dispatcher.event(QueryEndEvent {
            query: QueryType::from(question),
            response: json!({
                "response": answer.text,
                "source_nodes": answer.sources,
                "metadata": {"usage": answer.usage},
            }),
        });
        answer
    }
}

/// Loads the bundled documents, splits them and embeds the chunks.
#[span(skip(embedder))]
async fn build_index(config: Config, embedder: Embedder) -> VectorRetriever {
    let splitter = SentenceSplitter {
        chunk_words: config.chunk_words,
    };
    let nodes = splitter.split(&documents::bundled());
    VectorRetriever::from_nodes(nodes, embedder, config.top_k).await
}
