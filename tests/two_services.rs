//! `examples/two_services.rs` as two real processes on 127.0.0.1, exporting to an in-process OTLP
//! receiver: each query is one trace across both services, the retrieval service's root span is a
//! child of the query service's client span, and no span's parent is missing.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;
use otlp_receiver::{Answer, Receiver, string_attr};

/// The example's binary, which `cargo test` builds beside the tests.
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir
        .join("examples")
        .join(format!("two_services{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} is not built", path.display());
    path
}

/// A span as received: service, name, trace id, span id, parent span id.
type Received = (String, String, Vec<u8>, Vec<u8>, Vec<u8>);

#[test]
fn one_trace_per_query_across_two_processes() {
    let receiver = Receiver::start(Answer::OK);
    let output = std::process::Command::new(example())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url())
        .env_remove("OTEL_SERVICE_NAME")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("query-service: otlp exported 4 spans, dropped 0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("retrieval-service: otlp exported 6 spans, dropped 0"),
        "{stdout}"
    );

    let mut spans: Vec<Received> = Vec::new();
    for request in receiver.take() {
        for resource in &request.request.resource_spans {
            let service = string_attr(
                &resource.resource.as_ref().unwrap().attributes,
                "service.name",
            )
            .unwrap()
            .to_owned();
            for scope in &resource.scope_spans {
                for span in &scope.spans {
                    spans.push((
                        service.clone(),
                        span.name.clone(),
                        span.trace_id.clone(),
                        span.span_id.clone(),
                        span.parent_span_id.clone(),
                    ));
                }
            }
        }
    }
    assert_eq!(spans.len(), 10);
    let by_id: HashMap<&[u8], &Received> =
        spans.iter().map(|span| (span.3.as_slice(), span)).collect();
    assert_eq!(
        by_id.len(),
        10,
        "span ids are unique across the two processes"
    );

    let traces: BTreeSet<&[u8]> = spans.iter().map(|span| span.2.as_slice()).collect();
    assert_eq!(traces.len(), 2, "one trace per query");
    for trace in traces {
        let in_trace: Vec<_> = spans.iter().filter(|span| span.2 == trace).collect();
        let services: BTreeSet<&str> = in_trace.iter().map(|span| span.0.as_str()).collect();
        assert_eq!(
            services,
            BTreeSet::from(["query-service", "retrieval-service"])
        );
        for span in &in_trace {
            if span.4.is_empty() {
                assert_eq!(
                    span.1, "handle_query",
                    "the one root is the query service's"
                );
                continue;
            }
            // No orphan: the parent is a span of the same trace, whichever process made it.
            let parent = by_id
                .get(span.4.as_slice())
                .unwrap_or_else(|| panic!("{} has a parent that was not exported", span.1));
            assert_eq!(parent.2, span.2);
            if span.1 == "serve_retrieval" {
                assert_eq!(parent.1, "call_retrieval", "across the HTTP call");
                assert_eq!(parent.0, "query-service");
                assert_eq!(span.0, "retrieval-service");
            }
        }
    }
}
