//! An OpenAI-compatible HTTP server on 127.0.0.1 for the client tests: chat completions (plain,
//! streamed as server-sent events with a final usage chunk, and a tool call when the request
//! offers tools), legacy completions and embeddings, with fixed answers and usage; the model
//! `rate-limited` gets `429` and `broken` gets `500`. It keeps every request body it was sent.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

/// The chat answer, in the pieces a stream sends.
pub const PIECES: [&str; 3] = ["Hello", " there", ", traveller"];
/// The usage every chat answer reports.
pub const CHAT_USAGE: (u64, u64) = (21, 7);
/// The usage every embedding answer reports, per input.
pub const EMBEDDING_TOKENS_PER_INPUT: u64 = 4;

/// The server; it stops when dropped.
pub struct OpenAiServer {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl OpenAiServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let requests = requests.clone();
                    std::thread::spawn(move || {
                        let _ = serve(stream, &requests);
                    });
                }
            })
        };
        Self {
            address,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// The API base, as `OpenAIConfig::with_api_base` takes it.
    pub fn api_base(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    /// Every request so far: its path and JSON body.
    pub fn requests(&self) -> Vec<(String, Value)> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for OpenAiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, requests: &Mutex<Vec<(String, Value)>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(());
    }
    let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    requests
        .lock()
        .unwrap()
        .push((path.clone(), request.clone()));
    let mut stream = reader.into_inner();

    let model = request["model"].as_str().unwrap_or("gpt-test").to_owned();
    match model.as_str() {
        "rate-limited" => return error(&mut stream, 429, "Rate limit reached for requests"),
        "broken" => return error(&mut stream, 500, "The server had an error"),
        _ => {}
    }
    match path.as_str() {
        "/v1/chat/completions" if request["stream"] == true => {
            stream_chat(&mut stream, &model, &request)
        }
        "/v1/chat/completions" => {
            let offers_tools = request["tools"]
                .as_array()
                .is_some_and(|tools| !tools.is_empty());
            let message = if offers_tools {
                json!({"role": "assistant", "content": null, "tool_calls": [{
                    "id": "call_add_1", "type": "function",
                    "function": {"name": "add", "arguments": "{\"a\":2,\"b\":3}"}
                }]})
            } else {
                json!({"role": "assistant", "content": PIECES.concat()})
            };
            let finish = if offers_tools { "tool_calls" } else { "stop" };
            ok(
                &mut stream,
                &json!({
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
                    "usage": usage(CHAT_USAGE.0, CHAT_USAGE.1)
                }),
            )
        }
        "/v1/completions" => ok(
            &mut stream,
            &json!({
                "id": "cmpl-1", "object": "text_completion", "created": 1, "model": model,
                "choices": [{"index": 0, "text": " 4, 5", "finish_reason": "stop", "logprobs": null}],
                "usage": usage(5, 4)
            }),
        ),
        "/v1/embeddings" => {
            let inputs: Vec<String> = match &request["input"] {
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().unwrap_or_default().to_owned())
                    .collect(),
                Value::String(text) => vec![text.clone()],
                _ => Vec::new(),
            };
            let data: Vec<Value> = inputs
                .iter()
                .enumerate()
                .map(|(index, text)| {
                    json!({
                        "object": "embedding", "index": index,
                        "embedding": [text.len() as f64, 0.5, -0.25]
                    })
                })
                .collect();
            let tokens = EMBEDDING_TOKENS_PER_INPUT * inputs.len() as u64;
            ok(
                &mut stream,
                &json!({
                    "object": "list", "model": model, "data": data,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
                }),
            )
        }
        _ => error(&mut stream, 404, "no such route"),
    }
}

fn usage(prompt: u64, completion: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

fn ok(stream: &mut TcpStream, body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

fn error(stream: &mut TcpStream, status: u16, message: &str) -> std::io::Result<()> {
    let body =
        json!({"error": {"message": message, "type": "server_error", "param": null, "code": null}})
            .to_string();
    write!(
        stream,
        "HTTP/1.1 {status} Error\r\nContent-Type: application/json\r\nRetry-After: 0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

fn stream_chat(stream: &mut TcpStream, model: &str, request: &Value) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
    )?;
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}]})
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    events.extend(
        PIECES
            .iter()
            .map(|piece| chunk(json!({"content": piece}), Value::Null)),
    );
    events.push(chunk(json!({}), json!("stop")));
    if request["stream_options"]["include_usage"] == true {
        events.push(
            json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1,
            "model": model, "choices": [], "usage": usage(CHAT_USAGE.0, CHAT_USAGE.1)}),
        );
    }
    for event in events {
        write!(stream, "data: {event}\n\n")?;
        stream.flush()?;
        std::thread::sleep(Duration::from_millis(2));
    }
    write!(stream, "data: [DONE]\n\n")?;
    stream.flush()
}
