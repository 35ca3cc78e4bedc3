//! One trace across two services: a query service calls a retrieval service over HTTP, passing
//! the W3C `traceparent` (and `tracestate`) headers, and both export their spans, each under its
//! own `service.name`, into the same trace.
//!
//! `cargo run --example two_services` starts the query service, which starts the retrieval service
//! as a child process on 127.0.0.1 and sends it two queries. Spans are exported when the
//! environment names an OTLP backend (`OTEL_EXPORTER_OTLP_ENDPOINT`, `PHOENIX_COLLECTOR_ENDPOINT`,
//! ...; see `OtlpConfig::detect`), which the child inherits; without one, each service prints its
//! span tree. In the backend each query is one trace: `handle_query` → `call_retrieval` (query
//! service) → `serve_retrieval` → `embed_query`, `search_index` (retrieval service).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use instrument::handlers::SimpleSpanHandler;
use instrument::handlers::export::otlp::{OtlpConfig, OtlpExporter};
use instrument::{Context, extract_traceparent, get_dispatcher, inject_traceparent, span};

const QUERIES: [&str; 2] = ["what is a span", "how do traces cross services"];
const DISPATCHER: &str = "two_services";

fn main() {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("--retrieval-service") => retrieval_service(),
        Some(other) => {
            eprintln!("usage: two_services [--retrieval-service] (got {other:?})");
            std::process::exit(2);
        }
        None => query_service(),
    }
}

/// Handlers for one service: an OTLP exporter when the environment names a backend, and a span
/// tree printed at the end either way.
struct Observed {
    otlp: Option<OtlpExporter>,
    spans: &'static SimpleSpanHandler,
}

impl Observed {
    fn install(service: &str) -> Self {
        let dispatcher = get_dispatcher(DISPATCHER);
        let spans = dispatcher.add_span_handler(SimpleSpanHandler::default());
        let otlp = match OtlpConfig::detect() {
            Ok(Some(config)) => {
                let exporter = config
                    .service_name(service)
                    .build()
                    .unwrap_or_else(|error| {
                        eprintln!("{service}: cannot export: {error}");
                        std::process::exit(2)
                    });
                exporter.register(dispatcher);
                Some(exporter)
            }
            Ok(None) => None,
            Err(error) => {
                eprintln!("{service}: cannot export: {error}");
                std::process::exit(2)
            }
        };
        Self { otlp, spans }
    }

    fn finish(self, service: &str) {
        println!("── {service} ──");
        self.spans.print_trace_trees();
        if let Some(otlp) = self.otlp {
            let flushed = otlp.shutdown(Duration::from_secs(10));
            println!(
                "{service}: otlp exported {} spans, dropped {}{}",
                otlp.exported_spans(),
                otlp.dropped_spans(),
                flushed.err().map(|e| format!(" ({e})")).unwrap_or_default()
            );
        }
    }
}

// ── the query service ─────────────────────────────────────────────────────────────────────────

fn query_service() {
    let observed = Observed::install("query-service");
    let mut child = Command::new(std::env::current_exe().expect("the example's own path"))
        .arg("--retrieval-service")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the retrieval service starts");
    let mut child_out = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    child_out
        .read_line(&mut line)
        .expect("the retrieval service says where it listens");
    let port: u16 = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line from the retrieval service: {line:?}"));

    let agent = ureq::Agent::new_with_defaults();
    for query in QUERIES {
        let answer = handle_query(&agent, port, query);
        println!("Q: {query}\nA: {answer}\n");
    }
    let _ = agent
        .post(format!("http://127.0.0.1:{port}/shutdown"))
        .send("");
    // The child prints its own trees and summary; pass them on.
    let mut rest = String::new();
    let _ = child_out.read_to_string(&mut rest);
    let status = child.wait().expect("the retrieval service ends");
    print!("{rest}");
    observed.finish("query-service");
    if !status.success() {
        std::process::exit(1);
    }
}

#[span(dispatcher = "two_services")]
fn handle_query(agent: &ureq::Agent, port: u16, query: &str) -> String {
    let documents = call_retrieval(agent, port, query);
    format!(
        "{} documents about {query:?}: {documents}",
        documents.matches('|').count() + 1
    )
}

/// The client span: the retrieval service's spans become its children.
#[span(dispatcher = "two_services")]
fn call_retrieval(agent: &ureq::Agent, port: u16, query: &str) -> String {
    let mut request = agent.post(format!("http://127.0.0.1:{port}/retrieve"));
    if let Some((traceparent, tracestate)) = inject_traceparent(&Context::current()) {
        request = request.header("traceparent", traceparent);
        if let Some(tracestate) = tracestate {
            request = request.header("tracestate", tracestate);
        }
    }
    match request.send(query) {
        Ok(mut response) => response.body_mut().read_to_string().unwrap_or_default(),
        Err(error) => format!("<retrieval failed: {error}>"),
    }
}

// ── the retrieval service ─────────────────────────────────────────────────────────────────────

fn retrieval_service() {
    let observed = Observed::install("retrieval-service");
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
    let port = listener.local_addr().expect("bound").port();
    println!("listening on {port}");
    let _ = std::io::stdout().flush();
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        match serve(stream) {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) => eprintln!("retrieval-service: {error}"),
        }
    }
    observed.finish("retrieval-service");
}

/// One HTTP request; `false` when it asked the service to stop.
fn serve(stream: TcpStream) -> std::io::Result<bool> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
    let (mut length, mut traceparent, mut tracestate) = (0, None, None);
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        let value = value.trim().to_owned();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().unwrap_or(0),
            "traceparent" => traceparent = Some(value),
            "tracestate" => tracestate = Some(value),
            _ => {}
        }
    }
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body)?;
    let query = String::from_utf8_lossy(&body).into_owned();

    let (keep_going, answer) = if path == "/shutdown" {
        (false, String::new())
    } else {
        // Continue the caller's trace; a request without (or with a bad) header starts one.
        let cx = traceparent
            .and_then(|header| extract_traceparent(&header, tracestate.as_deref()).ok())
            .unwrap_or_else(Context::current);
        (true, cx.scope(|| serve_retrieval(&query)))
    };
    let mut stream = reader.into_inner();
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    )?;
    stream.flush()?;
    Ok(keep_going)
}

#[span(dispatcher = "two_services")]
fn serve_retrieval(query: &str) -> String {
    let vector = embed_query(query);
    search_index(&vector, 2).join(" | ")
}

#[span(dispatcher = "two_services")]
fn embed_query(query: &str) -> Vec<f64> {
    let mut vector = vec![0.0; 8];
    for (i, byte) in query.bytes().enumerate() {
        vector[i % 8] += f64::from(byte) / 255.0;
    }
    vector
}

#[span(dispatcher = "two_services")]
fn search_index(vector: &[f64], top_k: usize) -> Vec<String> {
    const DOCUMENTS: [&str; 3] = [
        "a span is one timed step",
        "traceparent carries the trace across services",
        "exporters send spans to a backend",
    ];
    let weight: f64 = vector.iter().sum();
    let mut ranked: Vec<(f64, &str)> = DOCUMENTS
        .iter()
        .map(|doc| ((doc.len() as f64 - weight).abs(), *doc))
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    ranked
        .into_iter()
        .take(top_k)
        .map(|(_, doc)| doc.to_owned())
        .collect()
}
