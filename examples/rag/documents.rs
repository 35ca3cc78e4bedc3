//! The documents the pipeline answers from, bundled into the binary so that it runs offline.

/// One source document.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Document {
    /// Its file name, kept as the chunks' metadata.
    pub file_name: &'static str,
    /// Its text.
    pub text: &'static str,
}

/// The bundled documents: a few paragraphs each about spans, tracing and retrieval.
#[must_use]
pub fn bundled() -> Vec<Document> {
    vec![
        Document {
            file_name: "spans.txt",
            text: include_str!("docs/spans.txt"),
        },
        Document {
            file_name: "tracing.txt",
            text: include_str!("docs/tracing.txt"),
        },
        Document {
            file_name: "retrieval.txt",
            text: include_str!("docs/retrieval.txt"),
        },
    ]
}

/// The lowercase words of `text` that carry meaning: stop words and one-letter words left out.
pub fn keywords(text: &str) -> impl Iterator<Item = String> + '_ {
    const STOP: &[&str] = &[
        "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how",
        "in", "is", "it", "its", "of", "on", "one", "or", "so", "such", "that", "the", "then",
        "to", "what", "when", "which", "with", "you", "your",
    ];
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| word.len() > 1)
        .map(str::to_lowercase)
        .filter(|word| !STOP.contains(&word.as_str()))
        .map(|word| match word.strip_suffix('s') {
            // A crude stemmer, enough for "spans" to match "span".
            Some(stem) if stem.len() > 2 && !stem.ends_with('s') => stem.to_owned(),
            _ => word,
        })
}
