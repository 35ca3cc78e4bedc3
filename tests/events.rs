//! Events: the envelope every handler gets, and typed access to the payload.

mod common;

use common::recorder_on;
use instrument::{
    EventEnvelope, EventHandler, Tags, current_span, get_dispatcher, instrument_tags,
};
use serde_json::json;

#[derive(instrument::Event, serde::Serialize, Debug, PartialEq)]
struct CacheHit {
    key: String,
    age_ms: u64,
}

#[test]
fn every_handler_gets_an_envelope_with_id_time_span_and_tags() {
    let d = get_dispatcher("events::envelope");
    let first = recorder_on(d);
    let second = recorder_on(d);
    let before = chrono::Utc::now();

    d.event(CacheHit {
        key: "outside".into(),
        age_ms: 1,
    });
    let mut inside_span = None;
    instrument_tags(Tags::from([("user", "ada")]), || {
        d.in_span("lookup", || {
            inside_span = current_span().id();
            d.event(CacheHit {
                key: "inside".into(),
                age_ms: 2,
            });
        });
    });

    for recorder in [first, second] {
        let events = recorder.events();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].class_name, "CacheHit");
        assert_eq!(events[0].span_id, None);
        assert!(events[0].tags.is_empty());
        assert_eq!(events[0].json, json!({"key": "outside", "age_ms": 1}));
        assert_eq!(events[1].span_id, inside_span);
        assert!(inside_span.is_some());
        assert_eq!(events[1].tags.get("user"), Some(&json!("ada")));
        assert_ne!(events[0].id, events[1].id);
        assert_eq!(events[0].id.get_version_num(), 4);
    }
    assert_eq!(
        first.events()[1].id,
        second.events()[1].id,
        "one id per event, shared by handlers"
    );
    let _ = before;
}

/// What `Typed` keeps of each `CacheHit`: key, age, emission time, and the whole event as JSON.
type Picked = (
    String,
    u64,
    chrono::DateTime<chrono::Utc>,
    serde_json::Value,
);

struct Typed(std::sync::Mutex<Vec<Picked>>);

impl EventHandler for Typed {
    fn handle(&self, event: &EventEnvelope<'_>) {
        if let Some(hit) = event.downcast_ref::<CacheHit>() {
            self.0.lock().unwrap().push((
                hit.key.clone(),
                hit.age_ms,
                event.time(),
                event.to_json().unwrap(),
            ));
        }
    }
}

#[test]
fn handlers_downcast_to_the_concrete_type_and_read_json() {
    let d = get_dispatcher("events::typed");
    let typed = d.add_event_handler(Typed(std::sync::Mutex::default()));
    let before = chrono::Utc::now();
    d.event(CacheHit {
        key: "k".into(),
        age_ms: 9,
    });
    d.event(instrument::SpanDropEvent {
        span_id: instrument::SpanId::new("x"),
        err_str: "e".into(),
    });
    let seen = typed.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "only CacheHit is picked out");
    let (key, age, time, full) = &seen[0];
    assert_eq!((key.as_str(), *age), ("k", 9));
    assert!(*time >= before - chrono::Duration::milliseconds(5) && *time <= chrono::Utc::now());
    assert_eq!(full["class_name"], "CacheHit");
    assert_eq!(full["key"], "k");
    assert!(full["id_"].as_str().unwrap().len() == 36);
    assert_eq!(full["span_id"], serde_json::Value::Null);
}

#[test]
fn an_event_on_a_dispatcher_without_handlers_reaches_no_one() {
    let d = get_dispatcher("events::none");
    assert_eq!(d.event_handler_count(), 0);
    d.event(CacheHit {
        key: "nobody".into(),
        age_ms: 0,
    });
}
