//! `#[derive(Event)]`: the class name, the JSON, and what a handler receives.

use std::sync::Mutex;

use instrument::{Event, EventEnvelope, EventHandler, get_dispatcher};
use serde_json::json;

#[derive(Event, serde::Serialize, Debug, PartialEq)]
struct Retrieved {
    query: String,
    nodes: usize,
}

#[derive(Event, serde::Serialize)]
struct Scores(f32, f32);

#[derive(Event, serde::Serialize)]
struct Started;

#[derive(Event, serde::Serialize)]
enum Stage {
    Embed,
    Rerank { top_n: usize },
    Llm(String),
}

#[derive(Event, serde::Serialize)]
struct Payload<T: serde::Serialize, const N: usize>
where
    T: Clone,
{
    items: Vec<T>,
}

#[derive(Event, serde::Serialize)]
#[event(name = "LLMChatStartEvent")]
struct ChatStart {
    model: String,
}

#[test]
fn class_name_is_the_type_name() {
    let retrieved = Retrieved {
        query: "q".into(),
        nodes: 2,
    };
    assert_eq!(retrieved.class_name(), "Retrieved");
    assert_eq!(Scores(0.5, 1.0).class_name(), "Scores");
    assert_eq!(Started.class_name(), "Started");
    assert_eq!(Stage::Embed.class_name(), "Stage");
    assert_eq!(
        Payload::<_, 2> { items: vec![1, 2] }.class_name(),
        "Payload"
    );
}

#[test]
fn name_option_renames_the_class() {
    let start = ChatStart {
        model: "gpt".into(),
    };
    assert_eq!(start.class_name(), "LLMChatStartEvent");
    assert_eq!(start.to_json().unwrap(), json!({"model": "gpt"}));
}

#[test]
fn to_json_gives_the_fields() {
    let retrieved = Retrieved {
        query: "q".into(),
        nodes: 2,
    };
    assert_eq!(
        retrieved.to_json().unwrap(),
        json!({"query": "q", "nodes": 2})
    );
    assert_eq!(Scores(0.5, 1.0).to_json().unwrap(), json!([0.5, 1.0]));
    assert_eq!(Started.to_json().unwrap(), json!(null));
    assert_eq!(Stage::Embed.to_json().unwrap(), json!("Embed"));
    assert_eq!(
        Stage::Rerank { top_n: 3 }.to_json().unwrap(),
        json!({"Rerank": {"top_n": 3}})
    );
    assert_eq!(
        Stage::Llm("x".into()).to_json().unwrap(),
        json!({"Llm": "x"})
    );
    assert_eq!(
        Payload::<_, 1> {
            items: vec!["a".to_owned()]
        }
        .to_json()
        .unwrap(),
        json!({"items": ["a"]})
    );
}

/// Keeps the `Retrieved` events it sees, and the class names of all.
#[derive(Default)]
struct Keep {
    retrieved: Mutex<Vec<Retrieved>>,
    classes: Mutex<Vec<&'static str>>,
}

struct KeepRef(&'static Keep);

impl EventHandler for KeepRef {
    fn handle(&self, event: &EventEnvelope<'_>) {
        self.0.classes.lock().unwrap().push(event.class_name());
        if let Some(retrieved) = event.downcast_ref::<Retrieved>() {
            self.0.retrieved.lock().unwrap().push(Retrieved {
                query: retrieved.query.clone(),
                nodes: retrieved.nodes,
            });
        }
    }
}

#[test]
fn handlers_receive_and_downcast_derived_events() {
    let keep: &'static Keep = Box::leak(Box::default());
    let dispatcher = get_dispatcher("tests::derive_event::handlers");
    dispatcher.add_event_handler(KeepRef(keep));
    dispatcher.event(Retrieved {
        query: "rust".into(),
        nodes: 4,
    });
    dispatcher.event(ChatStart { model: "m".into() });
    dispatcher.event(Stage::Embed);
    assert_eq!(
        *keep.retrieved.lock().unwrap(),
        [Retrieved {
            query: "rust".into(),
            nodes: 4
        }]
    );
    assert_eq!(
        *keep.classes.lock().unwrap(),
        ["Retrieved", "LLMChatStartEvent", "Stage"]
    );
}
