//! `OtlpConfig::from_env`: the exporter configured by the `OTEL_*` variables every OpenTelemetry
//! SDK reads, with the precedence the specification gives.

use std::time::Duration;

use super::config::{Compression, DEFAULT_ENDPOINT, OtlpConfig};
use super::error::OtlpError;

impl OtlpConfig {
    /// The configuration the OpenTelemetry environment variables describe, on top of the defaults:
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | the URL spans are posted to, used as it is |
    /// | `OTEL_EXPORTER_OTLP_ENDPOINT` | a base URL; `/v1/traces` is added (default `http://localhost:4318`) |
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS` | `name=value,name2=value2`, values percent-decoded |
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT` | milliseconds per request (default 10000) |
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION` | `gzip` or `none` |
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE` | a PEM file of the CA certificates to trust |
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_CERTIFICATE` / `_CLIENT_KEY` | PEM files for mutual TLS |
    /// | `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` | must be `http/protobuf` (the only one spoken) |
    /// | `OTEL_SERVICE_NAME` | `service.name`; wins over one in `OTEL_RESOURCE_ATTRIBUTES` |
    /// | `OTEL_RESOURCE_ATTRIBUTES` | `key=value,key2=value2`, values percent-decoded |
    /// | `OTEL_SDK_DISABLED` | `true` turns export off ([`OtlpConfig::is_disabled`]) |
    ///
    /// A `TRACES_` variable wins over its general form. Empty variables count as unset. Methods
    /// called on the result override what the environment said.
    ///
    /// # Errors
    /// [`OtlpError::Env`], naming the variable and its value, for a value that cannot be read: a
    /// timeout that is not a number, a compression other than `gzip`/`none`, a protocol other than
    /// `http/protobuf`, a header or attribute without `=`, a bad percent escape, a boolean other
    /// than `true`/`false`.
    pub fn from_env() -> Result<Self, OtlpError> {
        Self::from_env_vars(|name| std::env::var(name).ok())
    }

    /// As [`OtlpConfig::from_env`], reading the variables through `var` instead of the process
    /// environment (for tests, or settings kept elsewhere).
    ///
    /// ```
    /// use instrument::handlers::export::otlp::OtlpConfig;
    ///
    /// let vars = [
    ///     ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector.example:4318"),
    ///     ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20abc"),
    ///     ("OTEL_SERVICE_NAME", "rag-server"),
    /// ];
    /// let var = |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string());
    /// let config = OtlpConfig::from_env_vars(var)?;
    /// assert_eq!(config.url(), "https://collector.example:4318/v1/traces");
    /// # Ok::<(), instrument::handlers::export::otlp::OtlpError>(())
    /// ```
    ///
    /// # Errors
    /// As [`OtlpConfig::from_env`].
    pub fn from_env_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, OtlpError> {
        let set = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        let config = match (
            set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
            set("OTEL_EXPORTER_OTLP_ENDPOINT"),
        ) {
            (Some(url), _) => OtlpConfig::new(DEFAULT_ENDPOINT).traces_endpoint(url.trim()),
            // The general endpoint always gets the signal's path, as the specification says.
            (None, Some(base)) => OtlpConfig::new(DEFAULT_ENDPOINT)
                .traces_endpoint(format!("{}/v1/traces", base.trim().trim_end_matches('/'))),
            (None, None) => OtlpConfig::new(DEFAULT_ENDPOINT),
        };
        config.apply_env(var)
    }

    /// Every `OTEL_*` variable of [`OtlpConfig::from_env`] but the endpoints, applied to `self`.
    pub(crate) fn apply_env(self, var: impl Fn(&str) -> Option<String>) -> Result<Self, OtlpError> {
        let var = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        // The trace-specific form of a variable wins over the general one.
        let either = |suffix: &str| {
            let traces = format!("OTEL_EXPORTER_OTLP_TRACES_{suffix}");
            let general = format!("OTEL_EXPORTER_OTLP_{suffix}");
            var(&traces)
                .map(|value| (traces, value))
                .or_else(|| var(&general).map(|value| (general, value)))
        };
        let mut config = self;

        if let Some((name, value)) = either("PROTOCOL")
            && value.trim() != "http/protobuf"
        {
            return Err(bad(&name, &value, "only http/protobuf is supported"));
        }
        if let Some((name, value)) = either("HEADERS") {
            // Header values are credentials: a bad entry is reported by its position, and the
            // variable's value is not repeated in the error.
            let pairs = pairs(&name, &value).map_err(|error| match error {
                OtlpError::Env {
                    variable, reason, ..
                } => OtlpError::Env {
                    variable,
                    value: "[REDACTED]".to_owned(),
                    reason,
                },
                other => other,
            })?;
            for (key, header) in pairs {
                config = config.header(key, header);
            }
        }
        if let Some((name, value)) = either("TIMEOUT") {
            let millis: u64 = value
                .trim()
                .parse()
                .map_err(|_| bad(&name, &value, "it is not a whole number of milliseconds"))?;
            config = config.timeout(Duration::from_millis(millis));
        }
        if let Some((name, value)) = either("COMPRESSION") {
            config = config.compression(match value.trim().to_ascii_lowercase().as_str() {
                "gzip" => Compression::Gzip,
                "none" => Compression::None,
                _ => return Err(bad(&name, &value, "it is neither gzip nor none")),
            });
        }
        if let Some((_, path)) = either("CERTIFICATE") {
            config = config.ca_certificate(path.trim());
        }
        match (either("CLIENT_CERTIFICATE"), either("CLIENT_KEY")) {
            (Some((_, cert)), Some((_, key))) => {
                config = config.client_certificate(cert.trim(), key.trim());
            }
            (Some((name, value)), None) | (None, Some((name, value))) => {
                return Err(bad(
                    &name,
                    &value,
                    "a client certificate needs both OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE \
                     and OTEL_EXPORTER_OTLP_CLIENT_KEY",
                ));
            }
            (None, None) => {}
        }

        if let Some(value) = var("OTEL_RESOURCE_ATTRIBUTES") {
            for (key, attribute) in pairs("OTEL_RESOURCE_ATTRIBUTES", &value)? {
                config = config.resource_attribute(key, attribute);
            }
        }
        if let Some(name) = var("OTEL_SERVICE_NAME") {
            config = config.service_name(name.trim());
        }
        if let Some(value) = var("OTEL_SDK_DISABLED") {
            config.disabled = match value.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(bad(
                        "OTEL_SDK_DISABLED",
                        &value,
                        "it is neither true nor false",
                    ));
                }
            };
        }
        Ok(config)
    }
}

fn bad(variable: &str, value: &str, reason: &str) -> OtlpError {
    OtlpError::Env {
        variable: variable.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

/// `key=value,key2=value2` with percent-decoded keys and values; blank entries are skipped.
/// Errors name the entry by its position and, when the entry has one, its key: never a value.
fn pairs(variable: &str, text: &str) -> Result<Vec<(String, String)>, OtlpError> {
    text.split(',')
        .filter(|entry| !entry.trim().is_empty())
        .enumerate()
        .map(|(index, entry)| {
            let place = index + 1;
            let (key, value) = entry
                .split_once('=')
                .ok_or_else(|| bad(variable, text, &format!("entry {place} has no `=`")))?;
            let key = percent_decode(key.trim()).ok_or_else(|| {
                bad(
                    variable,
                    text,
                    &format!("the name of entry {place} has a bad % escape"),
                )
            })?;
            if key.is_empty() {
                return Err(bad(
                    variable,
                    text,
                    &format!("entry {place} has an empty name"),
                ));
            }
            let value = percent_decode(value.trim()).ok_or_else(|| {
                bad(
                    variable,
                    text,
                    &format!("the value of {key:?} has a bad % escape"),
                )
            })?;
            Ok((key, value))
        })
        .collect()
}

/// `%XX` escapes decoded; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<OtlpConfig, OtlpError> {
        OtlpConfig::from_env_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn nothing_set_means_the_local_collector() {
        let config = from(&[]).unwrap();
        assert_eq!(config.url(), "http://localhost:4318/v1/traces");
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert!(!config.is_disabled());
    }

    #[test]
    fn the_traces_endpoint_wins_and_is_used_as_it_is() {
        let config = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://traces:443/custom",
            ),
        ])
        .unwrap();
        assert_eq!(config.url(), "https://traces:443/custom");
        let config = from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318/")]).unwrap();
        assert_eq!(config.url(), "http://general:4318/v1/traces");
    }

    #[test]
    fn every_variable_is_read() {
        let config = from(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1, b = two%20words ,"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "c=3"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "GZIP"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=from-attrs,deployment.environment=prod,team=r%26d",
            ),
            ("OTEL_SERVICE_NAME", "from-name"),
            ("OTEL_SDK_DISABLED", "TRUE"),
        ])
        .unwrap();
        // The traces headers replace the general ones as a whole.
        assert_eq!(config.headers, [("c".into(), "3".into())]);
        assert_eq!(config.timeout, Duration::from_millis(2500));
        assert_eq!(config.compression, Compression::Gzip);
        assert_eq!(config.ca_file.as_deref(), Some("/etc/ca.pem".as_ref()));
        assert_eq!(config.service_name, "from-name");
        assert_eq!(
            config.resource,
            [
                ("deployment.environment".into(), "prod".into()),
                ("team".into(), "r&d".into())
            ]
        );
        assert!(config.is_disabled());

        let config = from(&[("OTEL_EXPORTER_OTLP_HEADERS", "a=1, b = two%20words ,")]).unwrap();
        assert_eq!(
            config.headers,
            [("a".into(), "1".into()), ("b".into(), "two words".into())]
        );
        let config = from(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=svc")]).unwrap();
        assert_eq!(config.service_name, "svc");
    }

    #[test]
    fn a_bad_header_entry_does_not_reveal_the_credentials() {
        let error = from(&[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20sk-secret-1,api_key%zz=sk-secret-2",
        )])
        .unwrap_err()
        .to_string();
        assert!(error.contains("entry 2"), "{error}");
        assert!(!error.contains("sk-secret"), "{error}");
    }

    #[test]
    fn bad_values_are_errors_that_name_the_variable() {
        for (variable, value) in [
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "-1"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "=x"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=%zz"),
            ("OTEL_RESOURCE_ATTRIBUTES", "a=%e2%28"),
            ("OTEL_SDK_DISABLED", "yes"),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/k.pem"),
        ] {
            // Headers carry credentials: their value is not repeated.
            let shown = if variable.ends_with("HEADERS") {
                "[REDACTED]"
            } else {
                value
            };
            match from(&[(variable, value)]) {
                Err(OtlpError::Env {
                    variable: v,
                    value: got,
                    ..
                }) => {
                    assert_eq!((v.as_str(), got.as_str()), (variable, shown));
                    let text = from(&[(variable, value)]).unwrap_err().to_string();
                    assert!(text.contains(variable) && text.contains(shown), "{text}");
                }
                other => panic!("{variable}={value}: {other:?}"),
            }
        }
    }
}
