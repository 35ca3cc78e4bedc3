//! The trace printout: which events a trace held, nested, with their durations.

use std::fmt::Write as _;

use instrument_core::callbacks::TraceMap;

use super::event::seconds_between;
use super::store::Store;

/// The line that opens and closes a printout.
const RULE: &str = "**********";

/// `trace_map` drawn from what `store` knows of its events; see
/// [`DebugHandler::format_trace`](super::DebugHandler::format_trace).
pub(super) fn format(store: &Store, trace_id: Option<&str>, trace_map: &TraceMap) -> String {
    let mut out = String::new();
    out.push_str(RULE);
    out.push('\n');
    let _ = writeln!(out, "Trace: {}", trace_id.unwrap_or("None"));
    for (depth, id) in trace_map.depth_first() {
        let Some(mut events) = store.get(id) else {
            continue;
        };
        let Some(first) = events.next() else { continue };
        // From the first event of the id to the last, as LlamaIndex times it: zero for one alone.
        let secs = events
            .last()
            .map_or(0.0, |last| seconds_between(first.time, last.time));
        let indent = 4 + 2 * depth;
        let _ = writeln!(
            out,
            "{:indent$}|_{} -> {secs:.6} seconds",
            "",
            first.event_type.qualified_name(),
        );
    }
    out.push_str(RULE);
    out.push('\n');
    out
}
