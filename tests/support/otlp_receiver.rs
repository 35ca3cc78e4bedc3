//! An OTLP/HTTP receiver on 127.0.0.1 for the exporter's tests: plain HTTP or HTTPS with a
//! self-signed certificate, keep-alive connections, gzip bodies, scripted answers. It decodes each
//! request as a real collector would and keeps it, with its path and headers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use instrument::handlers::export::otlp::proto::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse, KeyValue,
    Message, Span, any_value,
};

/// What the receiver answers.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// `status` (with `Retry-After: retry_after` if given) to the first `n` requests, `200` after.
    FailFirst {
        n: usize,
        status: u16,
        retry_after: Option<&'static str>,
    },
    /// Reads the request and never answers (until the receiver is dropped).
    Hang,
    /// `200` with a partial success rejecting this many spans of each request.
    Reject(i64),
}

impl Answer {
    /// `200` to everything.
    pub const OK: Self = Self::fail_first(0);

    /// `503` to the first `n` requests, `200` after.
    pub const fn fail_first(n: usize) -> Self {
        Self::FailFirst {
            n,
            status: 503,
            retry_after: None,
        }
    }
}

/// One request as received.
#[derive(Debug)]
pub struct Received {
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// Whether the body came gzipped (and was decoded).
    pub gzipped: bool,
    pub request: ExportTraceServiceRequest,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The server side of TLS: a self-signed certificate for `localhost` and `127.0.0.1`.
pub struct Tls {
    config: Arc<rustls::ServerConfig>,
    /// The certificate as PEM, in a file: what a client trusts as its CA.
    pub ca_file: PathBuf,
}

impl Tls {
    pub fn self_signed(name: &str) -> Self {
        let certified = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .unwrap();
        let ca_file = std::env::temp_dir().join(format!(
            "instrument-test-ca-{}-{name}.pem",
            std::process::id()
        ));
        std::fs::write(&ca_file, certified.cert.pem()).unwrap();
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        // Named explicitly: the tests build rustls with ring only, and install no process default
        // but where a test does. (ring's is deprecated only for lacking post-quantum key exchange.)
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .unwrap();
        Self {
            config: Arc::new(config),
            ca_file,
        }
    }
}

impl Drop for Tls {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

/// The receiver, on its own thread; it stops when dropped.
pub struct Receiver {
    address: SocketAddr,
    https: bool,
    received: Arc<Mutex<Vec<Received>>>,
    hits: Arc<AtomicUsize>,
    /// Connections that ended in a failed TLS handshake.
    refused_handshakes: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// A plain-HTTP receiver.
    pub fn start(answer: Answer) -> Self {
        Self::serve(answer, None)
    }

    /// An HTTPS receiver with `tls`'s certificate.
    pub fn start_tls(answer: Answer, tls: &Tls) -> Self {
        Self::serve(answer, Some(Arc::clone(&tls.config)))
    }

    fn serve(answer: Answer, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let refused_handshakes = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let https = tls.is_some();
        let thread = {
            let (received, hits, refused, stop, accepted) = (
                received.clone(),
                hits.clone(),
                refused_handshakes.clone(),
                stop.clone(),
                connections.clone(),
            );
            std::thread::spawn(move || {
                let mut connections = Vec::new();
                for stream in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    accepted.fetch_add(1, Ordering::AcqRel);
                    let context = Connection {
                        answer,
                        hits: hits.clone(),
                        received: received.clone(),
                        refused: refused.clone(),
                        stop: stop.clone(),
                    };
                    let tls = tls.clone();
                    connections.push(std::thread::spawn(move || context.run(stream, tls)));
                }
                for connection in connections {
                    let _ = connection.join();
                }
            })
        };
        Self {
            address,
            https,
            received,
            hits,
            refused_handshakes,
            connections,
            stop,
            thread: Some(thread),
        }
    }

    /// The base URL (`/v1/traces` is added by the exporter).
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.address)
    }

    /// The base URL naming the host `localhost` rather than its address.
    pub fn url_with_host(&self) -> String {
        format!(
            "{}://localhost:{}",
            if self.https { "https" } else { "http" },
            self.address.port()
        )
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Acquire)
    }

    /// Connections accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    pub fn refused_handshakes(&self) -> usize {
        self.refused_handshakes.load(Ordering::Acquire)
    }

    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().unwrap())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A request's path, headers (names in lower case) and body.
type Request = (String, Vec<(String, String)>, Vec<u8>);

/// One connection's state: it serves requests until the client closes it.
struct Connection {
    answer: Answer,
    hits: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<Received>>>,
    refused: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Connection {
    fn run(self, stream: TcpStream, tls: Option<Arc<rustls::ServerConfig>>) {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        match tls {
            None => self.requests(stream),
            Some(config) => {
                let mut connection = rustls::ServerConnection::new(config).unwrap();
                let mut stream = stream;
                while connection.is_handshaking() {
                    match connection.complete_io(&mut stream) {
                        Ok(_) => {}
                        Err(error) if is_timeout(&error) && !self.stop.load(Ordering::Acquire) => {}
                        Err(_) => {
                            self.refused.fetch_add(1, Ordering::AcqRel);
                            return;
                        }
                    }
                }
                self.requests(rustls::StreamOwned::new(connection, stream));
            }
        }
    }

    fn requests(&self, stream: impl Read + Write) {
        let mut reader = BufReader::new(stream);
        while let Some((path, headers, body)) = self.read_request(&mut reader) {
            let hit = self.hits.fetch_add(1, Ordering::AcqRel);
            let at = Instant::now();
            let (status, retry_after) = match self.answer {
                Answer::Hang => {
                    while !self.stop.load(Ordering::Acquire) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    return;
                }
                Answer::FailFirst {
                    n,
                    status,
                    retry_after,
                } if hit < n => (status, retry_after),
                Answer::FailFirst { .. } | Answer::Reject(_) => (200, None),
            };
            if status == 200 {
                let gzipped = headers
                    .iter()
                    .any(|(n, v)| n == "content-encoding" && v == "gzip");
                let body = if gzipped {
                    let mut plain = Vec::new();
                    flate2::read::GzDecoder::new(body.as_slice())
                        .read_to_end(&mut plain)
                        .unwrap();
                    plain
                } else {
                    body
                };
                self.received.lock().unwrap().push(Received {
                    path,
                    headers,
                    gzipped,
                    request: ExportTraceServiceRequest::decode(body.as_slice()).unwrap(),
                    at,
                });
            } else {
                self.received.lock().unwrap().push(Received {
                    path,
                    headers,
                    gzipped: false,
                    request: ExportTraceServiceRequest::default(),
                    at,
                });
            }
            let extra = retry_after
                .map(|after| format!("Retry-After: {after}\r\n"))
                .unwrap_or_default();
            let reason = if status == 200 { "OK" } else { "Not Now" };
            let body = match self.answer {
                Answer::Reject(rejected) => ExportTraceServiceResponse {
                    partial_success: Some(ExportTracePartialSuccess {
                        rejected_spans: rejected,
                        error_message: "too old".into(),
                    }),
                }
                .encode_to_vec(),
                _ => Vec::new(),
            };
            let answer = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/x-protobuf\r\n\
                 {extra}Content-Length: {}\r\n\r\n",
                body.len()
            );
            let stream = reader.get_mut();
            if stream.write_all(answer.as_bytes()).is_err()
                || stream.write_all(&body).is_err()
                || stream.flush().is_err()
            {
                return;
            }
        }
    }

    /// The next request on the connection, or `None` once the client closed it.
    fn read_request(&self, reader: &mut BufReader<impl Read + Write>) -> Option<Request> {
        let mut line = String::new();
        loop {
            match reader.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) => break,
                Err(error) if is_timeout(&error) && !self.stop.load(Ordering::Acquire) => {}
                Err(_) => return None,
            }
        }
        let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            line.clear();
            read_fully(reader, |r| r.read_line(&mut line))?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':')?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let length = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        read_fully(reader, |r| r.read_exact(&mut body).map(|()| length))?;
        Some((path, headers, body))
    }
}

/// Retries `read` through read timeouts (the client is still sending).
fn read_fully<R>(
    reader: &mut R,
    mut read: impl FnMut(&mut R) -> std::io::Result<usize>,
) -> Option<usize> {
    for _ in 0..50 {
        match read(reader) {
            Ok(n) => return Some(n),
            Err(error) if is_timeout(&error) => {}
            Err(_) => return None,
        }
    }
    None
}

fn is_timeout(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Every span of the requests, in order.
pub fn spans(received: &[Received]) -> Vec<Span> {
    received
        .iter()
        .flat_map(|r| &r.request.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| s.spans.iter().cloned())
        .collect()
}

/// The string value of `key` among `attributes`.
pub fn string_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
    {
        Some(any_value::Value::StringValue(text)) => Some(text),
        _ => None,
    }
}

/// The resource attributes of the first request.
pub fn resource(received: &[Received]) -> Vec<KeyValue> {
    received[0].request.resource_spans[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .clone()
}
