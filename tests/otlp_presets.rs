//! Each backend preset sends what its backend documents: the path, the headers and the resource
//! attributes, checked on an in-process OTLP receiver; `OtlpConfig::detect` picks the preset
//! from the backend's own environment variables.

use std::time::Duration;

use instrument::get_dispatcher;
use instrument::handlers::export::otlp::{OtlpConfig, OtlpExporter};

#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;
use otlp_receiver::{Answer, Received, Receiver, resource, spans, string_attr};

/// Sends one span through `config` (pointed at `receiver`) and returns what arrived.
fn send_one(receiver: &Receiver, config: OtlpConfig, dispatcher: &str) -> Vec<Received> {
    let exporter: OtlpExporter = config.build().unwrap();
    let dispatcher = get_dispatcher(dispatcher);
    exporter.register(dispatcher);
    dispatcher.in_span("query", || ());
    exporter.shutdown(Duration::from_secs(5)).unwrap();
    let received = receiver.take();
    assert_eq!(spans(&received).len(), 1);
    received
}

fn resource_attr(received: &[Received], key: &str) -> Option<String> {
    string_attr(&resource(received), key).map(str::to_owned)
}

/// Variables looked up in `vars` alone.
fn vars<'a>(vars: &'a [(&'a str, String)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }
}

#[test]
fn phoenix_local_and_cloud() {
    let receiver = Receiver::start(Answer::OK);
    let received = send_one(
        &receiver,
        OtlpConfig::phoenix(&receiver.url(), "rag"),
        "tests::otlp_presets::phoenix_local",
    );
    assert_eq!(received[0].path, "/v1/traces");
    assert_eq!(received[0].header("authorization"), None);
    assert_eq!(
        resource_attr(&received, "openinference.project.name").as_deref(),
        Some("rag")
    );

    // A cloud space's URL has a path of its own: `/v1/traces` goes after it.
    let space = format!("{}/s/my-space", receiver.url());
    let received = send_one(
        &receiver,
        OtlpConfig::phoenix_cloud(&space, "px-key", "rag"),
        "tests::otlp_presets::phoenix_cloud",
    );
    assert_eq!(received[0].path, "/s/my-space/v1/traces");
    assert_eq!(received[0].header("authorization"), Some("Bearer px-key"));
    assert_eq!(received[0].header("api_key"), Some("px-key"));
    assert_eq!(
        received[0].header("content-type"),
        Some("application/x-protobuf")
    );
}

#[test]
fn langfuse() {
    let receiver = Receiver::start(Answer::OK);
    let received = send_one(
        &receiver,
        OtlpConfig::langfuse(&receiver.url(), "pk-lf-123", "sk-lf-456"),
        "tests::otlp_presets::langfuse",
    );
    assert_eq!(received[0].path, "/api/public/otel/v1/traces");
    // base64("pk-lf-123:sk-lf-456")
    assert_eq!(
        received[0].header("authorization"),
        Some("Basic cGstbGYtMTIzOnNrLWxmLTQ1Ng==")
    );
    assert_eq!(
        received[0].header("x-langfuse-ingestion-version"),
        Some("4")
    );
}

#[test]
fn weave() {
    let receiver = Receiver::start(Answer::OK);
    let config = OtlpConfig::weave("my-team", "rag", "wandb-key")
        .traces_endpoint(format!("{}/otel/v1/traces", receiver.url()));
    let received = send_one(&receiver, config, "tests::otlp_presets::weave");
    assert_eq!(received[0].path, "/otel/v1/traces");
    assert_eq!(received[0].header("wandb-api-key"), Some("wandb-key"));
    assert_eq!(
        resource_attr(&received, "wandb.entity").as_deref(),
        Some("my-team")
    );
    assert_eq!(
        resource_attr(&received, "wandb.project").as_deref(),
        Some("rag")
    );
    // The hosted server, when nothing redirects it.
    assert_eq!(
        OtlpConfig::weave("t", "p", "k").url(),
        "https://trace.wandb.ai/otel/v1/traces"
    );
}

#[test]
fn mlflow() {
    let receiver = Receiver::start(Answer::OK);
    let received = send_one(
        &receiver,
        OtlpConfig::mlflow(&receiver.url(), "17"),
        "tests::otlp_presets::mlflow",
    );
    assert_eq!(received[0].path, "/v1/traces");
    assert_eq!(received[0].header("x-mlflow-experiment-id"), Some("17"));
}

#[test]
fn collector() {
    let receiver = Receiver::start(Answer::OK);
    let received = send_one(
        &receiver,
        OtlpConfig::collector(&receiver.url()).service_name("rag-server"),
        "tests::otlp_presets::collector",
    );
    assert_eq!(received[0].path, "/v1/traces");
    assert_eq!(
        resource_attr(&received, "service.name").as_deref(),
        Some("rag-server")
    );
}

#[test]
fn detected_from_each_backends_variables() {
    let receiver = Receiver::start(Answer::OK);
    let url = receiver.url();
    // The backend, its variables, the path requests go to and one header they carry.
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, &'a str, (&'a str, &'a str));
    let cases: [Case; 5] = [
        (
            "otel",
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", url.clone()),
                ("OTEL_EXPORTER_OTLP_HEADERS", "x-team=r%26d".into()),
            ],
            "/v1/traces",
            ("x-team", "r&d"),
        ),
        (
            "phoenix",
            vec![
                ("PHOENIX_COLLECTOR_ENDPOINT", url.clone()),
                ("PHOENIX_API_KEY", "px".into()),
            ],
            "/v1/traces",
            ("authorization", "Bearer px"),
        ),
        (
            "langfuse",
            vec![
                ("LANGFUSE_PUBLIC_KEY", "pk".into()),
                ("LANGFUSE_SECRET_KEY", "sk".into()),
                ("LANGFUSE_HOST", url.clone()),
            ],
            "/api/public/otel/v1/traces",
            ("authorization", "Basic cGs6c2s="),
        ),
        (
            "weave",
            vec![
                ("WANDB_API_KEY", "wk".into()),
                ("WANDB_ENTITY", "team".into()),
                ("WANDB_PROJECT", "rag".into()),
                ("WF_TRACE_SERVER_URL", url.clone()),
            ],
            "/otel/v1/traces",
            ("wandb-api-key", "wk"),
        ),
        (
            "mlflow",
            vec![
                ("MLFLOW_TRACKING_URI", url.clone()),
                ("MLFLOW_EXPERIMENT_ID", "3".into()),
                ("OTEL_SERVICE_NAME", "rag-mlflow".into()),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "deployment.environment=test".into(),
                ),
            ],
            "/v1/traces",
            ("x-mlflow-experiment-id", "3"),
        ),
    ];
    for (backend, variables, path, (header, value)) in cases {
        let config = OtlpConfig::detect_vars(vars(&variables))
            .unwrap()
            .unwrap_or_else(|| panic!("{backend}: no backend detected"));
        let dispatcher = format!("tests::otlp_presets::detected::{backend}");
        let received = send_one(&receiver, config, &dispatcher);
        assert_eq!(received[0].path, path, "{backend}");
        assert_eq!(received[0].header(header), Some(value), "{backend}");
        if backend == "mlflow" {
            assert_eq!(
                resource_attr(&received, "service.name").as_deref(),
                Some("rag-mlflow")
            );
            assert_eq!(
                resource_attr(&received, "deployment.environment").as_deref(),
                Some("test")
            );
        }
    }
}
