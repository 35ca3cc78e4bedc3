//! Values whose `Serialize` or `Debug` impl fails or panics: as an argument, a return value, a
//! recorded value or an event's field, each becomes an `"<unserializable: ...>"` marker, and the
//! span and its events still reach every handler and exporter with everything else intact.

use std::fmt;

use instrument::events::QueryStartEvent;
use instrument::llm::QueryType;
use instrument::{UNSERIALIZABLE, current_span, handler_panics};
use serde::Serializer;
use serde_json::{Value, json};

#[path = "support/every_output.rs"]
mod every_output;
#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;
use every_output::{EveryOutput, otlp_text};

const DISPATCHER: &str = "tests::unreadable_values";

/// `Serialize` returns an error; `Debug` works.
struct SerializeFails;

impl serde::Serialize for SerializeFails {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("SerializeFails refuses"))
    }
}

impl fmt::Debug for SerializeFails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SerializeFails")
    }
}

/// Both `Serialize` and `Debug` panic.
struct Panics;

impl serde::Serialize for Panics {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("Panics::serialize")
    }
}

impl fmt::Debug for Panics {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Panics::fmt")
    }
}

/// Only `Debug`, which returns an error.
struct DebugFails;

impl fmt::Debug for DebugFails {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Err(fmt::Error)
    }
}

/// Only `Debug`, which panics.
struct DebugPanics;

impl fmt::Debug for DebugPanics {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("DebugPanics::fmt")
    }
}

/// An event one of whose fields panics when serialised.
#[derive(instrument::Event, serde::Serialize)]
struct HalfBroken {
    fine: &'static str,
    broken: Panics,
}

/// An event one of whose fields fails to serialise.
#[derive(instrument::Event, serde::Serialize)]
struct Refused {
    fine: &'static str,
    refused: SerializeFails,
}

#[instrument::span(dispatcher = "tests::unreadable_values")]
fn step(
    question: &str,
    fails: &SerializeFails,
    panics: &Panics,
    debug_fails: &DebugFails,
    debug_panics: &DebugPanics,
) -> Panics {
    let _ = (fails, panics, debug_fails, debug_panics);
    let d = instrument::get_dispatcher(DISPATCHER);
    current_span().record("answer", question.len());
    current_span().record("panicking", Panics);
    current_span().record("refusing", SerializeFails);
    d.event(HalfBroken {
        fine: "kept",
        broken: Panics,
    });
    d.event(Refused {
        fine: "kept too",
        refused: SerializeFails,
    });
    ask(question);
    Panics
}

/// A child span whose catalog event reaches the callback handlers (an event of its own sets the
/// OTLP `input.value`, so it is kept out of `step`).
#[instrument::span(dispatcher = "tests::unreadable_values")]
fn ask(question: &str) {
    instrument::get_dispatcher(DISPATCHER).event(QueryStartEvent {
        query: QueryType::from(question),
    });
}

fn is_marker(value: &Value, contains: &str) -> bool {
    value
        .as_str()
        .is_some_and(|text| text.starts_with(UNSERIALIZABLE) && text.contains(contains))
}

#[test]
fn unreadable_values_become_markers_and_cost_no_span() {
    let outputs = EveryOutput::install(DISPATCHER);
    let panics_before = handler_panics();

    let _returned = step("why?", &SerializeFails, &Panics, &DebugFails, &DebugPanics);

    let out = outputs.finish();
    assert_eq!(
        handler_panics(),
        panics_before,
        "no handler panicked: the library caught every panic of the values"
    );

    // SimpleSpanHandler: the span, and what was recorded, the bad values as markers.
    let simple = out.simple_span("step");
    assert!(!simple.dropped);
    assert_eq!(simple.metadata["answer"], json!(4));
    assert_eq!(
        simple.metadata["panicking"],
        json!("<unserializable: panicked: Panics::serialize>")
    );
    assert_eq!(
        simple.metadata["refusing"],
        json!("<unserializable: SerializeFails refuses>")
    );

    // JSONL: arguments, result-free record, metadata and both broken events.
    let span = out.jsonl_span("step");
    let args = &span.attributes.args;
    assert_eq!(args["question"], json!("why?"));
    assert_eq!(
        args["fails"],
        json!("<unserializable: SerializeFails refuses>")
    );
    assert_eq!(
        args["panics"],
        json!("<unserializable: panicked: Panics::serialize>")
    );
    assert_eq!(
        args["debug_fails"],
        json!("<unserializable: Debug returned an error>")
    );
    assert_eq!(
        args["debug_panics"],
        json!("<unserializable: panicked: DebugPanics::fmt>")
    );
    assert_eq!(span.attributes.metadata["answer"], json!(4));
    assert!(is_marker(
        &span.attributes.metadata["panicking"],
        "Panics::serialize"
    ));
    let names: Vec<&str> = span.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["HalfBroken", "Refused"]);
    assert!(is_marker(
        &span.events[0].attributes,
        "panicked: Panics::serialize"
    ));
    assert!(is_marker(
        &span.events[1].attributes,
        "SerializeFails refuses"
    ));
    let ask = out.jsonl_span("ask");
    assert_eq!(ask.parent_id.as_deref(), Some(span.span_id.as_str()));
    assert_eq!(ask.events[0].attributes["query"], json!("why?"));

    // Chrome trace: the same span and all three events.
    let chrome = out.chrome_span("step");
    assert_eq!(chrome["args"]["args"]["question"], json!("why?"));
    assert!(is_marker(
        &chrome["args"]["args"]["debug_panics"],
        "DebugPanics::fmt"
    ));
    assert!(is_marker(
        &chrome["args"]["metadata"]["refusing"],
        "refuses"
    ));
    let instants = out.chrome_instants();
    assert_eq!(instants.len(), 3);
    assert_eq!(instants[0]["name"], "HalfBroken");
    assert!(is_marker(
        &instants[0]["args"]["event"],
        "Panics::serialize"
    ));

    // OTLP: the span with its arguments as input, the panicking return value as output.
    let otlp = out.otlp_span("step");
    let input: Value = serde_json::from_str(otlp_text(otlp, "input.value").unwrap()).unwrap();
    assert_eq!(input["question"], json!("why?"));
    assert!(is_marker(&input["panics"], "Panics::serialize"));
    assert_eq!(
        otlp_text(otlp, "output.value"),
        Some("<unserializable: panicked: Panics::serialize>")
    );
    let metadata: Value = serde_json::from_str(otlp_text(otlp, "metadata").unwrap()).unwrap();
    assert_eq!(metadata["answer"], json!(4));
    assert_eq!(
        otlp.events
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>(),
        ["HalfBroken", "Refused"]
    );
    assert_eq!(otlp_text(out.otlp_span("ask"), "input.value"), Some("why?"));

    // DebugHandler, through the callback bridge: the query event of the span reached it.
    let query_starts: Vec<_> = out
        .debug_events
        .iter()
        .filter(|e| {
            e.event_type == instrument::callbacks::CBEventType::Query
                && e.stage == instrument::handlers::EventStage::Start
        })
        .collect();
    assert_eq!(query_starts.len(), 1, "{:#?}", out.debug_events);
    assert!(
        out.debug_printout.contains("CBEventType.QUERY"),
        "{}",
        out.debug_printout
    );
}

#[test]
fn a_failing_value_never_unwinds_into_the_caller() {
    let d = instrument::get_dispatcher("tests::unreadable_values::caller");
    let spans = d.add_span_handler(instrument::handlers::SimpleSpanHandler::default());
    // `record` runs the value's `Serialize` in the caller's own code: it must not panic there.
    let answer = d.in_span("outer", || {
        current_span().record("bad", Panics);
        42
    });
    assert_eq!(answer, 42);
    assert_eq!(
        spans.completed()[0].metadata["bad"],
        json!("<unserializable: panicked: Panics::serialize>")
    );
    // The library's own views of an argument never panic either.
    let arg = instrument::Arg::new("x", &Panics);
    assert!(is_marker(&arg.to_json(), "Panics::serialize"));
    assert_eq!(arg.debug_text(), "<unserializable: panicked: Panics::fmt>");
    assert_eq!(
        format!("{arg:?}"),
        "x=<unserializable: panicked: Panics::fmt>"
    );
}
