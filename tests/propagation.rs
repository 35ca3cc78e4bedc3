//! Capturing a span's context and restoring it elsewhere; malformed input is an error, never a panic.

mod common;

use common::recorder_on;
use instrument::{
    PropagationError, Tags, capture_propagation_context, current_span, current_tags,
    get_dispatcher, instrument_tags, restore_propagation_context, with_propagation_context,
};
use serde_json::json;

#[test]
fn captured_context_makes_spans_elsewhere_children_of_the_captured_span() {
    let d = get_dispatcher("propagation::restore");
    let recorder = recorder_on(d);

    assert_eq!(
        capture_propagation_context().to_json(),
        json!({}),
        "no span, no tags: an empty map"
    );

    let (parent, carried) = instrument_tags(Tags::from([("request", "r1")]), || {
        let mut guard = d.enter_span("sender", &[]);
        let captured = guard.in_scope(|| capture_propagation_context().to_json());
        (guard.id().unwrap(), captured)
    });
    assert_eq!(carried["span_id"], json!(parent.to_string()));
    assert_eq!(carried["tags"], json!({"request": "r1"}));

    // As if in another process: only the JSON crosses.
    let text = carried.to_string();
    std::thread::spawn(move || {
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        with_propagation_context(&value, || {
            assert_eq!(current_tags().get("request"), Some(&json!("r1")));
            d.in_span("receiver", || ());
        })
        .unwrap();
        let _guard = restore_propagation_context(&value).unwrap();
        d.in_span("receiver_guard", || ());
    })
    .join()
    .unwrap();

    assert_eq!(recorder.one("receiver").parent, Some(parent));
    assert_eq!(recorder.one("receiver_guard").parent, Some(parent));
    assert_eq!(
        recorder.one("receiver").tags.get("request"),
        Some(&json!("r1"))
    );
}

#[test]
fn tags_key_only_when_tags_are_present() {
    let d = get_dispatcher("propagation::keys");
    let mut guard = d.enter_span("only_span", &[]);
    let _ = recorder_on(d);
    let captured = guard.in_scope(|| capture_propagation_context().to_json());
    assert!(captured.get("tags").is_none());
}

#[test]
fn malformed_contexts_are_errors_and_change_nothing() {
    let bad = [
        json!(null),
        json!("span"),
        json!([1, 2]),
        json!({"span_id": 7}),
        json!({"span_id": "no-uuid-here"}),
        json!({"span_id": "name-00000000-0000-0000-0000-000000000000"}),
        json!({"span_id": "-3fa85f64-5717-4562-b3fc-2c963f66afa6"}),
        json!({"span_id": "x-3fa85f64-5717-4562-b3fc-2c963f66afaZ"}),
        json!({"span_id": "é-3fa85f64-5717-4562-b3fc-2c963f66af"}),
        json!({"tags": "not-a-map"}),
        json!({"tags": [1]}),
    ];
    for value in &bad {
        let before = current_span().id();
        let error = with_propagation_context(value, || panic!("must not run")).unwrap_err();
        assert!(!error.to_string().is_empty());
        assert!(restore_propagation_context(value).is_err(), "{value}");
        assert_eq!(current_span().id(), before);
    }
    assert!(matches!(
        with_propagation_context(&json!({"tags": 1}), || ()),
        Err(PropagationError::BadTags(_))
    ));
    // Unknown keys and a null span are fine.
    assert!(with_propagation_context(&json!({"span_id": null, "other": 1}), || ()).is_ok());
}

#[test]
fn a_w3c_trace_travels_in_the_json_context() {
    let d = get_dispatcher("propagation::w3c_trace");
    let _recorder = recorder_on(d);
    let upstream = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let remote = instrument::extract_traceparent(upstream, Some("vendor=abc")).unwrap();
    let carried = remote.scope(|| d.in_span("handle", || capture_propagation_context().to_json()));
    let header = carried["traceparent"].as_str().unwrap();
    assert!(
        header.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{header}"
    );
    assert_eq!(carried["tracestate"], json!("vendor=abc"));

    // On the other side the context continues the trace, and passes it on.
    let (trace, again) = with_propagation_context(&carried, || {
        (
            instrument::Context::current_trace_id(),
            capture_propagation_context().to_json(),
        )
    })
    .unwrap();
    assert_eq!(
        trace.map(|t| t.iter().map(|b| format!("{b:02x}")).collect::<String>()),
        Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned())
    );
    assert_eq!(again["traceparent"], carried["traceparent"]);

    // A local trace is named by its root, however deep the capture.
    let mut root = d.enter_span("root", &[]);
    let root_id = root.id().unwrap();
    let local = root.in_scope(|| d.in_span("child", || capture_propagation_context().to_json()));
    root.exit(None);
    let root_trace = root_id.uuid().simple().to_string();
    let header = local["traceparent"].as_str().unwrap();
    assert_eq!(&header[3..35], root_trace, "{header}");
    assert!(local.get("tracestate").is_none(), "{local}");

    for bad in [
        json!({"traceparent": "00-zz"}),
        json!({"traceparent": 7}),
        json!({"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}),
        json!({"tracestate": ["x"]}),
    ] {
        assert!(
            matches!(
                with_propagation_context(&bad, || ()),
                Err(PropagationError::BadTraceParent(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn a_tracestate_with_a_line_break_is_never_sent_on() {
    let d = get_dispatcher("propagation::tracestate_injection");
    let _recorder = recorder_on(d);
    let carried = json!({
        "span_id": "caller-3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "tracestate": "a=b\r\nX-Injected: 1",
    });
    let (_, state) = with_propagation_context(&carried, || {
        d.in_span("call", || {
            instrument::inject_traceparent(&instrument::Context::current()).unwrap()
        })
    })
    .unwrap();
    assert!(state.is_none_or(|state| !state.contains('\n') && !state.contains('\r')));
}
