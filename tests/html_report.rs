//! The offline HTML report: one file, its data inside, what a user looks for worked out (traces,
//! tree, kinds, the LLM call's conversation, tokens and cost, a retriever's documents), secrets
//! redacted and span text unable to become markup. `scripts/view-check.sh` checks the same page
//! in a real browser.

use std::path::PathBuf;

use instrument::events::{LLMChatEndEvent, LLMChatStartEvent, RetrievalEndEvent};
use instrument::handlers::export::{
    ExportedSpan, HtmlReport, HtmlReportExporter, SpanAttributes, SpanStatus,
};
use instrument::llm::{ChatMessage, ChatResponse, NodeWithScore, QueryType, TextNode};
use serde_json::{Value, json};

const DISPATCHER: &str = "tests::html_report";

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "instrument-test-report-{}-{name}.html",
        std::process::id()
    ))
}

/// The data the page carries, as its script reads it.
fn page_data(page: &str) -> Value {
    let open = r#"<script id="instrument-data" type="application/json">"#;
    let start = page.find(open).expect("the data element") + open.len();
    let end = start + page[start..].find("</script>").expect("its end");
    serde_json::from_str(&page[start..end]).expect("the data is JSON")
}

fn names(spans: &[Value]) -> Vec<&str> {
    spans.iter().map(|s| s["name"].as_str().unwrap()).collect()
}

#[instrument::span(dispatcher = "tests::html_report")]
fn retrieve(query: &str) -> Vec<NodeWithScore> {
    let nodes = vec![
        NodeWithScore::new(TextNode::new("spans nest"), 0.91),
        NodeWithScore::new(TextNode::new("events carry payloads"), 0.42),
    ];
    instrument::get_dispatcher(DISPATCHER).event(RetrievalEndEvent {
        str_or_query_bundle: QueryType::Str(query.to_owned()),
        nodes: nodes.clone(),
    });
    nodes
}

#[instrument::span(dispatcher = "tests::html_report", name = "llm.chat")]
fn chat(question: &str) -> String {
    let messages = vec![
        ChatMessage::system("answer from the context"),
        ChatMessage::user(question),
    ];
    let dispatcher = instrument::get_dispatcher(DISPATCHER);
    dispatcher.event(LLMChatStartEvent {
        messages: messages.clone(),
        additional_kwargs: serde_json::Map::new(),
        model_dict: json!({"model": "gpt-4o-mini", "api_key": "sk-live-123"})
            .as_object()
            .unwrap()
            .clone(),
    });
    let answer = "Spans nest.".to_owned();
    dispatcher.event(LLMChatEndEvent {
        messages,
        response: Some(ChatResponse {
            message: ChatMessage::assistant(answer.clone()),
            delta: None,
            raw: Some(json!({
                "model": "gpt-4o-mini",
                "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
            })),
            additional_kwargs: serde_json::Map::new(),
        }),
    });
    answer
}

#[instrument::span(dispatcher = "tests::html_report")]
fn rerank(top_n: usize) -> Result<usize, String> {
    Err(format!("cannot keep {top_n}"))
}

#[instrument::span(dispatcher = "tests::html_report")]
fn query(question: &str) -> String {
    retrieve(question);
    let _ = rerank(2);
    chat(question)
}

#[test]
fn a_run_becomes_one_self_contained_page_showing_its_traces_and_llm_calls() {
    let path = temp("run");
    let exporter = HtmlReportExporter::builder(&path)
        .title("evaluation <nightly>")
        .build()
        .unwrap();
    exporter.register(instrument::get_dispatcher(DISPATCHER));

    query("How do spans nest? </script><script>alert(1)</script>");
    query("second");
    exporter.write().unwrap();
    assert_eq!(exporter.written(), 8);
    assert_eq!(exporter.dropped(), 0);

    let page = std::fs::read_to_string(&path).unwrap();
    // Everything inline: no file, script or style is fetched.
    assert!(page.starts_with("<!doctype html>"));
    for outside in ["src=", "href=", "http://", "https://", "@import"] {
        assert!(!page.contains(outside), "the page refers to {outside}");
    }
    assert_eq!(
        page.matches("<script").count(),
        2,
        "the data and the script"
    );
    assert!(page.contains("<title>evaluation &lt;nightly&gt;</title>"));
    // Markup inside span text stays in the data, escaped, and reads back as the same text.
    assert!(!page.contains("</script><script>alert(1)"));
    // Secrets are redacted in the page as everywhere else.
    assert!(!page.contains("sk-live-123"));

    let data = page_data(&page);
    let traces = data["traces"].as_array().unwrap();
    let spans = data["spans"].as_array().unwrap();
    assert_eq!(traces.len(), 2);
    assert_eq!(spans.len(), 8);
    // Tree order: each trace's root, then its children by start time.
    assert_eq!(
        names(&spans[..4]),
        ["query", "retrieve", "rerank", "llm.chat"]
    );
    assert_eq!(
        spans[0]["args"]["question"],
        "How do spans nest? </script><script>alert(1)</script>"
    );
    let trace = &traces[0];
    assert_eq!(
        (trace["first"].as_u64(), trace["count"].as_u64()),
        (Some(0), Some(4))
    );
    assert_eq!(trace["name"], "query");
    assert_eq!(trace["errors"], 1);
    assert_eq!(trace["tokens"], 1500);
    assert_eq!(trace["cost"], "$0.00045");
    assert_eq!(trace["trace_id"].as_str().map(str::len), Some(32));

    let by_name = |name: &str| spans[..4].iter().find(|s| s["name"] == name).unwrap();
    assert_eq!(by_name("query")["kind"], "chain");
    assert_eq!(by_name("query")["depth"], 0);
    assert_eq!(by_name("retrieve")["parent"], 0);
    assert_eq!(by_name("retrieve")["depth"], 1);

    let retrieved = by_name("retrieve");
    assert_eq!(retrieved["kind"], "retriever");
    let documents = retrieved["documents"].as_array().unwrap();
    assert_eq!(documents[0]["text"], "spans nest");
    assert_eq!(documents[0]["score"], 0.91);
    assert_eq!(documents[1]["score"], 0.42);

    let failed = by_name("rerank");
    assert_eq!(failed["status"], "error");
    assert_eq!(failed["error"], "cannot keep 2");

    let llm = by_name("llm.chat");
    assert_eq!(llm["kind"], "llm");
    let call = &llm["llm"];
    assert_eq!(call["model"], "gpt-4o-mini");
    let roles: Vec<&str> = call["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user"]);
    assert_eq!(call["response"]["role"], "assistant");
    assert_eq!(call["response"]["content"], "Spans nest.");
    assert_eq!(
        (
            &call["prompt_tokens"],
            &call["completion_tokens"],
            &call["total_tokens"]
        ),
        (&json!(1000), &json!(500), &json!(1500))
    );
    assert_eq!(call["cost"], "$0.00045");
    let start = &llm["events"][0];
    assert_eq!(start["name"], "LLMChatStartEvent");
    assert_eq!(
        start["attributes"]["model_dict"]["api_key"],
        instrument::REDACTED
    );

    // A second write holds what ended since.
    query("third");
    exporter.write().unwrap();
    assert_eq!(exporter.written(), 12);
    let again = page_data(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(again["traces"].as_array().unwrap().len(), 3);
    std::fs::remove_file(&path).ok();
}

fn exported(id: &str, parent: Option<&str>, start: u64, end: u64) -> ExportedSpan {
    ExportedSpan {
        span_id: id.to_owned(),
        parent_id: parent.map(str::to_owned),
        name: id.split('-').next().unwrap().to_owned(),
        trace_id: None,
        dispatcher: "app".to_owned(),
        start_unix_nano: start,
        end_unix_nano: end,
        duration_ns: end - start,
        status: SpanStatus::Ok,
        error: None,
        attributes: SpanAttributes::default(),
        events: Vec::new(),
    }
}

fn report_data(report: &HtmlReport) -> Value {
    let mut page = Vec::new();
    report.write_to(&mut page).unwrap();
    page_data(&String::from_utf8(page).unwrap())
}

#[test]
fn a_file_in_end_order_with_strays_and_loops_loses_no_span() {
    let spans = vec![
        // Children end first, as a JSON Lines file has them.
        exported("late-2", Some("root-1"), 300, 400),
        exported("early-3", Some("root-1"), 100, 200),
        exported("root-1", None, 0, 500),
        // Its parent is in another process's file: the root of a trace here.
        exported("remote-4", Some("elsewhere-9"), 50, 60),
        // A loop, from a file edited by hand: kept, as a trace of its own.
        exported("a-5", Some("b-6"), 10, 20),
        exported("b-6", Some("a-5"), 11, 19),
        // Its own parent.
        exported("self-7", Some("self-7"), 5, 6),
    ];
    let report = HtmlReport::new(spans);
    assert_eq!(report.span_count(), 7);
    let data = report_data(&report);
    let spans = data["spans"].as_array().unwrap();
    let traces = data["traces"].as_array().unwrap();
    assert_eq!(
        names(spans),
        ["root", "early", "late", "self", "remote", "a", "b"]
    );
    assert_eq!(traces.len(), 4);
    assert_eq!(traces[0]["count"], 3);
    assert_eq!(traces[0]["duration_ns"], 500);
    assert_eq!(spans[2]["offset_ns"], 300);
    let covered: u64 = traces.iter().map(|t| t["count"].as_u64().unwrap()).sum();
    assert_eq!(covered, 7);
}

#[test]
fn cancelled_spans_are_told_from_failed_ones() {
    let mut cancelled = exported("fetch-1", None, 0, 10);
    cancelled.status = SpanStatus::Error;
    cancelled.error = Some("cancelled".to_owned());
    let mut failed = exported("parse-2", None, 20, 30);
    failed.status = SpanStatus::Error;
    failed.error = Some("bad input".to_owned());
    let data = report_data(&HtmlReport::new(vec![cancelled, failed]));
    let status: Vec<&str> = data["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["cancelled", "error"]);
}

#[test]
fn secrets_written_by_another_writer_are_redacted_too() {
    let mut span = exported("call-1", None, 0, 10);
    span.attributes
        .args
        .insert("openai_api_key".into(), json!("sk-abc"));
    span.attributes
        .metadata
        .insert("headers".into(), json!({"Authorization": "Bearer xyz"}));
    let mut page = Vec::new();
    HtmlReport::new(vec![span]).write_to(&mut page).unwrap();
    let page = String::from_utf8(page).unwrap();
    assert!(!page.contains("sk-abc") && !page.contains("Bearer xyz"));
    let data = page_data(&page);
    assert_eq!(
        data["spans"][0]["args"]["openai_api_key"],
        instrument::REDACTED
    );
}

#[test]
fn the_file_grows_linearly_with_the_spans() {
    let run = |count: u64| {
        let spans = (0..count)
            .map(|i| {
                let mut span = exported(
                    &format!("step-{i:08}"),
                    (i % 100 != 0)
                        .then(|| format!("step-{:08}", i - i % 100))
                        .as_deref(),
                    i * 10,
                    i * 10 + 5,
                );
                span.attributes
                    .args
                    .insert("query".into(), json!("what is rust"));
                span.attributes.args.insert("top_k".into(), json!(i % 7));
                span
            })
            .collect();
        let mut page = Vec::new();
        HtmlReport::new(spans).write_to(&mut page).unwrap();
        page.len() as f64
    };
    let small = run(10_000);
    let large = run(100_000);
    // The page's fixed part (style and script) is small beside either.
    let ratio = large / small;
    assert!(
        (9.0..=10.5).contains(&ratio),
        "100k spans / 10k spans = {ratio}"
    );
}

fn event(name: &str, at: u64, attributes: Value) -> instrument::handlers::export::ExportedEvent {
    instrument::handlers::export::ExportedEvent {
        name: name.to_owned(),
        time_unix_nano: at,
        attributes,
    }
}

#[test]
fn a_streamed_call_keeps_each_piece_once_and_several_calls_add_up() {
    let mut span = exported("llm.stream-1", None, 0, 1_000);
    let question = json!([{"role": "user", "content": "tell me about spans"}]);
    span.events.push(event(
        "LLMChatStartEvent",
        1,
        json!({"messages": question, "model_dict": {"model": "gpt-4o-mini"}}),
    ));
    let mut text = String::new();
    for piece in 0..200 {
        text.push_str(&format!("piece {piece} "));
        span.events.push(event(
            "LLMChatInProgressEvent",
            2 + piece,
            json!({"messages": question, "response": {
                "message": {"role": "assistant", "content": text},
                "delta": format!("piece {piece} "),
                "raw": {"choices": []},
            }}),
        ));
    }
    for (at, prompt) in [(900, 10), (950, 20)] {
        span.events.push(event(
            "LLMChatEndEvent",
            at,
            json!({"messages": question, "response": {
                "message": {"role": "assistant", "content": text},
                "raw": {"model": "gpt-4o-mini", "usage": {"prompt_tokens": prompt, "completion_tokens": 5}},
            }}),
        ));
    }
    let data = report_data(&HtmlReport::new(vec![span]));
    let llm = &data["spans"][0];
    let progress = &llm["events"][1]["attributes"];
    assert_eq!(progress, &json!({"response": {"delta": "piece 0 "}}));
    // Two calls in one span: their tokens and costs add up.
    assert_eq!(llm["llm"]["prompt_tokens"], 30);
    assert_eq!(llm["llm"]["completion_tokens"], 10);
    assert_eq!(llm["llm"]["total_tokens"], 40);
    assert_eq!(data["traces"][0]["tokens"], 40);
    assert!(llm["llm"]["cost"].as_str().unwrap().starts_with('$'));
    // The whole answer is in the page once per end event and once as the call's response, not
    // once per piece.
    let full = serde_json::to_string(&data).unwrap();
    assert_eq!(
        full.matches("piece 199").count(),
        4,
        "the last delta, the two end events and the response"
    );
}
