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
        let Some(slot) = store.get(id) else { continue };
        let Some(first) = slot.start.as_ref().or(slot.end.as_ref()) else {
            continue;
        };
        let secs = match (&slot.start, &slot.end) {
            (Some(start), Some(end)) => seconds_between(start.time, end.time),
            _ => 0.0,
        };
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
