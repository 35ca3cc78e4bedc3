//! The RAG demo (`examples/rag_pipeline.rs`) runs offline and reports what it did: the span trees,
//! the events of each step, the tokens its LLM reported.
//!
//! The pipeline runs once, on the demo's own dispatchers (`rag_pipeline::rag::*`, with the
//! handlers on `rag_pipeline::rag`); each test checks one side of that run.

// The demo's whole pipeline is included; this test drives its offline side
// (tests/rag_openai.rs the other).
#[allow(dead_code)]
#[path = "../examples/rag/mod.rs"]
mod rag;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use instrument::handlers::{DebugHandler, FineTuningHandler, SimpleSpan};
use rag::chunking::sentences;
use rag::llm::LocalLlm;
use rag::observe::Observers;
use rag::pipeline::{Answer, Config};
use rag::synthesis::Synthesizer;
use rag::{DISPATCHER, RagPipeline};

const QUESTIONS: [&str; 3] = [
    "What happens when a span is dropped?",
    "How does the retriever find the closest chunks?",
    "What can event handlers do with tokens?",
];

/// What one run of the pipeline left behind.
struct Run {
    answers: Vec<Answer>,
    /// The pieces each answer streamed, in order.
    streamed: Vec<Vec<String>>,
    chunk_count: usize,
    spans: Vec<SimpleSpan>,
    events: BTreeMap<&'static str, usize>,
    /// Prompt, completion and total LLM tokens, as `TokenCountingHandler` counted them.
    llm_tokens: [u64; 3],
    llm_calls: usize,
    /// Callback events by type: how many the debug handler paired.
    callback_counts: BTreeMap<String, usize>,
    /// What the debug handler printed, one trace per root span.
    debug_traces: String,
    bridge_errors: u64,
    /// The fine-tuning JSONL, as written.
    jsonl: String,
}

fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let observers = Observers::install(instrument::get_dispatcher(DISPATCHER));
            let pipeline = RagPipeline::local(Config::default(), Duration::ZERO).await;
            let mut answers = Vec::new();
            let mut streamed = Vec::new();
            for question in QUESTIONS {
                let mut pieces = Vec::new();
                answers.push(
                    pipeline
                        .query(question, &mut |piece| pieces.push(piece.to_owned()))
                        .await,
                );
                streamed.push(pieces);
            }
            Run {
                answers,
                streamed,
                chunk_count: pipeline.chunk_count(),
                spans: observers.spans.completed(),
                events: observers.events.counts(),
                llm_tokens: [
                    observers.tokens.prompt_llm_token_count(),
                    observers.tokens.completion_llm_token_count(),
                    observers.tokens.total_llm_token_count(),
                ],
                llm_calls: observers.tokens.llm_token_counts().len(),
                callback_counts: callback_counts(&observers.debug),
                debug_traces: observers.debug_traces.text(),
                bridge_errors: observers.bridge.errors(),
                jsonl: write_jsonl(observers.finetuning),
            }
        })
    })
}

fn callback_counts(debug: &DebugHandler) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for pair in debug.get_event_pairs(None) {
        *counts.entry(pair.event_type().to_string()).or_default() += 1;
    }
    counts
}

fn write_jsonl(finetuning: &FineTuningHandler) -> String {
    let path = std::env::temp_dir().join(format!(
        "instrument-rag-pipeline-test-{}.jsonl",
        std::process::id()
    ));
    let written = finetuning.save_finetuning_events(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(written, text.lines().count());
    text
}

/// The span's tree as `name(child child(grandchild))`, children by start time.
fn shape(spans: &[SimpleSpan], root: &SimpleSpan) -> String {
    let mut children: Vec<&SimpleSpan> = spans
        .iter()
        .filter(|span| span.parent_id == Some(root.id))
        .collect();
    children.sort_by_key(|span| span.start_time);
    if children.is_empty() {
        return root.name.to_owned();
    }
    let inner: Vec<String> = children.iter().map(|child| shape(spans, child)).collect();
    format!("{}({})", root.name, inner.join(" "))
}

fn usage(answer: &Answer, key: &str) -> u64 {
    answer.usage[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {}", answer.usage))
}

#[test]
fn every_question_gets_an_answer_from_its_sources() {
    let run = run();
    assert_eq!(run.answers.len(), QUESTIONS.len());
    for (answer, pieces) in run.answers.iter().zip(&run.streamed) {
        assert!(!answer.text.is_empty(), "{answer:?}");
        assert_eq!(answer.sources.len(), Config::default().top_n);
        for sentence in sentences(&answer.text) {
            assert!(
                answer
                    .sources
                    .iter()
                    .any(|hit| hit.text().contains(sentence)),
                "{sentence:?} is quoted from a source of {answer:?}"
            );
        }
        assert_eq!(
            pieces.concat().trim_end(),
            answer.text,
            "the stream adds up to the answer"
        );
    }
    assert!(run.answers[0].sources[0].id().starts_with("spans.txt#"));
    assert!(run.answers[1].sources[0].id().starts_with("retrieval.txt#"));
    assert!(run.answers[2].sources[0].id().starts_with("tracing.txt#"));
}

#[test]
fn spans_form_one_index_tree_and_one_tree_per_query() {
    let run = run();
    assert!(
        run.spans.iter().all(|span| !span.dropped),
        "no span dropped"
    );
    let mut roots: Vec<&SimpleSpan> = run.spans.iter().filter(|s| s.parent_id.is_none()).collect();
    roots.sort_by_key(|span| span.start_time);
    let shapes: Vec<String> = roots.iter().map(|root| shape(&run.spans, root)).collect();
    let query = "RagPipeline.query(\
                 VectorRetriever.retrieve(HashEmbedding.embed) \
                 KeywordReranker.rerank \
                 Synthesizer.synthesize(llm.stream_chat))";
    assert_eq!(
        shapes,
        [
            "build_index(SentenceSplitter.split HashEmbedding.embed)",
            query,
            query,
            query,
        ]
    );
    assert_eq!(run.spans.len(), 3 + 3 * 6);
}

#[test]
fn each_step_emits_its_start_and_end_events() {
    let run = run();
    let streamed: usize = run.streamed.iter().map(Vec::len).sum();
    let completion: u64 = run
        .answers
        .iter()
        .map(|a| usage(a, "completion_tokens"))
        .sum();
    assert_eq!(
        streamed as u64, completion,
        "one delta per completion token"
    );
    let queries = QUESTIONS.len();
    let expected: BTreeMap<&str, usize> = [
        ("ChunkingStartEvent", 1),
        ("ChunkingEndEvent", 1),
        // One for the chunks, one per query.
        ("EmbeddingStartEvent", 1 + queries),
        ("EmbeddingEndEvent", 1 + queries),
        ("QueryStartEvent", queries),
        ("QueryEndEvent", queries),
        ("RetrievalStartEvent", queries),
        ("RetrievalEndEvent", queries),
        ("ReRankStartEvent", queries),
        ("ReRankEndEvent", queries),
        ("SynthesizeStartEvent", queries),
        ("SynthesizeEndEvent", queries),
        ("LLMChatStartEvent", queries),
        ("LLMChatInProgressEvent", streamed),
        ("LLMChatEndEvent", queries),
    ]
    .into_iter()
    .collect();
    assert_eq!(run.events, expected);
    assert!(
        run.chunk_count >= 9,
        "a few chunks per document: {}",
        run.chunk_count
    );
}

#[test]
fn the_llm_reports_its_usage_like_a_provider() {
    let run = run();
    for answer in &run.answers {
        let messages = Synthesizer::<LocalLlm>::messages(&answer.question, &answer.sources);
        assert_eq!(
            usage(answer, "prompt_tokens"),
            LocalLlm::count_prompt_tokens(&messages)
        );
        assert_eq!(
            usage(answer, "completion_tokens"),
            answer.text.split_whitespace().count() as u64
        );
        assert_eq!(
            usage(answer, "total_tokens"),
            usage(answer, "prompt_tokens") + usage(answer, "completion_tokens")
        );
    }
}

#[test]
fn token_totals_are_the_usage_the_llm_reported() {
    let run = run();
    let reported = ["prompt_tokens", "completion_tokens", "total_tokens"].map(|key| {
        run.answers
            .iter()
            .map(|answer| usage(answer, key))
            .sum::<u64>()
    });
    assert_eq!(run.llm_tokens, reported);
    assert_eq!(run.llm_calls, QUESTIONS.len());
}

#[test]
fn the_debug_handler_sees_one_callback_trace_per_root_span() {
    let run = run();
    assert_eq!(run.bridge_errors, 0);
    let queries = QUESTIONS.len();
    let expected: BTreeMap<String, usize> = [
        ("chunking", 1),
        ("embedding", 1 + queries),
        ("query", queries),
        ("retrieve", queries),
        ("reranking", queries),
        ("synthesize", queries),
        ("llm", queries),
    ]
    .into_iter()
    .map(|(name, count)| (name.to_owned(), count))
    .collect();
    assert_eq!(run.callback_counts, expected);

    let traces: Vec<&str> = run
        .debug_traces
        .split("**********\n")
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(traces.len(), 1 + queries, "{}", run.debug_traces);
    let shape = |trace: &str| -> Vec<String> {
        trace
            .lines()
            .skip(1)
            .map(|line| line.split(" -> ").next().unwrap().to_owned())
            .collect()
    };
    assert!(traces[0].starts_with("Trace: build_index-"));
    assert_eq!(
        shape(traces[0]),
        ["    |_CBEventType.CHUNKING", "    |_CBEventType.EMBEDDING"]
    );
    for trace in &traces[1..] {
        assert!(trace.starts_with("Trace: RagPipeline.query-"));
        assert_eq!(
            shape(trace),
            [
                "    |_CBEventType.QUERY",
                "      |_CBEventType.RETRIEVE",
                "        |_CBEventType.EMBEDDING",
                "      |_CBEventType.RERANKING",
                "      |_CBEventType.SYNTHESIZE",
                "        |_CBEventType.LLM",
            ]
        );
    }
}

#[test]
fn the_finetuning_jsonl_has_one_chat_per_llm_call() {
    let run = run();
    let lines: Vec<serde_json::Value> = run
        .jsonl
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), QUESTIONS.len());
    for (line, answer) in lines.iter().zip(&run.answers) {
        let messages = line["messages"].as_array().unwrap();
        let roles: Vec<&str> = messages
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["system", "user", "assistant"]);
        assert_eq!(messages[0]["content"], rag::synthesis::SYSTEM_PROMPT);
        let prompt = messages[1]["content"].as_str().unwrap();
        assert!(
            prompt.ends_with(&format!("Question: {}", answer.question)),
            "{prompt}"
        );
        assert_eq!(messages[2]["content"], answer.text.as_str());
        assert!(line.get("functions").is_none(), "no tools offered");
    }
}
