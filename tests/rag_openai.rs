//! The RAG demo's pipeline on a "real" model: its LLM and embedding steps through the
//! instrumented `async-openai` client to an OpenAI-compatible server on 127.0.0.1, as
//! `OPENAI_BASE_URL` makes the demo do. The token totals are the server's usage, and each model
//! call is reported once, by the client.

// The demo's whole pipeline is included; this test drives only its OpenAI side.
#[path = "support/openai_server.rs"]
mod openai_server;
#[allow(dead_code)]
#[path = "../examples/rag/mod.rs"]
mod rag;

use openai_server::{CHAT_USAGE, OpenAiServer, PIECES};
use rag::observe::Observers;
use rag::openai::OpenAiSettings;
use rag::pipeline::Config;
use rag::{DISPATCHER, RagPipeline};

#[test]
fn the_pipeline_runs_on_an_openai_compatible_server() {
    let server = OpenAiServer::start();
    let observers = Observers::install(instrument::get_dispatcher(DISPATCHER));
    let settings = OpenAiSettings {
        base_url: server.api_base(),
        api_key: "sk-test".into(),
        model: "gpt-4o-mini".into(),
        embedding_model: "text-embedding-3-small".into(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let questions = ["What happens when a span is dropped?", "What is a trace?"];
    let answers = runtime.block_on(async {
        let pipeline = RagPipeline::openai(Config::default(), &settings).await;
        assert!(pipeline.chunk_count() > 0);
        let mut answers = Vec::new();
        for question in questions {
            let mut streamed = String::new();
            let answer = pipeline
                .query(question, &mut |piece| streamed.push_str(piece))
                .await;
            assert_eq!(streamed, answer.text);
            answers.push(answer);
        }
        answers
    });

    for answer in &answers {
        assert_eq!(answer.text, PIECES.concat());
        assert_eq!(answer.usage["prompt_tokens"], CHAT_USAGE.0);
    }
    // The totals are the server's usage, counted once per call.
    let tokens = observers.tokens;
    assert_eq!(tokens.prompt_llm_token_count(), CHAT_USAGE.0 * 2);
    assert_eq!(tokens.completion_llm_token_count(), CHAT_USAGE.1 * 2);
    assert_eq!(tokens.llm_token_counts().len(), 2);

    // The model calls went to the server: one embedding call for the index, one per question,
    // and one streamed chat per question.
    let paths: Vec<String> = server
        .requests()
        .into_iter()
        .map(|(path, _)| path)
        .collect();
    assert_eq!(paths.iter().filter(|p| *p == "/v1/embeddings").count(), 3);
    assert_eq!(
        paths
            .iter()
            .filter(|p| *p == "/v1/chat/completions")
            .count(),
        2
    );

    // Reported by the client's own spans, inside the pipeline's, and by nothing else.
    let spans = observers.spans.drain();
    let named = |name: &str| spans.iter().filter(|s| s.name == name).count();
    assert_eq!(named("OpenAI.stream_chat"), 2);
    assert_eq!(named("OpenAIEmbedding.get_text_embedding_batch"), 3);
    assert_eq!(named("llm.stream_chat"), 0);
    assert_eq!(named("HashEmbedding.embed"), 0);
    let synth: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "Synthesizer.synthesize")
        .collect();
    for chat in spans.iter().filter(|s| s.name == "OpenAI.stream_chat") {
        assert!(
            synth.iter().any(|s| Some(s.id) == chat.parent_id),
            "{chat:?}"
        );
    }
    // Fine-tuning examples came from the client's events.
    assert_eq!(observers.finetuning.examples().len(), 2);
}
