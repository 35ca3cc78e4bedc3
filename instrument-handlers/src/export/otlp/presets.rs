//! Presets for the backends LlamaIndex users pick: each sets the URL, headers and resource
//! attributes that backend documents, and [`OtlpConfig::detect`] picks one from the variables the
//! backend's own SDKs read.
//!
//! Each backend's contract as its documentation gives it (read in December 2026):
//!
//! - Arize Phoenix: OTLP/HTTP protobuf at `{base}/v1/traces` (local `http://localhost:6006`; Cloud
//!   `https://app.phoenix.arize.com/s/<space>`), the project from the resource attribute
//!   `openinference.project.name`, the key as `authorization: Bearer <key>` and, for Cloud spaces
//!   made before 24 June 2025, also as `api_key`
//!   (<https://arize.com/docs/phoenix/tracing/llm-traces-1/quickstart-tracing-python>).
//! - Langfuse: `{host}/api/public/otel/v1/traces`, `authorization: Basic base64(public:secret)`, and
//!   `x-langfuse-ingestion-version: 4` so spans show at once; self-hosted needs Langfuse 3.22 or
//!   later (<https://langfuse.com/integrations/native/opentelemetry>).
//! - W&B Weave: `https://trace.wandb.ai/otel/v1/traces` (dedicated: `https://<host>/traces/otel`),
//!   the key in `wandb-api-key`, the project from the resource attributes `wandb.entity` and
//!   `wandb.project` (<https://weave-docs.wandb.ai/guides/tracking/otel>). This is what stands
//!   for LlamaIndex's `WandbCallbackHandler`.
//! - MLflow 3.6 or later with a SQL backend store: `{tracking_uri}/v1/traces` with the experiment in
//!   `x-mlflow-experiment-id` (<https://mlflow.org/docs/latest/genai/tracing/opentelemetry/ingest>).
//! - An OpenTelemetry Collector or Jaeger: `http://localhost:4318/v1/traces`, nothing else
//!   (<https://opentelemetry.io/docs/specs/otlp/#otlphttp>).

use base64::Engine as _;

use super::config::OtlpConfig;
use super::error::OtlpError;

/// Phoenix Cloud's host; a space's URL is `{PHOENIX_CLOUD}/s/<space>`.
pub const PHOENIX_CLOUD: &str = "https://app.phoenix.arize.com";
/// Langfuse Cloud's EU host (`https://us.cloud.langfuse.com` for the US region).
pub const LANGFUSE_CLOUD: &str = "https://cloud.langfuse.com";
/// W&B Weave's hosted trace server.
pub const WEAVE_CLOUD: &str = "https://trace.wandb.ai";

impl OtlpConfig {
    /// A Phoenix at `base` (`http://localhost:6006` for a local one), spans filed under the
    /// project `project`.
    ///
    /// ```
    /// use instrument::handlers::export::otlp::OtlpConfig;
    ///
    /// let config = OtlpConfig::phoenix("http://localhost:6006", "rag");
    /// assert_eq!(config.url(), "http://localhost:6006/v1/traces");
    /// ```
    #[must_use]
    pub fn phoenix(base: &str, project: &str) -> Self {
        OtlpConfig::new(base).project_name(project)
    }

    /// A Phoenix Cloud space (`https://app.phoenix.arize.com/s/<space>`, see [`PHOENIX_CLOUD`]) or
    /// any Phoenix that asks for an API key: the key goes as a bearer token and, for spaces made
    /// before 24 June 2025, as `api_key` too.
    #[must_use]
    pub fn phoenix_cloud(space_url: &str, api_key: &str, project: &str) -> Self {
        Self::phoenix(space_url, project)
            .header("authorization", format!("Bearer {api_key}"))
            .header("api_key", api_key)
    }

    /// Langfuse at `host` ([`LANGFUSE_CLOUD`], `https://us.cloud.langfuse.com`, or a self-hosted
    /// `http://localhost:3000`), authenticated with a project's public and secret keys.
    ///
    /// ```
    /// use instrument::handlers::export::otlp::{LANGFUSE_CLOUD, OtlpConfig};
    ///
    /// let config = OtlpConfig::langfuse(LANGFUSE_CLOUD, "pk-lf-1", "sk-lf-2");
    /// assert_eq!(config.url(), "https://cloud.langfuse.com/api/public/otel/v1/traces");
    /// ```
    #[must_use]
    pub fn langfuse(host: &str, public_key: &str, secret_key: &str) -> Self {
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{public_key}:{secret_key}"));
        OtlpConfig::new(format!("{}/api/public/otel", host.trim_end_matches('/')))
            .header("authorization", format!("Basic {credentials}"))
            .header("x-langfuse-ingestion-version", "4")
    }

    /// W&B Weave's hosted trace server, spans filed under `entity/project`. For a dedicated or
    /// self-managed W&B, follow with `.traces_endpoint("https://<host>/traces/otel/v1/traces")`.
    #[must_use]
    pub fn weave(entity: &str, project: &str, api_key: &str) -> Self {
        OtlpConfig::new(format!("{WEAVE_CLOUD}/otel"))
            .header("wandb-api-key", api_key)
            .resource_attribute("wandb.entity", entity)
            .resource_attribute("wandb.project", project)
    }

    /// An MLflow tracking server (3.6 or later, with a SQL backend store) at `tracking_uri`, spans
    /// filed as traces of experiment `experiment_id`.
    ///
    /// ```
    /// use instrument::handlers::export::otlp::OtlpConfig;
    ///
    /// let config = OtlpConfig::mlflow("http://127.0.0.1:5000", "1");
    /// assert_eq!(config.url(), "http://127.0.0.1:5000/v1/traces");
    /// ```
    #[must_use]
    pub fn mlflow(tracking_uri: &str, experiment_id: &str) -> Self {
        OtlpConfig::new(tracking_uri).header("x-mlflow-experiment-id", experiment_id)
    }

    /// An OpenTelemetry Collector, Jaeger or any plain OTLP/HTTP receiver at `base`
    /// ([`super::DEFAULT_ENDPOINT`] for one on this machine).
    #[must_use]
    pub fn collector(base: &str) -> Self {
        OtlpConfig::new(base)
    }

    /// The configuration the environment asks for, or `None` when it names no backend. The first
    /// of these that is set decides, then the other `OTEL_*` variables ([`OtlpConfig::from_env`])
    /// apply on top (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, headers, compression, ...):
    ///
    /// 1. `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`: any OTLP receiver;
    /// 2. `PHOENIX_COLLECTOR_ENDPOINT` (with `PHOENIX_API_KEY`, `PHOENIX_PROJECT_NAME`): Phoenix;
    /// 3. `LANGFUSE_PUBLIC_KEY` and `LANGFUSE_SECRET_KEY` (with `LANGFUSE_BASE_URL` or
    ///    `LANGFUSE_HOST`, default [`LANGFUSE_CLOUD`]): Langfuse;
    /// 4. `WANDB_API_KEY` with `WANDB_ENTITY` and `WANDB_PROJECT` (and `WF_TRACE_SERVER_URL` for
    ///    a dedicated server): W&B Weave;
    /// 5. `MLFLOW_TRACKING_URI` with `MLFLOW_EXPERIMENT_ID`: MLflow.
    ///
    /// `None` too when `OTEL_SDK_DISABLED=true`.
    ///
    /// # Errors
    /// As [`OtlpConfig::from_env`]; and [`OtlpError::Env`] when a backend's variables are only
    /// half there (a public key without its secret key, say).
    pub fn detect() -> Result<Option<Self>, OtlpError> {
        Self::detect_vars(|name| std::env::var(name).ok())
    }

    /// As [`OtlpConfig::detect`], reading the variables through `var`.
    ///
    /// # Errors
    /// As [`OtlpConfig::detect`].
    pub fn detect_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, OtlpError> {
        let var = |name: &str| var(name).filter(|value| !value.trim().is_empty());
        let needs = |name: &str, with: &str| {
            var(name).ok_or_else(|| OtlpError::Env {
                variable: name.to_owned(),
                value: String::new(),
                reason: format!("{with} is set, so this is needed too"),
            })
        };
        let preset = if var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
            || var("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
        {
            let config = Self::from_env_vars(var)?;
            return Ok((!config.is_disabled()).then_some(config));
        } else if let Some(base) = var("PHOENIX_COLLECTOR_ENDPOINT") {
            let project = var("PHOENIX_PROJECT_NAME")
                .or_else(|| var("PHOENIX_PROJECT"))
                .unwrap_or_else(|| super::config::DEFAULT_PROJECT_NAME.to_owned());
            match var("PHOENIX_API_KEY") {
                Some(key) => Self::phoenix_cloud(&base, &key, &project),
                None => Self::phoenix(&base, &project),
            }
        } else if let Some(public) = var("LANGFUSE_PUBLIC_KEY") {
            let secret = needs("LANGFUSE_SECRET_KEY", "LANGFUSE_PUBLIC_KEY")?;
            let host = var("LANGFUSE_BASE_URL")
                .or_else(|| var("LANGFUSE_HOST"))
                .unwrap_or_else(|| LANGFUSE_CLOUD.to_owned());
            Self::langfuse(&host, &public, &secret)
        } else if let Some(key) = var("WANDB_API_KEY") {
            let entity = needs("WANDB_ENTITY", "WANDB_API_KEY")?;
            let project = needs("WANDB_PROJECT", "WANDB_API_KEY")?;
            let config = Self::weave(&entity, &project, &key);
            match var("WF_TRACE_SERVER_URL") {
                Some(server) => config
                    .traces_endpoint(format!("{}/otel/v1/traces", server.trim_end_matches('/'))),
                None => config,
            }
        } else if let Some(uri) = var("MLFLOW_TRACKING_URI") {
            let experiment = needs("MLFLOW_EXPERIMENT_ID", "MLFLOW_TRACKING_URI")?;
            Self::mlflow(&uri, &experiment)
        } else {
            return Ok(None);
        };
        let config = preset.apply_env(var)?;
        Ok((!config.is_disabled()).then_some(config))
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::DEFAULT_ENDPOINT;
    use super::*;

    fn detect(vars: &[(&str, &str)]) -> Result<Option<OtlpConfig>, OtlpError> {
        OtlpConfig::detect_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn nothing_set_is_no_backend() {
        assert!(detect(&[]).unwrap().is_none());
        assert!(detect(&[("LANGFUSE_HOST", "http://x")]).unwrap().is_none());
    }

    #[test]
    fn the_otel_endpoint_wins_over_presets() {
        let config = detect(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("MLFLOW_TRACKING_URI", "http://mlflow:5000"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(config.url(), "http://collector:4318/v1/traces");
        assert!(config.headers.is_empty());
    }

    #[test]
    fn presets_from_their_variables_with_otel_variables_on_top() {
        let config = detect(&[
            ("LANGFUSE_PUBLIC_KEY", "pk"),
            ("LANGFUSE_SECRET_KEY", "sk"),
            ("LANGFUSE_BASE_URL", "http://localhost:3000/"),
            ("OTEL_SERVICE_NAME", "svc"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            config.url(),
            "http://localhost:3000/api/public/otel/v1/traces"
        );
        assert_eq!(
            config.headers[0],
            ("authorization".into(), "Basic cGs6c2s=".into())
        );
        assert_eq!(config.service_name, "svc");
        assert_eq!(config.compression, super::super::config::Compression::Gzip);

        let config = detect(&[
            ("WANDB_API_KEY", "k"),
            ("WANDB_ENTITY", "team"),
            ("WANDB_PROJECT", "rag"),
            ("WF_TRACE_SERVER_URL", "https://acme.wandb.io/traces"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(config.url(), "https://acme.wandb.io/traces/otel/v1/traces");

        let config = detect(&[("PHOENIX_COLLECTOR_ENDPOINT", "http://localhost:6006")])
            .unwrap()
            .unwrap();
        assert_eq!(config.project_name, "default");
        assert!(config.headers.is_empty());
    }

    #[test]
    fn a_disabled_sdk_detects_no_backend() {
        for vars in [
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_SDK_DISABLED", "true"),
            ][..],
            &[
                ("MLFLOW_TRACKING_URI", "http://m"),
                ("MLFLOW_EXPERIMENT_ID", "1"),
                ("OTEL_SDK_DISABLED", "TRUE"),
            ][..],
        ] {
            assert!(detect(vars).unwrap().is_none(), "{vars:?}");
        }
    }

    #[test]
    fn half_a_backend_is_an_error_naming_what_is_missing() {
        for (vars, missing) in [
            (&[("LANGFUSE_PUBLIC_KEY", "pk")][..], "LANGFUSE_SECRET_KEY"),
            (&[("WANDB_API_KEY", "k")][..], "WANDB_ENTITY"),
            (
                &[("WANDB_API_KEY", "k"), ("WANDB_ENTITY", "e")][..],
                "WANDB_PROJECT",
            ),
            (
                &[("MLFLOW_TRACKING_URI", "http://m")][..],
                "MLFLOW_EXPERIMENT_ID",
            ),
        ] {
            match detect(vars) {
                Err(OtlpError::Env { variable, .. }) => assert_eq!(variable, missing),
                other => panic!("{vars:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_collector_preset_is_the_default_endpoint() {
        assert_eq!(
            OtlpConfig::collector(DEFAULT_ENDPOINT).url(),
            "http://localhost:4318/v1/traces"
        );
    }
}
