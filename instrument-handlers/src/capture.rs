//! A span's arguments read on the recording thread, while they are still borrowable: what every
//! exporter keeps of them until the span ends.

use instrument_core::Arg;
use serde_json::{Map, Value};

/// A span's captured arguments as a JSON object, `None` when it has none. Redacted arguments stay
/// `"[REDACTED]"`.
pub(crate) type Args = Option<Box<Map<String, Value>>>;

/// Reads the arguments while they are still borrowable, at span start.
#[inline]
pub(crate) fn capture_args(args: &[Arg<'_>]) -> Args {
    if args.is_empty() {
        None
    } else {
        Some(Box::new(args_map(args)))
    }
}

/// The arguments as a JSON object, by name.
#[cold]
pub(crate) fn args_map(args: &[Arg<'_>]) -> Map<String, Value> {
    args.iter()
        .map(|arg| (arg.name().to_owned(), arg.to_json()))
        .collect()
}
