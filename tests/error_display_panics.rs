//! An error type whose `Display` panics: the instrumented function still returns its `Err`, and the
//! handlers still see the span end (the drop event carries a stand-in text).

mod common;

use std::fmt;

use common::recorder_on;
use instrument::{get_dispatcher, span};

#[derive(Debug)]
struct Grumpy;

impl fmt::Display for Grumpy {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("no text for you")
    }
}

#[span(dispatcher = "tests::error_display_panics")]
fn fails() -> Result<u8, Grumpy> {
    Err(Grumpy)
}

#[test]
fn a_panicking_error_display_does_not_escape() {
    let recorder = recorder_on(get_dispatcher("tests::error_display_panics"));
    assert!(matches!(fails(), Err(Grumpy)));
    let seen = recorder.ended();
    assert_eq!(seen.len(), 1, "the span ended once");
    assert!(!seen[0].exited);
    let drops: Vec<_> = recorder
        .events()
        .into_iter()
        .filter(|e| e.class_name == "SpanDropEvent")
        .collect();
    assert_eq!(drops.len(), 1);
    assert!(
        drops[0].json["err_str"]
            .as_str()
            .unwrap()
            .contains("Display panicked")
    );
}
