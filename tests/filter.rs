//! Dispatchers turned off and on by name: `INSTRUMENT_FILTER` when the program starts,
//! `set_filter` while it runs. (Its own test binary: the filter is process-wide.)

use std::sync::Mutex;

use instrument::handlers::{SimpleSpanHandler, TokenCountingHandler};
use instrument::{FILTER_ENV, get_dispatcher, set_filter};

#[path = "support/child_process.rs"]
mod child_process;
use child_process::run_child;

/// The tests that change the filter take turns.
static FILTER_LOCK: Mutex<()> = Mutex::new(());

#[derive(instrument::Event, serde::Serialize)]
struct Lookup {
    key: &'static str,
}

#[test]
fn a_dispatcher_turned_off_reaches_no_handler_until_turned_on_again() {
    let _turn = FILTER_LOCK.lock().unwrap();
    let app = get_dispatcher("filter_app");
    let cache = get_dispatcher("filter_app::cache");
    let spans = app.add_span_handler(SimpleSpanHandler::default());
    let events = app.add_event_handler(TokenCountingHandler::new());

    set_filter("filter_app::cache=off").unwrap();
    assert!(!cache.is_enabled());
    cache.in_span("lookup", || cache.event(Lookup { key: "k" }));
    app.in_span("query", || cache.in_span("nested_lookup", || ()));
    let names: Vec<_> = spans.completed().iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        ["query"],
        "the cache's spans are off, even inside `query`"
    );

    // Everything off but the cache's warm path; a bad filter changes nothing.
    set_filter("off, filter_app::cache::warm=on").unwrap();
    assert!(set_filter("filter_app=sometimes").is_err());
    assert!(!app.is_enabled());
    assert!(!cache.is_enabled());
    assert!(get_dispatcher("filter_app::cache::warm").is_enabled());

    set_filter("").unwrap();
    cache.in_span("lookup_again", || ());
    assert!(spans.completed().iter().any(|s| s.name == "lookup_again"));
    assert_eq!(events.llm_token_counts().len(), 0);
}

/// The child's work: with `INSTRUMENT_FILTER` set by the parent, which spans reach a handler.
#[test]
fn filter_env_child() {
    if std::env::var(FILTER_ENV).is_err() {
        return; // only in the child process
    }
    let spans = get_dispatcher("filter_env").add_span_handler(SimpleSpanHandler::default());
    get_dispatcher("filter_env").in_span("kept", || ());
    get_dispatcher("filter_env::noisy").in_span("dropped", || ());
    let names: Vec<_> = spans.completed().iter().map(|s| s.name).collect();
    println!("filtered kept={}", names.join("+"));
}

#[test]
fn the_environment_sets_the_filter_at_start() {
    if std::env::var(FILTER_ENV).is_ok() {
        return;
    }
    let line = run_child(
        "filter_env_child",
        FILTER_ENV,
        "filter_env=on,filter_env.noisy=off",
        "filtered kept=",
    );
    assert_eq!(line.trim(), "filtered kept=kept");
}
