//! Values nested 100,000 levels deep, traced on a thread with a 2 MiB stack: as arguments, return
//! values, recorded values, event fields, tags and callback payloads they are cut at
//! `instrument::MAX_DEPTH` (`"<too deep>"` below it), nothing overflows the stack, and the span
//! reaches every handler and exporter.

use std::fmt;

use instrument::callbacks::{CBEventType, EventPayload, Payload};
use instrument::{MAX_DEPTH, TOO_DEEP, Tags, current_span, drop_json, instrument_tags};
use serde::ser::{SerializeSeq, Serializer};
use serde_json::{Value, json};

#[path = "support/every_output.rs"]
mod every_output;
#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;
use every_output::{EveryOutput, otlp_text};

const DEPTH: usize = 100_000;
const DISPATCHER: &str = "tests::deep_values";

/// `Nest(n)`: `n` nested one-element lists, made up as it is serialised (no memory behind it).
#[derive(Clone, Copy)]
struct Nest(usize);

impl serde::Serialize for Nest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 == 0 {
            return serializer.serialize_str("bottom");
        }
        let mut seq = serializer.serialize_seq(Some(1))?;
        seq.serialize_element(&Nest(self.0 - 1))?;
        seq.end()
    }
}

impl fmt::Debug for Nest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nest({})", self.0)
    }
}

/// A linked list as a recursive struct: serialised as nested newtype variants (no container at
/// all), dropped with a loop.
struct Chain {
    next: Option<Box<Chain>>,
}

impl Chain {
    fn of_length(n: usize) -> Self {
        (0..n).fold(Chain { next: None }, |next, _| Chain {
            next: Some(Box::new(next)),
        })
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        let mut next = self.next.take();
        while let Some(mut link) = next {
            next = link.next.take();
        }
    }
}

impl serde::Serialize for Chain {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.next {
            Some(next) => serializer.serialize_newtype_variant("Chain", 0, "Link", &**next),
            None => serializer.serialize_unit_variant("Chain", 1, "End"),
        }
    }
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Chain(..)")
    }
}

#[derive(instrument::Event, serde::Serialize)]
struct DeepEvent {
    label: &'static str,
    nest: Nest,
}

/// `{"next": {"next": ... null}}`, `depth` levels, built with a loop.
fn deep_json(depth: usize) -> Value {
    let mut value = Value::Null;
    for _ in 0..depth {
        // Not `json!`, which would serialise `value` anew at every level.
        let mut map = serde_json::Map::new();
        map.insert("next".to_owned(), value);
        value = Value::Object(map);
    }
    value
}

#[instrument::span(dispatcher = "tests::deep_values")]
fn walk(label: &str, nest: Nest, chain: &Chain, document: &Value) -> Nest {
    let _ = (chain, document);
    let span = current_span();
    span.record("nest", nest);
    span.record("document", document);
    // Given by value: the library owns it, and must not drop it by recursion.
    span.record("owned", deep_json(DEPTH));
    span.record("label_len", label.len());
    instrument::get_dispatcher(DISPATCHER).event(DeepEvent {
        label: "deep",
        nest,
    });
    Nest(DEPTH)
}

/// The value reached by following `step` from `value` for as long as it leads somewhere.
fn bottom<'a>(
    mut value: &'a Value,
    step: impl Fn(&'a Value) -> Option<&'a Value>,
) -> (usize, &'a Value) {
    let mut depth = 0;
    while let Some(next) = step(value) {
        value = next;
        depth += 1;
    }
    (depth, value)
}

fn first(value: &Value) -> Option<&Value> {
    value.get(0)
}

fn next(value: &Value) -> Option<&Value> {
    value.get("next")
}

fn link(value: &Value) -> Option<&Value> {
    value.get("Link")
}

/// Asserts that `value` was cut: `MAX_DEPTH + 1` levels of containers, then the marker.
fn assert_cut(what: &str, value: &Value, step: impl Fn(&Value) -> Option<&Value>) {
    let (depth, end) = bottom(value, step);
    assert_eq!(depth, MAX_DEPTH + 1, "{what}");
    assert_eq!(end, &json!(TOO_DEEP), "{what}");
}

#[test]
fn deep_values_are_cut_on_a_small_stack() {
    let outputs = EveryOutput::install(DISPATCHER);
    let traced = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let chain = Chain::of_length(DEPTH);
            let document = deep_json(DEPTH);
            let tags = Tags::new()
                .with("request", "r-1")
                .with("deep", deep_json(DEPTH));
            let result = instrument_tags(tags, || walk("first", Nest(DEPTH), &chain, &document));
            assert_eq!(result.0, DEPTH);
            // A callback payload takes ownership of its values too.
            let callbacks = instrument::callbacks::CallbackManager::new(vec![]);
            let payload = Payload::new().with(EventPayload::AdditionalKwargs, deep_json(DEPTH));
            drop(callbacks.event(CBEventType::Llm, Some(payload)));
            drop_json(document);
        })
        .unwrap()
        .join();
    assert!(traced.is_ok(), "the traced thread overflowed or panicked");

    // The callback manager the outputs share, with a deep payload of its own.
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn({
            let callbacks = outputs.callbacks.clone();
            move || {
                let payload = Payload::new().with(EventPayload::Serialized, deep_json(DEPTH));
                let event = callbacks.event(CBEventType::Llm, Some(payload)).unwrap();
                event.on_end(None).unwrap();
            }
        })
        .unwrap()
        .join()
        .expect("the callback thread overflowed or panicked");

    let out = outputs.finish();

    // SimpleSpanHandler: the span and its recorded values, cut.
    let simple = out.simple_span("walk");
    assert_cut("recorded nest", &simple.metadata["nest"], first);
    assert_cut("recorded document", &simple.metadata["document"], next);
    assert_cut("recorded owned value", &simple.metadata["owned"], next);
    assert_eq!(simple.metadata["label_len"], json!(5));

    // JSONL: read back with serde_json's default limits, arguments and tags cut.
    let span = out.jsonl_span("walk");
    let args = &span.attributes.args;
    assert_eq!(args["label"], json!("first"));
    assert_cut("nest argument", &args["nest"], first);
    assert_cut("chain argument", &args["chain"], link);
    assert_cut("document argument", &args["document"], next);
    assert_eq!(span.attributes.tags["request"], json!("r-1"));
    assert_cut("deep tag", &span.attributes.tags["deep"], next);
    assert_eq!(span.events.len(), 1);
    assert_eq!(span.events[0].attributes["label"], json!("deep"));
    // The event's fields are one level down in its payload.
    let (depth, end) = bottom(&span.events[0].attributes["nest"], first);
    assert_eq!((depth, end), (MAX_DEPTH, &json!(TOO_DEEP)));

    // Chrome trace and OTLP: the span, its arguments and its return value.
    let chrome = out.chrome_span("walk");
    assert_cut(
        "Chrome nest argument",
        &chrome["args"]["args"]["nest"],
        first,
    );
    let otlp = out.otlp_span("walk");
    let input: Value = serde_json::from_str(otlp_text(otlp, "input.value").unwrap()).unwrap();
    assert_eq!(input["label"], json!("first"));
    let output: Value = serde_json::from_str(otlp_text(otlp, "output.value").unwrap()).unwrap();
    assert_cut("OTLP output", &output, first);

    // DebugHandler kept the payload, cut.
    let serialized = out
        .debug_events
        .iter()
        .find_map(|e| e.payload.as_ref()?.get(EventPayload::Serialized))
        .expect("the deep payload reached the DebugHandler");
    assert_cut("callback payload", serialized, next);
}
