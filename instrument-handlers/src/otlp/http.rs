//! A minimal HTTP/1.1 client for one request shape: `POST` a protobuf body, read the status.
//!
//! Plain `http://` only (a local collector or Phoenix); `https://` is refused when the exporter is
//! built. Each request opens a connection, sends `Content-Length` and `Connection: close`, reads the
//! status line (skipping `1xx` interim answers) and headers, and reads at most a little of the body
//! for error messages. Connecting, each write and each read are bounded by the timeout; name
//! resolution uses the system resolver, which has no timeout of its own.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The path OTLP/HTTP receivers take traces at.
const TRACES_PATH: &str = "/v1/traces";
/// Bytes of an error answer's body kept for the error message at most.
const BODY_LIMIT: u64 = 4096;
/// Bytes of one status or header line at most.
const LINE_LIMIT: u64 = 8192;

/// Where requests go: parsed once, when the exporter is built.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// `host[:port]` as written, for the `Host` header.
    authority: String,
    /// The host to resolve, without IPv6 brackets.
    host: String,
    port: u16,
    path: String,
}

impl Endpoint {
    /// Parses `http://host[:port][/base]`; the path is `base` + `/v1/traces` unless it already ends
    /// in `/v1/traces`.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let scheme_end = url
            .find("://")
            .ok_or("it has no scheme; write http://host:port")?;
        match url[..scheme_end].to_ascii_lowercase().as_str() {
            "http" => {}
            "https" => {
                return Err(
                    "https is not supported yet; send to a local collector or Phoenix over http"
                        .into(),
                );
            }
            other => return Err(format!("the scheme {other:?} is not http")),
        }
        let rest = &url[scheme_end + 3..];
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() || authority.contains('@') {
            return Err("it needs a host, and no user name".into());
        }
        let (host, port) = split_port(authority)?;
        let base = path.trim_end_matches('/');
        let path = if base.ends_with(TRACES_PATH) {
            base.to_owned()
        } else {
            format!("{base}{TRACES_PATH}")
        };
        if path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err("its path has spaces or control characters".into());
        }
        Ok(Self {
            authority: authority.to_owned(),
            host,
            port,
            path,
        })
    }

    /// The URL requests are sent to.
    pub(crate) fn url(&self) -> String {
        format!("http://{}{}", self.authority, self.path)
    }
}

fn split_port(authority: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let close = rest.find(']').ok_or("an IPv6 host lacks its `]`")?;
        let port = rest[close + 1..].strip_prefix(':');
        (&rest[..close], port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("it needs a host".into());
    }
    let port = match port {
        Some(port) => port
            .parse()
            .map_err(|_| format!("the port {port:?} is not a number up to 65535"))?,
        None => 80,
    };
    Ok((host.to_owned(), port))
}

/// Checks a configured header: a token for a name, no line breaks in the value.
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(format!("the header name {name:?} is not a token"));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!("the value of header {name:?} has a line break"));
    }
    Ok(())
}

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum PostError {
    /// Worth trying again: no connection, a timeout, or a `408`, `429` or `5xx` answer
    /// (`501` and `505` aside).
    Retry(String),
    /// Trying again would get the same answer (another `4xx`, say).
    Fatal(String),
}

/// Sends `body` as `application/x-protobuf` and waits for a `2xx` answer.
pub(crate) fn post(
    endpoint: &Endpoint,
    headers: &[(String, String)],
    body: &[u8],
    timeout: Duration,
) -> Result<(), PostError> {
    let io = |what: &str, error: std::io::Error| {
        PostError::Retry(format!("{what} {}: {error}", endpoint.url()))
    };
    let mut stream = connect(endpoint, timeout).map_err(|e| io("cannot connect to", e))?;
    stream
        .set_write_timeout(Some(timeout))
        .and_then(|()| stream.set_read_timeout(Some(timeout)))
        .map_err(|e| io("cannot set timeouts for", e))?;
    let _ = stream.set_nodelay(true);

    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-protobuf\r\n\
         Content-Length: {}\r\nUser-Agent: instrument-otlp/{}\r\nConnection: close\r\n",
        endpoint.path,
        endpoint.authority,
        body.len(),
        env!("CARGO_PKG_VERSION"),
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .and_then(|()| stream.flush())
        .map_err(|e| io("cannot send to", e))?;

    let mut reader = BufReader::new(stream);
    let (status, length) = read_head(&mut reader).map_err(|e| io("no answer from", e))?;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let detail = read_body(&mut reader, length);
    let message = format!("{} answered {status}{detail}", endpoint.url());
    if matches!(status, 408 | 429) || (500..600).contains(&status) && !matches!(status, 501 | 505) {
        Err(PostError::Retry(message))
    } else {
        Err(PostError::Fatal(message))
    }
}

fn connect(endpoint: &Endpoint, timeout: Duration) -> std::io::Result<TcpStream> {
    let addresses: Vec<SocketAddr> = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()?
        .collect();
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "the host has no address");
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(stream) => return Ok(stream),
            Err(error) => last = error,
        }
    }
    Err(last)
}

/// Reads the status line and headers of the final answer: its status and `Content-Length`.
fn read_head(reader: &mut impl BufRead) -> std::io::Result<(u16, Option<u64>)> {
    loop {
        let status_line = read_line(reader)?;
        let status = parse_status(&status_line).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a bad status line {:?}", clip(&status_line)),
            )
        })?;
        let mut length = None;
        loop {
            let line = read_line(reader)?;
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.trim().eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().ok();
            }
        }
        if !(100..200).contains(&status) {
            return Ok((status, length));
        }
    }
}

/// `HTTP/1.x NNN reason` → `NNN`.
fn parse_status(line: &str) -> Option<u16> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    let code = parts.next()?;
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return None;
    }
    code.parse().ok().filter(|code| (100..600).contains(code))
}

/// One line without its `\r\n`; an error at end of input or past `LINE_LIMIT`.
fn read_line(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = Vec::new();
    let read = reader.take(LINE_LIMIT).read_until(b'\n', &mut line)?;
    if read == 0 || line.last() != Some(&b'\n') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the answer ended early or has an over-long line",
        ));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// `": <start of body>"` for an error message, when the body can be read quickly.
fn read_body(reader: &mut impl Read, length: Option<u64>) -> String {
    let mut body = Vec::new();
    let limit = length.unwrap_or(BODY_LIMIT).min(BODY_LIMIT);
    let _ = reader.take(limit).read_to_end(&mut body);
    let text = String::from_utf8_lossy(&body);
    let text = text.trim();
    if text.is_empty() || text.contains('\0') {
        String::new()
    } else {
        format!(": {}", clip(text))
    }
}

fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        let e = Endpoint::parse("http://localhost:6006").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("localhost", 6006));
        assert_eq!(e.url(), "http://localhost:6006/v1/traces");
        let e = Endpoint::parse("HTTP://[::1]:4318/v1/traces/").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 4318));
        assert_eq!(e.path, "/v1/traces");
        let e = Endpoint::parse("http://collector/otel").unwrap();
        assert_eq!((e.port, e.path.as_str()), (80, "/otel/v1/traces"));
        for bad in [
            "localhost:6006",
            "https://x",
            "ftp://x",
            "http://",
            "http://:80",
            "http://u@x",
            "http://x:99999",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_parse() {
        let mut answer: &[u8] =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy";
        assert_eq!(read_head(&mut answer).unwrap(), (503, Some(4)));
        assert_eq!(read_body(&mut answer, Some(4)), ": busy");
        let mut bad: &[u8] = b"SMTP ready\r\n\r\n";
        assert!(read_head(&mut bad).is_err());
        let mut short: &[u8] = b"HTTP/1.1 200 OK\r\n";
        assert!(read_head(&mut short).is_err());
        assert!(check_header("api_key", "x").is_ok());
        assert!(check_header("bad name", "x").is_err());
        assert!(check_header("x", "a\r\nInjected: 1").is_err());
    }
}
