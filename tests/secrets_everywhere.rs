//! A secret planted everywhere a value can go (a nested field of an argument, of the return value
//! and of an event, an LLM call's `model_dict` and `additional_kwargs`, a tag, recorded metadata, a
//! `tracing` span and event field, a callback payload, a chat message's extras), with every
//! handler and exporter installed: it appears in none of their outputs, while the fields around it
//! do.

use instrument::callbacks::{CBEventType, EventPayload, Payload};
use instrument::events::{LLMChatEndEvent, LLMChatStartEvent};
use instrument::handlers::tracing_bridge::InstrumentLayer;
use instrument::llm::{ChatMessage, ChatResponse};
use instrument::{REDACTED, Tags, current_span, instrument_tags};
use serde_json::{Map, Value, json};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::SubscriberExt;

#[path = "support/every_output.rs"]
mod every_output;
#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;
use every_output::EveryOutput;

const DISPATCHER: &str = "tests::secrets_everywhere";
/// The secret: it must show up nowhere.
const SECRET: &str = "sk-planted-7f3a9c";
/// A second secret, under a name the program declares secret itself.
const CUSTOM_SECRET: &str = "cookie-planted-51d2";

#[derive(Debug, serde::Serialize)]
struct ClientConfig {
    model: &'static str,
    credentials: Credentials,
}

#[derive(Debug, serde::Serialize)]
struct Credentials {
    user: &'static str,
    api_key: &'static str,
    session_cookie: &'static str,
}

#[derive(Debug, serde::Serialize)]
struct Reply {
    text: &'static str,
    session: Session,
}

#[derive(Debug, serde::Serialize)]
struct Session {
    id: &'static str,
    access_token: &'static str,
}

#[derive(instrument::Event, serde::Serialize)]
struct Connected {
    host: &'static str,
    login: Login,
}

#[derive(serde::Serialize)]
struct Login {
    user: &'static str,
    password: &'static str,
}

fn map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[instrument::span(dispatcher = "tests::secrets_everywhere")]
fn answer(question: &str, config: &ClientConfig) -> Reply {
    let d = instrument::get_dispatcher(DISPATCHER);
    current_span().record("password", SECRET);
    current_span().record("db", json!({"user": "ada", "password": SECRET}));
    d.event(Connected {
        host: "db-host",
        login: Login {
            user: "ada",
            password: SECRET,
        },
    });

    // An LLM call, with the key in the model's settings and a header in the call's arguments.
    let messages =
        vec![ChatMessage::user(question).with_kwarg("extras", json!({"api_key": SECRET}))];
    d.event(LLMChatStartEvent {
        messages: messages.clone(),
        additional_kwargs: map(json!({
            "temperature": 0.1,
            "headers": {"Authorization": format!("Bearer {SECRET}")},
        })),
        model_dict: map(json!({"model": config.model, "api_key": SECRET, "class_name": "OpenAI"})),
    });
    d.event(LLMChatEndEvent {
        messages,
        response: Some(ChatResponse::new(ChatMessage::assistant("Paris."))),
    });

    // A `tracing` span and event of another crate, bridged.
    let http = tracing::info_span!(
        target: "tests::secrets_everywhere",
        "http_call",
        url = "/v1/chat",
        authorization = SECRET,
    );
    http.in_scope(|| {
        tracing::info!(target: "tests::secrets_everywhere", api_key = SECRET, status = 200, "called");
    });

    Reply {
        text: "Paris.",
        session: Session {
            id: "session-1",
            access_token: SECRET,
        },
    }
}

#[test]
fn a_planted_secret_appears_in_no_output() {
    instrument::add_sensitive_name("session_cookie");
    let outputs = EveryOutput::install(DISPATCHER);

    let subscriber = Registry::default().with(InstrumentLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        let tags = Tags::from([("token", json!(SECRET)), ("user", json!("ada"))]).with(
            "client",
            json!({"name": "web", "session_cookie": CUSTOM_SECRET}),
        );
        let config = ClientConfig {
            model: "gpt-4o",
            credentials: Credentials {
                user: "ada",
                api_key: SECRET,
                session_cookie: CUSTOM_SECRET,
            },
        };
        let reply = instrument_tags(tags, || answer("Capital of France?", &config));
        assert_eq!(
            reply.session.access_token, SECRET,
            "the program's own values are untouched"
        );
    });

    // A callback event of the legacy API, with the key nested in its payload.
    let llm = outputs
        .callbacks
        .event(
            CBEventType::Llm,
            Some(
                Payload::new()
                    .with(EventPayload::Prompt, "Capital of Italy?")
                    .with(
                        EventPayload::Serialized,
                        json!({"model": "gpt-4o-mini", "auth": {"api_key": SECRET}}),
                    ),
            ),
        )
        .unwrap();
    llm.on_end(Some(Payload::new().with(EventPayload::Completion, "Rome.")))
        .unwrap();

    let out = outputs.finish();

    for (output, text) in out.texts() {
        assert!(text.len() > 20, "{output} is empty: {text:?}");
        assert!(!text.contains(SECRET), "{output} shows the secret:\n{text}");
        assert!(
            !text.contains(CUSTOM_SECRET),
            "{output} shows the custom secret:\n{text}"
        );
    }

    // What surrounds the secrets is all there.
    let answer = out.jsonl_span("answer");
    let config = &answer.attributes.args["config"];
    assert_eq!(config["model"], json!("gpt-4o"));
    assert_eq!(config["credentials"]["user"], json!("ada"));
    assert_eq!(config["credentials"]["api_key"], json!(REDACTED));
    assert_eq!(config["credentials"]["session_cookie"], json!(REDACTED));
    assert_eq!(
        answer.attributes.args["question"],
        json!("Capital of France?")
    );
    assert_eq!(answer.attributes.tags["user"], json!("ada"));
    assert_eq!(answer.attributes.tags["token"], json!(REDACTED));
    assert_eq!(answer.attributes.tags["client"]["name"], json!("web"));
    assert_eq!(answer.attributes.metadata["password"], json!(REDACTED));
    assert_eq!(
        answer.attributes.metadata["db"],
        json!({"user": "ada", "password": REDACTED})
    );
    let connected = answer
        .events
        .iter()
        .find(|e| e.name == "Connected")
        .unwrap();
    assert_eq!(
        connected.attributes,
        json!({"host": "db-host", "login": {"user": "ada", "password": REDACTED}})
    );
    let start = answer
        .events
        .iter()
        .find(|e| e.name == "LLMChatStartEvent")
        .unwrap();
    assert_eq!(start.attributes["model_dict"]["model"], json!("gpt-4o"));
    assert_eq!(start.attributes["model_dict"]["api_key"], json!(REDACTED));
    assert_eq!(
        start.attributes["additional_kwargs"]["temperature"],
        json!(0.1)
    );
    let http = out.jsonl_span("http_call");
    assert_eq!(http.attributes.args["url"], json!("/v1/chat"));
    assert_eq!(http.attributes.args["authorization"], json!(REDACTED));
    let traced = http
        .events
        .iter()
        .find(|e| e.name == "TracingEvent")
        .unwrap();
    assert_eq!(traced.attributes["fields"]["status"], json!(200));
    assert_eq!(traced.attributes["fields"]["api_key"], json!(REDACTED));

    assert!(out.chrome_text.contains("db-host") && out.chrome_text.contains("gpt-4o"));
    assert_eq!(
        out.chrome_span("answer")["args"]["args"]["config"]["credentials"]["user"],
        json!("ada")
    );

    let otlp = String::from_utf8_lossy(&out.otlp_bytes);
    for expected in [
        "gpt-4o",
        "Paris.",
        "ada",
        "/v1/chat",
        "temperature",
        REDACTED,
    ] {
        assert!(otlp.contains(expected), "OTLP lacks {expected:?}");
    }

    let simple = out.simple_span("answer");
    assert_eq!(simple.metadata["db"]["user"], json!("ada"));
    assert!(out.simple_trees.contains("answer-"));

    let debug = serde_json::to_string(&out.debug_events).unwrap();
    for expected in [
        "gpt-4o",
        "gpt-4o-mini",
        "Capital of Italy?",
        "Rome.",
        REDACTED,
    ] {
        assert!(debug.contains(expected), "DebugHandler lacks {expected:?}");
    }
    assert!(out.debug_printout.contains("CBEventType.LLM"));

    for expected in ["Capital of France?", "Paris.", "Capital of Italy?", "Rome."] {
        assert!(
            out.finetuning_text.contains(expected),
            "the fine-tuning file lacks {expected:?}:\n{}",
            out.finetuning_text
        );
    }
}
