//! A retrieval-augmented generation pipeline that runs offline, traced end to end.
//!
//! It indexes a few bundled documents (chunk, embed with a hashed bag of words), then answers
//! questions: retrieve the closest chunks by cosine, rerank them by keyword overlap, and stream an
//! answer from a local stand-in LLM that reports its token usage like a provider. Every step is a
//! `#[span]` and emits LlamaIndex's events. The handlers registered at start-up report at the end:
//! the span trees (`SimpleSpanHandler`), the callback traces with timings (`DebugHandler`, fed by a
//! `CallbackBridge`), the events by type, the token totals (`TokenCountingHandler`), and the chats
//! as fine-tuning JSONL (`FineTuningHandler`, written to the system's temp directory), and an
//! HTML report of the run that opens in a browser offline (`HtmlReportExporter`, in the temp
//! directory too, or at `INSTRUMENT_REPORT=path`).
//!
//! Run it with `cargo run --example rag_pipeline`. With `OPENAI_BASE_URL` and `OPENAI_API_KEY` set
//! (models from `OPENAI_MODEL` and `OPENAI_EMBEDDING_MODEL`, default `gpt-4o-mini` and
//! `text-embedding-3-small`) its LLM and embedding steps go to that OpenAI-compatible server
//! through `instrument`'s instrumented `async-openai` client, and the token totals are the
//! server's. For another client, implement `rag::llm::Llm` and use `RagPipeline::build`.
//!
//! When the environment names an OTLP backend it also exports every span over OTLP/HTTP with
//! OpenInference attributes: `OTEL_EXPORTER_OTLP_ENDPOINT` (and the other `OTEL_*` variables) for
//! any collector, or a backend's own variables (`PHOENIX_COLLECTOR_ENDPOINT`,
//! `LANGFUSE_PUBLIC_KEY`/`LANGFUSE_SECRET_KEY`, `WANDB_API_KEY`/`WANDB_ENTITY`/`WANDB_PROJECT`,
//! `MLFLOW_TRACKING_URI`/`MLFLOW_EXPERIMENT_ID`); see `OtlpConfig::detect`. `scripts/phoenix-e2e.sh`
//! and `scripts/mlflow-e2e.sh` check this against a real Phoenix and a real MLflow. With
//! `INSTRUMENT_JSONL=path` it writes every span as JSON Lines too (`scripts/aim-e2e.sh` loads that
//! into Aim).

mod rag;

use std::io::Write as _;
use std::time::Duration;

use instrument::callbacks::CBEventType;
use instrument::handlers::export::HtmlReportExporter;
use instrument::handlers::export::otlp::OtlpConfig;
use rag::llm::Llm;
use rag::observe::Observers;
use rag::openai::OpenAiSettings;
use rag::pipeline::Config;
use rag::{DISPATCHER, RagPipeline};

const QUESTIONS: [&str; 3] = [
    "What happens when a span is dropped?",
    "How does the retriever find the closest chunks?",
    "What can event handlers do with tokens?",
];

#[tokio::main]
async fn main() {
    // Handlers are registered once, at start-up, on the pipeline's dispatcher: every step's
    // dispatcher sits under it.
    let observers = Observers::install(instrument::get_dispatcher(DISPATCHER));
    // Spans go over OTLP whenever the environment names a backend: `OTEL_EXPORTER_OTLP_ENDPOINT`,
    // or a preset's own variables (Phoenix, Langfuse, W&B Weave, MLflow).
    let otlp = match OtlpConfig::detect() {
        Ok(Some(mut config)) => {
            if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
                config = config.service_name("rag_pipeline");
            }
            let exporter = config.build().unwrap_or_else(|error| {
                eprintln!("cannot export: {error}");
                std::process::exit(2)
            });
            exporter.register(instrument::get_dispatcher(DISPATCHER));
            println!("exporting spans over OTLP to {}\n", exporter.url());
            Some(exporter)
        }
        Ok(None) => None,
        Err(error) => {
            eprintln!("cannot export: {error}");
            std::process::exit(2)
        }
    };
    // With `INSTRUMENT_JSONL=path`, every span is also written as one JSON line (what
    // `scripts/aim/import_jsonl.py` loads into Aim).
    let jsonl = std::env::var_os("INSTRUMENT_JSONL").map(|path| {
        let exporter =
            instrument::handlers::export::JsonlExporter::create(&path).expect("a writable path");
        exporter.register(instrument::get_dispatcher(DISPATCHER));
        (exporter, path)
    });

    // Every run leaves a report that opens in a browser from the file, offline: the traces, a
    // waterfall of each, every LLM call's conversation and tokens, the retrieved documents.
    // `INSTRUMENT_REPORT=path` puts it elsewhere.
    let report_path = std::env::var_os("INSTRUMENT_REPORT").map_or_else(
        || std::env::temp_dir().join("rag_pipeline_report.html"),
        std::path::PathBuf::from,
    );
    let report = HtmlReportExporter::builder(&report_path)
        .title("rag_pipeline")
        .build()
        .unwrap_or_else(|error| {
            eprintln!("cannot write the report: {error}");
            std::process::exit(2)
        });
    report.register(instrument::get_dispatcher(DISPATCHER));

    match OpenAiSettings::from_env() {
        Some(settings) => {
            println!(
                "RAG pipeline on {} (embeddings: {}) at {}: bundled documents\n",
                settings.model, settings.embedding_model, settings.base_url
            );
            ask(&RagPipeline::openai(Config::default(), &settings).await).await;
        }
        None => {
            println!(
                "RAG pipeline, offline: bundled documents, hashed embeddings, a local stand-in LLM\n"
            );
            ask(&RagPipeline::local(Config::default(), Duration::from_millis(3)).await).await;
        }
    }

    println!("── span trees (SimpleSpanHandler) ──");
    observers.spans.print_trace_trees();

    println!("── callback traces (DebugHandler, through CallbackBridge) ──");
    print!("{}", observers.debug_traces.text());
    println!(
        "(bridge: {} handler errors, {} overflows)",
        observers.bridge.errors(),
        observers.bridge.overflows()
    );
    println!("time per callback event type:");
    for event_type in [
        CBEventType::Chunking,
        CBEventType::Embedding,
        CBEventType::Query,
        CBEventType::Retrieve,
        CBEventType::Reranking,
        CBEventType::Synthesize,
        CBEventType::Llm,
    ] {
        let stats = observers.debug.get_event_time_info(event_type);
        println!(
            "  {:<12} {:>2} × {:.6} s = {:.6} s",
            event_type.to_string(),
            stats.total_count,
            stats.average_secs,
            stats.total_secs
        );
    }

    println!("\n── events by type ──");
    for (name, count) in observers.events.counts() {
        println!("  {name:<32} {count:>3}");
    }

    let tokens = observers.tokens;
    println!("\n── tokens (TokenCountingHandler) ──");
    println!(
        "  LLM:        {} prompt + {} completion = {} tokens in {} calls",
        tokens.prompt_llm_token_count(),
        tokens.completion_llm_token_count(),
        tokens.total_llm_token_count(),
        tokens.llm_token_counts().len()
    );
    println!(
        "  embedding:  {} tokens in {} chunks",
        tokens.total_embedding_token_count(),
        tokens.embedding_token_counts().len()
    );

    println!("\n── fine-tuning examples (FineTuningHandler) ──");
    let path = std::env::temp_dir().join("rag_pipeline_finetuning.jsonl");
    match observers.finetuning.save_finetuning_events(&path) {
        Ok(written) => println!("  wrote {written} examples to {}", path.display()),
        Err(error) => println!("  {error}"),
    }
    for example in observers.finetuning.examples() {
        let roles: Vec<&str> = example
            .messages
            .iter()
            .filter_map(|message| message["role"].as_str())
            .collect();
        println!("  {{\"messages\": [{}]}}", roles.join(", "));
    }

    if let Some((jsonl, path)) = jsonl {
        let flushed = jsonl.flush();
        println!(
            "\njsonl: wrote {} spans to {}{}",
            jsonl.written(),
            std::path::Path::new(&path).display(),
            flushed.err().map(|e| format!(" ({e})")).unwrap_or_default()
        );
    }

    println!("\n── report (HtmlReportExporter) ──");
    match report.write() {
        Ok(()) => println!(
            "  {} spans: open {} in a browser",
            report.written(),
            std::path::absolute(report.path())
                .unwrap_or_else(|_| report.path().to_owned())
                .display()
        ),
        Err(error) => println!("  {error}"),
    }

    if let Some(otlp) = otlp {
        let flushed = otlp.shutdown(Duration::from_secs(10));
        println!(
            "\notlp: exported {} spans, dropped {}{}",
            otlp.exported_spans(),
            otlp.dropped_spans(),
            flushed.err().map(|e| format!(" ({e})")).unwrap_or_default()
        );
    }
}

/// Asks the bundled questions, printing each answer as it streams, its sources and its usage.
async fn ask<L: Llm>(pipeline: &RagPipeline<L>) {
    println!(
        "indexed {} documents into {} chunks\n",
        rag::documents::bundled().len(),
        pipeline.chunk_count()
    );
    for question in QUESTIONS {
        println!("Q: {question}");
        print!("A: ");
        let answer = pipeline
            .query(question, &mut |piece| {
                print!("{piece}");
                let _ = std::io::stdout().flush();
            })
            .await;
        let sources: Vec<String> = answer
            .sources
            .iter()
            .map(|hit| format!("{} ({:.2})", hit.id(), hit.score.unwrap_or_default()))
            .collect();
        println!("\n   sources: {}", sources.join(", "));
        println!(
            "   usage:   {} prompt + {} completion = {} tokens\n",
            answer.usage["prompt_tokens"],
            answer.usage["completion_tokens"],
            answer.usage["total_tokens"]
        );
    }
}
