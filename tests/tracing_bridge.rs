//! The bridge to the `tracing` crate, both ways: `tracing` spans and events as instrument ones
//! (`InstrumentLayer`), instrument spans and events as `tracing` ones (`TracingForwarder`), and
//! both at once without a loop.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::{Seen, recorder_on};
use instrument::handlers::tracing_bridge::{FORWARD_TARGET, InstrumentLayer, TracingForwarder};
use instrument::{Arg, current_span, get_dispatcher};
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

fn bridged<R>(f: impl FnOnce() -> R) -> R {
    tracing::subscriber::with_default(Registry::default().with(InstrumentLayer::new()), f)
}

fn arg<'a>(span: &'a Seen, name: &str) -> Option<&'a serde_json::Value> {
    span.args.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

#[test]
fn tracing_spans_become_instrument_spans_with_fields_as_args() {
    let recorder = recorder_on(get_dispatcher("bridge_fields"));
    bridged(|| {
        let outer =
            tracing::info_span!(target: "bridge_fields", "outer", user = "ada", n = 3, ok = true);
        outer.in_scope(|| {
            let url = "/search";
            tracing::debug_span!(target: "bridge_fields", "inner", %url, ratio = 0.5)
                .in_scope(|| ());
        });
    });
    let outer = recorder.one("outer");
    let inner = recorder.one("inner");
    assert_eq!(outer.parent, None);
    assert_eq!(inner.parent, Some(outer.id));
    assert_eq!(arg(&outer, "user"), Some(&json!("ada")));
    assert_eq!(arg(&outer, "n"), Some(&json!(3)));
    assert_eq!(arg(&outer, "ok"), Some(&json!(true)));
    assert_eq!(arg(&inner, "url"), Some(&json!("/search")));
    assert_eq!(arg(&inner, "ratio"), Some(&json!(0.5)));
    assert!(outer.exited && inner.exited);
    assert_eq!(outer.result, None);
}

#[test]
fn spans_nest_both_ways() {
    let d = get_dispatcher("bridge_nest");
    let recorder = recorder_on(d);
    bridged(|| {
        d.in_span("pipeline", || {
            let http = tracing::info_span!(target: "bridge_nest::http", "GET");
            http.in_scope(|| {
                d.in_span("parse", || {
                    tracing::info_span!(target: "bridge_nest::json", "decode").in_scope(|| ());
                });
            });
            // Leaving the `tracing` span restores the instrument span around it.
            d.in_span("after", || ());
        });
    });
    let pipeline = recorder.one("pipeline");
    let get = recorder.one("GET");
    let parse = recorder.one("parse");
    let decode = recorder.one("decode");
    let after = recorder.one("after");
    assert_eq!(get.parent, Some(pipeline.id));
    assert_eq!(parse.parent, Some(get.id));
    assert_eq!(decode.parent, Some(parse.id));
    assert_eq!(after.parent, Some(pipeline.id));
}

#[test]
fn explicit_parents_are_followed() {
    let d = get_dispatcher("bridge_explicit");
    let recorder = recorder_on(d);
    bridged(|| {
        let request = tracing::info_span!(target: "bridge_explicit", "request");
        d.in_span("elsewhere", || {
            tracing::info_span!(target: "bridge_explicit", parent: &request, "child")
                .in_scope(|| ());
            tracing::info_span!(target: "bridge_explicit", parent: None, "orphan").in_scope(|| ());
        });
    });
    let request = recorder.one("request");
    assert_eq!(recorder.one("child").parent, Some(request.id));
    assert_eq!(recorder.one("orphan").parent, None);
}

#[test]
fn exits_out_of_order_restore_the_right_span() {
    let d = get_dispatcher("bridge_order");
    let recorder = recorder_on(d);
    bridged(|| {
        let a = tracing::info_span!(target: "bridge_order", "a");
        let b = tracing::info_span!(target: "bridge_order", "b");
        let started = || recorder.started.lock().unwrap().clone();
        let (a_id, b_id) = (started()[0], started()[1]);
        let entered_a = a.enter();
        let entered_b = b.enter();
        assert_eq!(current_span().id(), Some(b_id));
        drop(entered_a);
        assert_eq!(current_span().id(), Some(b_id));
        drop(entered_b);
        assert_eq!(current_span().id(), None);
        let entered_a = a.enter();
        assert_eq!(current_span().id(), Some(a_id));
        drop(entered_a);
    });
    assert_eq!(recorder.ended().len(), 2);
}

#[test]
fn events_arrive_with_level_message_and_fields() {
    let recorder = recorder_on(get_dispatcher("bridge_events"));
    bridged(|| {
        tracing::info_span!(target: "bridge_events", "fetch").in_scope(|| {
            tracing::warn!(target: "bridge_events", status = 503, retry = true, "upstream {} failed", "llm");
        });
        tracing::info!(target: "bridge_events", "outside");
    });
    let fetch = recorder.one("fetch");
    let events = recorder.events();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(events[0].class_name, "TracingEvent");
    assert_eq!(events[0].span_id, Some(fetch.id));
    assert_eq!(
        events[0].json,
        json!({
            "target": "bridge_events",
            "level": "WARN",
            "message": "upstream llm failed",
            "fields": { "status": 503, "retry": true },
        })
    );
    assert_eq!(events[1].span_id, None);
    assert_eq!(events[1].json["message"], "outside");
}

#[test]
fn error_fields_and_error_events_drop_the_span() {
    let recorder = recorder_on(get_dispatcher("bridge_errors"));
    bridged(|| {
        let failed = tracing::info_span!(target: "bridge_errors", "recorded", error = tracing::field::Empty, rows = tracing::field::Empty);
        failed.record("rows", 0);
        failed.record("error", "timeout");
        drop(failed);
        tracing::info_span!(target: "bridge_errors", "evented").in_scope(|| {
            tracing::error!(target: "bridge_errors", error = %"connection reset", "request failed");
        });
        let fine =
            tracing::info_span!(target: "bridge_errors", "fine", rows = tracing::field::Empty);
        fine.record("rows", 7);
    });
    let recorded = recorder.one("recorded");
    assert!(!recorded.exited);
    assert_eq!(recorded.error.as_deref(), Some("timeout"));
    let evented = recorder.one("evented");
    assert!(!evented.exited);
    assert_eq!(evented.error.as_deref(), Some("connection reset"));
    let fine = recorder.one("fine");
    assert!(fine.exited);
    assert_eq!(fine.result, Some(json!({ "rows": 7 })));
}

#[test]
fn dispatchers_without_handlers_cost_nothing_and_skip_the_span() {
    let d = get_dispatcher("bridge_skip");
    let recorder = recorder_on(d);
    bridged(|| {
        d.in_span("top", || {
            // No handler on `other_crate`: not bridged, so the span inside goes straight under `top`.
            tracing::info_span!(target: "other_crate_without_handlers", "quiet").in_scope(|| {
                tracing::info_span!(target: "bridge_skip", "loud").in_scope(|| ());
            });
        });
    });
    assert!(recorder.by_name("quiet").is_empty());
    assert_eq!(recorder.one("loud").parent, Some(recorder.one("top").id));
}

/// A `tracing` span as [`TraceLog`] saw it.
#[derive(Debug, Clone)]
struct TSpan {
    seq: usize,
    name: &'static str,
    target: String,
    parent: Option<usize>,
    fields: HashMap<String, String>,
    closed: bool,
}

/// A `tracing` event as [`TraceLog`] saw it.
#[derive(Debug, Clone)]
struct TEvent {
    target: String,
    parent: Option<usize>,
    fields: HashMap<String, String>,
}

/// A layer that records the spans and events any subscriber would see.
#[derive(Clone, Default)]
struct TraceLog {
    spans: Arc<Mutex<Vec<TSpan>>>,
    events: Arc<Mutex<Vec<TEvent>>>,
}

struct Seq(usize);

#[derive(Default)]
struct Strings(HashMap<String, String>);

impl Visit for Strings {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl TraceLog {
    fn spans(&self) -> Vec<TSpan> {
        self.spans.lock().unwrap().clone()
    }

    fn forwarded(&self, name: &str) -> TSpan {
        let found: Vec<_> = self
            .spans()
            .into_iter()
            .filter(|s| {
                s.name == "instrument"
                    && s.fields.get("otel.name").map(String::as_str) == Some(name)
            })
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one forwarded `{name}`: {found:#?}"
        );
        found.into_iter().next().unwrap()
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for TraceLog {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let span = ctx.span(id).unwrap();
        let parent = span
            .parent()
            .map(|p| p.extensions().get::<Seq>().unwrap().0);
        let mut fields = Strings::default();
        attrs.record(&mut fields);
        let mut spans = self.spans.lock().unwrap();
        let seq = spans.len();
        spans.push(TSpan {
            seq,
            name: attrs.metadata().name(),
            target: attrs.metadata().target().to_owned(),
            parent,
            fields: fields.0,
            closed: false,
        });
        span.extensions_mut().insert(Seq(seq));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let seq = ctx.span(id).unwrap().extensions().get::<Seq>().unwrap().0;
        let mut fields = Strings::default();
        values.record(&mut fields);
        self.spans.lock().unwrap()[seq].fields.extend(fields.0);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let seq = ctx.span(&id).unwrap().extensions().get::<Seq>().unwrap().0;
        self.spans.lock().unwrap()[seq].closed = true;
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let parent = ctx
            .event_span(event)
            .map(|p| p.extensions().get::<Seq>().unwrap().0);
        let mut fields = Strings::default();
        event.record(&mut fields);
        self.events.lock().unwrap().push(TEvent {
            target: event.metadata().target().to_owned(),
            parent,
            fields: fields.0,
        });
    }
}

#[derive(serde::Serialize, instrument::Event)]
struct Retrieved {
    hits: usize,
}

#[test]
fn instrument_spans_are_forwarded_with_parents_and_errors() {
    let d = get_dispatcher("bridge_forward");
    TracingForwarder::new().install(d);
    let log = TraceLog::default();
    tracing::subscriber::with_default(Registry::default().with(log.clone()), || {
        tracing::info_span!("request").in_scope(|| {
            let query = "rust";
            let mut outer = d.enter_span("query", &[Arg::new("query", &query)]);
            outer.in_scope(|| {
                d.in_span("retrieve", || d.event(Retrieved { hits: 2 }));
                let failing = d.enter_span("synthesize", &[]);
                failing.drop_with(&"model overloaded");
            });
            outer.exit(None);
        });
    });
    let request = log
        .spans()
        .into_iter()
        .find(|s| s.name == "request")
        .unwrap();
    let query = log.forwarded("query");
    let retrieve = log.forwarded("retrieve");
    let synthesize = log.forwarded("synthesize");
    assert_eq!(query.target, FORWARD_TARGET);
    assert_eq!(query.parent, Some(request.seq));
    assert_eq!(retrieve.parent, Some(query.seq));
    assert_eq!(synthesize.parent, Some(query.seq));
    assert_eq!(query.fields["args"], r#"{"query":"rust"}"#);
    assert_eq!(query.fields["dispatcher"], "bridge_forward");
    assert!(query.fields["span_id"].starts_with("query-"));
    assert_eq!(query.fields["outcome"], "exit");
    assert_eq!(retrieve.fields["outcome"], "exit");
    assert_eq!(synthesize.fields["outcome"], "dropped");
    assert_eq!(synthesize.fields["error"], "model overloaded");
    assert!(!query.fields.contains_key("error"));
    assert!(log.spans().iter().all(|s| s.closed));

    let events = log.events.lock().unwrap().clone();
    let retrieved: Vec<_> = events
        .iter()
        .filter(|e| e.fields.get("class_name").map(String::as_str) == Some("Retrieved"))
        .collect();
    assert_eq!(retrieved.len(), 1, "{events:#?}");
    assert_eq!(retrieved[0].parent, Some(retrieve.seq));
    assert_eq!(retrieved[0].target, FORWARD_TARGET);
    assert_eq!(retrieved[0].fields["payload"], r#"{"hits":2}"#);
}

#[test]
fn both_directions_together_do_not_loop() {
    let d = get_dispatcher("bridge_both");
    let recorder = recorder_on(d);
    let forwarder = d.add_span_handler(TracingForwarder::new());
    d.add_event_handler(forwarder);
    let log = TraceLog::default();
    let subscriber = Registry::default()
        .with(InstrumentLayer::new())
        .with(log.clone());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!(target: "bridge_both::lib", "connect").in_scope(|| {
            d.in_span("query", || {
                tracing::info_span!(target: "bridge_both::lib", "send").in_scope(|| {
                    tracing::info!(target: "bridge_both::lib", "sent");
                });
                d.event(Retrieved { hits: 1 });
            });
        });
    });

    // Instrument sees the two bridged spans and its own, once each; nothing forwarded came back.
    let names: Vec<String> = recorder.ended().into_iter().map(|s| s.name).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let connect = recorder.one("connect");
    let query = recorder.one("query");
    assert_eq!(query.parent, Some(connect.id));
    assert_eq!(recorder.one("send").parent, Some(query.id));
    let classes: Vec<_> = recorder.events().iter().map(|e| e.class_name).collect();
    assert_eq!(classes, ["TracingEvent", "Retrieved"]);

    // `tracing` sees its two spans and the one forwarded instrument span; bridged ones were not sent back.
    let spans = log.spans();
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let forwarded = log.forwarded("query");
    let connect = spans.iter().find(|s| s.name == "connect").unwrap();
    assert_eq!(forwarded.parent, Some(connect.seq));
    let events = log.events.lock().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(events[0].target, "bridge_both::lib");
    assert_eq!(events[1].fields["class_name"], "Retrieved");
}

#[test]
fn a_full_table_of_open_spans_falls_back_to_the_current_tracing_span() {
    let d = get_dispatcher("bridge_capacity");
    let forwarder = TracingForwarder::with_capacity(1).install(d);
    let log = TraceLog::default();
    tracing::subscriber::with_default(Registry::default().with(log.clone()), || {
        d.in_span("a", || d.in_span("b", || d.in_span("c", || ())));
    });
    assert_eq!(forwarder.untracked(), 2);
    let a = log.forwarded("a");
    assert_eq!(log.forwarded("b").parent, Some(a.seq));
    // `b` was not remembered, so not entered either: `c` falls back to the current `tracing`
    // span, `a`'s forwarded span, entered while `a` runs.
    assert_eq!(log.forwarded("c").parent, Some(a.seq));
}

#[test]
fn instrumented_futures_keep_their_bridged_span_across_awaits() {
    use tracing::Instrument;
    let d = get_dispatcher("bridge_async");
    let recorder = recorder_on(d);
    bridged(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(
            async {
                tokio::task::yield_now().await;
                d.in_span("after_await", || ());
            }
            .instrument(tracing::info_span!(target: "bridge_async", "task")),
        );
        assert_eq!(current_span().id(), None);
    });
    let task = recorder.one("task");
    assert_eq!(recorder.one("after_await").parent, Some(task.id));
}

#[test]
fn bridged_spans_and_their_descendants_stay_in_the_roots_trace() {
    let d = get_dispatcher("bridge_one_trace");
    let recorder = recorder_on(d);
    let header = bridged(|| {
        d.in_span("root", || {
            tracing::info_span!(target: "bridge_one_trace", "bridged_child").in_scope(|| {
                tracing::info_span!(target: "bridge_one_trace", "bridged_grandchild").in_scope(
                    || {
                        d.in_span("native", || {
                            instrument::inject_traceparent(&instrument::Context::current())
                                .unwrap()
                                .0
                        })
                    },
                )
            })
        })
    });
    let trace = recorder.one("root").id.uuid().into_bytes();
    for name in ["bridged_child", "bridged_grandchild", "native"] {
        assert_eq!(recorder.one(name).trace_id, trace, "{name}");
    }
    let sent = instrument::TraceParent::parse(&header).unwrap();
    assert_eq!(
        sent.trace_id, trace,
        "a header from deep inside names the root's trace"
    );
}
