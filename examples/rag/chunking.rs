//! Splitting documents into chunks of a few sentences.

use instrument::events::{ChunkingEndEvent, ChunkingStartEvent};
use instrument::llm::TextNode;
use instrument::span;

use super::dispatcher;
use super::documents::Document;

/// Packs each paragraph's sentences into chunks of at most `chunk_words` words (a sentence longer
/// than that is a chunk of its own). Chunks never cross paragraphs.
#[derive(Debug, Clone, Copy)]
pub struct SentenceSplitter {
    /// The most words in a chunk.
    pub chunk_words: usize,
}

impl SentenceSplitter {
    /// Splits `documents` into nodes with ids `"{file_name}#{n}"` and the file name as metadata.
    #[span]
    pub fn split(&self, documents: &[Document]) -> Vec<TextNode> {
        let dispatcher = dispatcher!();
        dispatcher.event(ChunkingStartEvent {
            text: documents.iter().map(|doc| doc.text.to_owned()).collect(),
        });
        let mut nodes = Vec::new();
        for doc in documents {
            let mut chunks = Vec::new();
            for paragraph in doc.text.split("\n\n").map(str::trim) {
                let mut chunk = String::new();
                for sentence in sentences(paragraph) {
                    let words = |text: &str| text.split_whitespace().count();
                    if !chunk.is_empty() && words(&chunk) + words(sentence) > self.chunk_words {
                        chunks.push(std::mem::take(&mut chunk));
                    }
                    if !chunk.is_empty() {
                        chunk.push(' ');
                    }
                    chunk.push_str(sentence);
                }
                if !chunk.is_empty() {
                    chunks.push(chunk);
                }
            }
            nodes.extend(chunks.into_iter().enumerate().map(|(n, text)| {
                TextNode::new(text)
                    .with_id(format!("{}#{n}", doc.file_name))
                    .with_metadata("file_name", doc.file_name)
            }));
        }
        dispatcher.event(ChunkingEndEvent {
            chunks: nodes.iter().map(|node| node.text.clone()).collect(),
        });
        nodes
    }
}

/// The sentences of `text`, each with its closing punctuation.
pub fn sentences(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive(['.', '?', '!'])
        .map(str::trim)
        .filter(|sentence| !sentence.is_empty())
}
