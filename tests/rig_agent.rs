//! A `rig` agent (rig-agent's runtime over rig-core's OpenAI Chat Completions wire) prompting an
//! in-process OpenAI-compatible server on 127.0.0.1: its GenAI `tracing` spans, bridged by
//! `InstrumentLayer`, are LLM calls (one per turn), a tool call and an agent run, which
//! `TokenCountingHandler` counts and `FineTuningHandler` collects with the model and the server's
//! usage, with and without rig's content capture.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::recorder_on;
use instrument::handlers::token_counting::Tokenizer;
use instrument::handlers::tracing_bridge::InstrumentLayer;
use instrument::handlers::{FineTuningExample, FineTuningHandler, TokenCountingHandler};
use rig_agent::prelude::{AgentBuilder, Message, Tool};
use rig_core::providers::openai::OpenAIConfig;
use rig_core::tool::ToolContext;
use serde_json::{Value, json};
use tracing_subscriber::layer::SubscriberExt;

/// One request the server answered.
#[derive(Debug, Clone)]
struct Request {
    line: String,
    body: Value,
}

/// An OpenAI-compatible server that answers each `POST /v1/chat/completions` with the next of
/// `answers`, then stops (or after ten seconds).
struct Server {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(answers: Vec<Value>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut answers = answers.into_iter();
            while answers.len() > 0 && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, &mut answers, &seen, deadline),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            url,
            requests,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers the requests of one kept-alive connection until the answers run out or it closes.
fn serve(
    stream: TcpStream,
    answers: &mut std::vec::IntoIter<Value>,
    seen: &Mutex<Vec<Request>>,
    deadline: Instant,
) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while Instant::now() < deadline {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(_) => continue,
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        seen.lock().unwrap().push(Request {
            line: line.trim_end().to_owned(),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        let Some(answer) = answers.next() else {
            return;
        };
        let answer = answer.to_string();
        write!(
            writer,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        )
        .unwrap();
        writer.flush().unwrap();
        if answers.len() == 0 {
            return;
        }
    }
}

/// An OpenAI chat completion: the assistant's `message`, with usage.
fn completion(
    message: Value,
    finish_reason: &str,
    prompt_tokens: u64,
    completion_tokens: u64,
) -> Value {
    json!({
        "id": format!("chatcmpl-{prompt_tokens}"),
        "object": "chat.completion",
        "created": 1_767_225_600,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    })
}

/// The tool the model calls.
struct Weather;

impl Tool for Weather {
    const NAME: &'static str = "weather";
    type Args = Value;
    type Output = String;
    type Error = std::io::Error;

    fn description(&self) -> String {
        "The weather in a city.".to_owned()
    }

    fn parameters(&self) -> Value {
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
    }

    async fn call(
        &self,
        _context: &mut ToolContext,
        args: Value,
    ) -> Result<String, std::io::Error> {
        Ok(format!("rainy in {}", args["city"].as_str().unwrap_or("?")))
    }
}

fn roles_and_texts(messages: &Value) -> Vec<(String, Value)> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["role"].as_str().unwrap().to_owned(), m["content"].clone()))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_rig_agent_run_is_llm_calls_with_model_tokens_and_tools() {
    let root = instrument::root();
    let recorder = recorder_on(root);
    let words = Tokenizer::new(|text| text.split_whitespace().count());
    let counter = root.add_event_handler(TokenCountingHandler::new().with_tokenizer(words));
    let finetuning = root.add_event_handler(FineTuningHandler::new());
    let _subscriber = tracing::subscriber::set_default(
        tracing_subscriber::Registry::default().with(InstrumentLayer::new()),
    );

    // Two turns: the model calls the tool, then answers with its result.
    let tool_call = json!({
        "role": "assistant",
        "content": null,
        "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}],
    });
    let server = Server::start(vec![
        completion(tool_call, "tool_calls", 30, 8),
        completion(
            json!({"role": "assistant", "content": "Rainy."}),
            "stop",
            45,
            3,
        ),
    ]);
    // The tests' reqwest is built with rustls but no provider of its own (see Cargo.toml).
    // (ring's is deprecated only for lacking post-quantum key exchange.)
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let model = OpenAIConfig::new("sk-test")
        .with_base_url(server.url.clone())
        .client()
        .chat("gpt-4o-mini");
    let agent = AgentBuilder::new(model)
        .preamble("Answer in one word.")
        .tool(Weather)
        .record_content_telemetry(true)
        .build();
    let answer = agent
        .prompt(Message::user("Weather in Paris?"))
        .max_turns(3)
        .await
        .unwrap();
    assert_eq!(answer.output(), "Rainy.");

    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert!(
        requests
            .iter()
            .all(|r| r.line == "POST /v1/chat/completions HTTP/1.1")
    );
    assert_eq!(requests[0].body["model"], "gpt-4o-mini");

    // rig's spans, bridged: the run, a chat per turn, the tool between.
    let run = recorder.one("invoke_agent");
    let chats = recorder.by_name("chat");
    let tool = recorder.one("execute_tool");
    assert_eq!(chats.len(), 2);
    assert!(chats.iter().all(|chat| chat.parent == Some(run.id)));
    let in_span = |id| -> Vec<_> {
        recorder
            .events()
            .into_iter()
            .filter(|e| e.span_id == Some(id) && e.class_name != "TracingEvent")
            .collect()
    };
    let classes = |events: &[common::SeenEvent]| -> Vec<&str> {
        events.iter().map(|e| e.class_name).collect()
    };

    let first = in_span(chats[0].id);
    assert_eq!(classes(&first), ["LLMChatStartEvent", "LLMChatEndEvent"]);
    let (start, end) = (&first[0].json, &first[1].json);
    assert_eq!(
        start["model_dict"],
        json!({"model": "gpt-4o-mini", "provider": "openai"})
    );
    assert_eq!(
        roles_and_texts(&start["messages"]),
        [
            ("system".to_owned(), json!("Answer in one word.")),
            ("user".to_owned(), json!("Weather in Paris?")),
        ]
    );
    let call = &end["response"]["message"]["additional_kwargs"]["tool_calls"][0];
    assert_eq!(call["id"], "call_1");
    assert_eq!(call["function"]["name"], "weather");
    assert_eq!(end["response"]["raw"]["model"], "gpt-4o-mini-2024-07-18");

    let tool_events = in_span(tool.id);
    assert_eq!(classes(&tool_events), ["LLMToolCallEvent"]);
    assert_eq!(tool_events[0].json["tool"]["name"], "weather");
    assert_eq!(tool_events[0].json["tool_id"], "call_1");

    let second = in_span(chats[1].id);
    assert_eq!(classes(&second), ["LLMChatStartEvent", "LLMChatEndEvent"]);
    let conversation = roles_and_texts(&second[0].json["messages"]);
    let roles: Vec<_> = conversation.iter().map(|(role, _)| role.as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool"]);
    assert_eq!(conversation[3].1, "rainy in Paris");
    assert_eq!(second[1].json["response"]["message"]["content"], "Rainy.");

    let run_events = in_span(run.id);
    assert_eq!(
        classes(&run_events),
        ["AgentChatWithStepStartEvent", "AgentChatWithStepEndEvent"]
    );
    assert_eq!(run_events[0].json["user_msg"], "Weather in Paris?");
    assert_eq!(run_events[1].json["response"], "Rainy.");

    // The server's usage, turn by turn, counted as native calls' are (the run's totals on
    // `invoke_agent` are not counted again).
    assert_eq!(counter.prompt_llm_token_count(), 30 + 45);
    assert_eq!(counter.completion_llm_token_count(), 8 + 3);
    assert_eq!(counter.llm_token_counts().len(), 2);
    // Each turn a fine-tuning example: the tool call, then the answer after the tool's result.
    let examples: Vec<_> = finetuning
        .examples()
        .iter()
        .map(FineTuningExample::to_json)
        .collect();
    assert_eq!(examples.len(), 2);
    assert_eq!(examples[0]["messages"][2]["tool_calls"][0]["id"], "call_1");
    assert_eq!(examples[1]["messages"][3]["tool_call_id"], "call_1");
    assert_eq!(examples[1]["messages"][4]["content"], "Rainy.");

    // rig's default records no content: the model and the tokens still arrive.
    let quiet = Server::start(vec![completion(
        json!({"role": "assistant", "content": "Oslo."}),
        "stop",
        12,
        2,
    )]);
    let model = OpenAIConfig::new("sk-test")
        .with_base_url(quiet.url.clone())
        .client()
        .chat("gpt-4o-mini");
    let agent = AgentBuilder::new(model).build();
    let answer = agent
        .prompt(Message::user("Capital of Norway?"))
        .await
        .unwrap();
    assert_eq!(answer.output(), "Oslo.");
    let chats = recorder.by_name("chat");
    assert_eq!(chats.len(), 3);
    let last = in_span(chats[2].id);
    assert_eq!(last[0].json["model_dict"]["model"], "gpt-4o-mini");
    assert_eq!(last[0].json["messages"], json!([]));
    assert_eq!(last[1].json["response"]["message"]["content"], Value::Null);
    assert_eq!(counter.prompt_llm_token_count(), 30 + 45 + 12);
    assert_eq!(counter.completion_llm_token_count(), 8 + 3 + 2);
    assert_eq!(finetuning.get_finetuning_events().len(), 2);
}
