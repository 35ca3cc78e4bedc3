//! One OTLP/HTTP request: `POST` a protobuf body, optionally gzipped, and sort the answer into
//! success, worth retrying, or not.
//!
//! The client is `ureq` (blocking, on the OTLP sink's own thread): TLS with rustls, Mozilla's
//! roots by default or the CA certificates of a PEM file instead (as
//! `OTEL_EXPORTER_OTLP_CERTIFICATE` asks), an optional client certificate, connections kept alive
//! between batches, chunked answers read for us, and proxies from
//! `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` with `NO_PROXY`. The whole request, from resolving the
//! host to reading the answer, is bounded by the configured timeout, and by a flush's deadline.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use ureq::http::{HeaderName, HeaderValue, Uri};
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

use super::config::Compression;

/// Bytes of an error answer's body kept for the error message at most.
const BODY_LIMIT: u64 = 4096;

/// Where and how requests are sent: checked once, when the exporter is built.
pub(crate) struct Transport {
    agent: ureq::Agent,
    url: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    compression: Compression,
}

/// What the transport is made from.
pub(crate) struct TransportConfig<'a> {
    pub(crate) url: &'a str,
    pub(crate) headers: &'a [(String, String)],
    pub(crate) compression: Compression,
    pub(crate) timeout: Duration,
    pub(crate) ca_file: Option<&'a Path>,
    pub(crate) client_cert: Option<(&'a Path, &'a Path)>,
}

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum PostError {
    /// Worth trying again: no connection, a timeout, or a `429`, `502`, `503` or `504` answer, with
    /// the wait the server asked for in `Retry-After`, if it did.
    Retry {
        message: String,
        after: Option<Duration>,
    },
    /// Trying again would get the same answer: another status, or a certificate that is not
    /// trusted.
    Fatal(String),
}

impl Transport {
    /// Checks the URL, headers and certificates and makes the client.
    pub(crate) fn new(config: &TransportConfig<'_>) -> Result<Self, String> {
        let url = check_url(config.url)?;
        let headers = config
            .headers
            .iter()
            .map(|(name, value)| check_header(name, value))
            .collect::<Result<_, _>>()?;
        let mut tls = TlsConfig::builder();
        if let Some(path) = config.ca_file {
            tls = tls.root_certs(RootCerts::from(read_certificates(path)?));
        }
        if let Some((cert, key)) = config.client_cert {
            let chain = read_certificates(cert)?;
            let pem = read_file(key, "client key")?;
            let key = PrivateKey::from_pem(&pem)
                .map_err(|error| format!("no private key in {}: {error}", key.display()))?;
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout))
            .user_agent(concat!("instrument-otlp/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls.build())
            .build()
            .new_agent();
        Ok(Self {
            agent,
            url,
            headers,
            compression: config.compression,
        })
    }

    /// Sends `body` (an encoded `ExportTraceServiceRequest`) and waits, for at most `timeout` (and
    /// never longer than the configured one), for a `2xx` answer: how many spans it rejected.
    pub(crate) fn post(&self, body: &[u8], timeout: Option<Duration>) -> Result<u64, PostError> {
        let mut request = self
            .agent
            .post(&self.url)
            .header("content-type", "application/x-protobuf");
        if let Some(timeout) = timeout {
            request = request.config().timeout_global(Some(timeout)).build();
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let compressed;
        let body = match self.compression {
            Compression::None => body,
            Compression::Gzip => {
                compressed = gzip(body);
                request = request.header("content-encoding", "gzip");
                &compressed
            }
        };
        let mut response = request.send(body).map_err(|error| self.failed(&error))?;
        let status = response.status().as_u16();
        let after = retry_after(response.headers().get("retry-after"));
        // Read the answer to its end, so that the connection can serve the next batch.
        let answer = response
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_vec()
            .unwrap_or_default();
        if (200..300).contains(&status) {
            // A partial success names the spans the receiver refused; any other answer (MLflow's
            // early versions send one that is not OTLP) counts as full success.
            return Ok(ExportTraceServiceResponse::decode(answer.as_slice())
                .ok()
                .and_then(|response| response.partial_success)
                .map_or(0, |partial| {
                    u64::try_from(partial.rejected_spans).unwrap_or(0)
                }));
        }
        let message = format!(
            "{} answered {status}{}",
            redacted(&self.url),
            detail(&answer)
        );
        if matches!(status, 429 | 502 | 503 | 504) {
            Err(PostError::Retry { message, after })
        } else {
            Err(PostError::Fatal(message))
        }
    }

    /// Sorts a failure to get any answer.
    fn failed(&self, error: &ureq::Error) -> PostError {
        let message = format!("cannot send to {}: {error}", redacted(&self.url));
        if is_permanent(error) {
            PostError::Fatal(message)
        } else {
            PostError::Retry {
                message,
                after: None,
            }
        }
    }
}

/// Whether no retry can mend the failure: a TLS handshake that failed (a certificate that is not
/// trusted, say: rustls reports it through the stream as `InvalidData`), a URL or proxy that cannot
/// be used, an answer too large to read.
fn is_permanent(error: &ureq::Error) -> bool {
    match error {
        ureq::Error::Rustls(_)
        | ureq::Error::Tls(_)
        | ureq::Error::Pem(_)
        | ureq::Error::BadUri(_)
        | ureq::Error::Http(_)
        | ureq::Error::InvalidProxyUrl
        | ureq::Error::TlsRequired
        | ureq::Error::LargeResponseHeader(..) => true,
        ureq::Error::Io(io) => io.kind() == std::io::ErrorKind::InvalidData,
        _ => false,
    }
}

/// `url` without credentials or a query, for messages: what a log may show.
pub(crate) fn redacted(url: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, false), |(base, _)| (base, true));
    let base = match base.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{path}")
        }
        None => base.to_owned(),
    };
    if query {
        format!("{base}?[REDACTED]")
    } else {
        base
    }
}

/// `http(s)://host[:port]/path`, checked.
fn check_url(url: &str) -> Result<String, String> {
    let uri: Uri = url
        .parse()
        .map_err(|error| format!("it is not a URL: {error}"))?;
    match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("http" | "https") => {}
        Some(other) => return Err(format!("the scheme {other:?} is not http or https")),
        None => return Err("it has no scheme; write http://host:port or https://host".into()),
    }
    let Some(authority) = uri.authority() else {
        return Err("it needs a host".into());
    };
    if authority.host().is_empty() || authority.as_str().contains('@') {
        return Err("it needs a host, and no user name (send credentials as a header)".into());
    }
    // `Uri` keeps a port it cannot read as a number; ask for one that can be.
    let after_host = authority
        .as_str()
        .rsplit_once(']')
        .map_or(authority.as_str(), |(_, rest)| rest);
    if let Some((_, port)) = after_host.rsplit_once(':')
        && port.parse::<u16>().is_err()
    {
        return Err(format!("the port {port:?} is not a number up to 65535"));
    }
    Ok(uri.to_string())
}

/// A configured header: a token for a name, a value without line breaks. A name that is not a
/// token is not repeated (`Authorization: Basic ...` written as a name would show the key).
fn check_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let shown: String = name
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    let name_ = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("a header name starting {shown:?} is not a token"))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("the value of header {name:?} has a line break or control byte"))?;
    Ok((name_, value))
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path)
        .map_err(|error| format!("cannot read the {what} {}: {error}", path.display()))
}

/// Every certificate in a PEM file; at least one.
fn read_certificates(path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let pem = read_file(path, "certificate file")?;
    let mut certificates = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(certificate)) => certificates.push(certificate),
            Ok(_) => {}
            Err(error) => return Err(format!("{}: {error}", path.display())),
        }
    }
    if certificates.is_empty() {
        return Err(format!("no PEM certificate in {}", path.display()));
    }
    Ok(certificates)
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(value: Option<&HeaderValue>) -> Option<Duration> {
    let text = value?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = at.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// `": <start of body>"` for an error message, when the body is text.
fn detail(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() || text.contains('\0') {
        String::new()
    } else {
        format!(": {}", text.chars().take(200).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert_eq!(
            check_url("https://collector.example:4318/v1/traces").unwrap(),
            "https://collector.example:4318/v1/traces"
        );
        assert!(check_url("http://[::1]:4318/v1/traces").is_ok());
        for bad in [
            "localhost:6006",
            "ftp://x/v1/traces",
            "http://",
            "http://u:p@x/v1/traces",
            "http://x:99999/v1/traces",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_show_no_credentials_or_query() {
        assert_eq!(
            redacted("https://user:secret@host:443/v1/traces?token=abc"),
            "https://host:443/v1/traces?[REDACTED]"
        );
        assert_eq!(redacted("http://host/v1/traces"), "http://host/v1/traces");
        let error = check_header("Authorization: Basic cGs6c2s=", "").unwrap_err();
        assert!(!error.contains("cGs6"), "{error}");
    }

    #[test]
    fn headers_are_checked() {
        assert!(check_header("api_key", "x").is_ok());
        assert!(check_header("bad name", "x").is_err());
        assert!(check_header("x", "a\r\nInjected: 1").is_err());
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let value = |text: &str| HeaderValue::from_str(text).unwrap();
        assert_eq!(retry_after(Some(&value("3"))), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after(Some(&value("Sun, 06 Nov 1994 08:49:37 GMT"))),
            Some(Duration::ZERO)
        );
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        let wait = retry_after(Some(&value(&soon))).unwrap();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30));
        assert_eq!(retry_after(Some(&value("soon"))), None);
        assert_eq!(retry_after(None), None);
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read as _;
        let body = b"spans spans spans spans".repeat(100);
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(gzip(&body).as_slice())
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, body);
    }
}
