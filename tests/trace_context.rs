//! One trace id per trace, fixed when the root starts: every descendant, on any thread or task,
//! and every `traceparent` or JSON context injected inside it, names the root's trace; an
//! extracted context continues the remote trace, flags and state included.

mod common;

use common::recorder_on;
use instrument::{
    Context, FutureExt, TraceParent, capture_propagation_context, extract_traceparent,
    get_dispatcher, inject_traceparent, with_propagation_context,
};

fn header_trace(header: &str) -> [u8; 16] {
    TraceParent::parse(header).unwrap().trace_id
}

#[test]
fn every_descendant_and_every_header_names_the_roots_trace() {
    let d = get_dispatcher("tests::trace_context::descendants");
    let recorder = recorder_on(d);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();

    let headers = d.in_span("handle", || {
        let mut headers = vec![d.in_span("call", || {
            d.in_span("deeper", || {
                inject_traceparent(&Context::current()).unwrap().0
            })
        })];
        // A thread, a task on another worker, a future first polled elsewhere, and JSON.
        headers.push(
            instrument::thread::spawn(move || {
                d.in_span("on_thread", || {
                    inject_traceparent(&Context::current()).unwrap().0
                })
            })
            .join()
            .unwrap(),
        );
        let task = async move {
            tokio::task::yield_now().await;
            d.in_span("in_task", || {
                inject_traceparent(&Context::current()).unwrap().0
            })
        };
        headers.push(
            runtime
                .block_on(runtime.spawn(task.in_current_span()))
                .unwrap(),
        );
        let carried = capture_propagation_context().to_json().to_string();
        headers.push(
            std::thread::spawn(move || {
                let value: serde_json::Value = serde_json::from_str(&carried).unwrap();
                with_propagation_context(&value, || {
                    d.in_span("from_json", || {
                        inject_traceparent(&Context::current()).unwrap().0
                    })
                })
                .unwrap()
            })
            .join()
            .unwrap(),
        );
        headers
    });

    let root = recorder.one("handle");
    let trace = root.id.uuid().into_bytes();
    for header in &headers {
        assert_eq!(header_trace(header), trace, "{header}");
    }
    let spans = recorder.ended();
    assert_eq!(spans.len(), 6);
    for span in &spans {
        assert_eq!(span.trace_id, trace, "{}", span.name);
        assert_eq!(span.start_trace_id, trace, "{}", span.name);
    }
    // A second root starts a trace of its own.
    d.in_span("another", || ());
    let another = recorder.one("another");
    assert_eq!(another.trace_id, another.id.uuid().into_bytes());
    assert_ne!(another.trace_id, trace);
}

#[test]
fn an_extracted_context_continues_the_remote_trace() {
    let d = get_dispatcher("tests::trace_context::remote");
    let recorder = recorder_on(d);
    let upstream = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    let cx = extract_traceparent(upstream, Some("vendor=1")).unwrap();
    let (header, state) = cx.scope(|| {
        d.in_span("serve", || {
            d.in_span("lookup", || {
                inject_traceparent(&Context::current()).unwrap()
            })
        })
    });
    let serve = recorder.one("serve");
    let lookup = recorder.one("lookup");
    let remote_trace = header_trace(upstream);
    assert_eq!(serve.trace_id, remote_trace);
    assert_eq!(lookup.trace_id, remote_trace);
    assert_eq!(
        TraceParent::parent_id_for(&serve.parent.unwrap()),
        TraceParent::parse(upstream).unwrap().parent_id,
        "the first span's parent is the remote span"
    );
    // Passed on: the remote trace, `lookup` as parent, the caller's sampled flag and state.
    let sent = TraceParent::parse(&header).unwrap();
    assert_eq!(sent.trace_id, remote_trace);
    assert_eq!(sent.parent_id, TraceParent::parent_id_for(&lookup.id));
    assert!(!sent.sampled);
    assert_eq!(state.as_deref(), Some("vendor=1"));
}
