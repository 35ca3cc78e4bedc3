//! `TokenCountingHandler::new()` does not load the `cl100k_base` encoding until a response lacks
//! its usage: a program whose provider always reports usage never pays for it.

use instrument::handlers::TokenCountingHandler;

#[path = "support/child_process.rs"]
mod child_process;
use child_process::{field, rss_kib, run_child};

const TOKENIZER_CHILD: &str = "INSTRUMENT_TOKENIZER_CHILD";

/// The child's work: resident memory before the handler, after making it, and after warming its
/// tokenizer up.
#[test]
fn tokenizer_child() {
    if std::env::var(TOKENIZER_CHILD).is_err() {
        return; // only in the child process
    }
    let before = rss_kib();
    let counter = TokenCountingHandler::new();
    let made = rss_kib();
    counter.warm_up_tokenizer();
    let warmed = rss_kib();
    println!("tokenizer before_kib={before} made_kib={made} warmed_kib={warmed}");
}

#[test]
fn the_tokenizer_loads_on_first_need() {
    if std::env::var(TOKENIZER_CHILD).is_ok() {
        return;
    }
    let line = run_child(
        "tokenizer_child",
        TOKENIZER_CHILD,
        "1",
        "tokenizer before_kib=",
    );
    println!("{line}");
    let (before, made, warmed) = (
        field(&line, "before_kib"),
        field(&line, "made_kib"),
        field(&line, "warmed_kib"),
    );
    assert!(
        made - before < 2048.0,
        "making the handler loaded something: {line}"
    );
    assert!(
        warmed - made > 8192.0,
        "warming up loaded the encoding: {line}"
    );
}
