//! User code the library runs to read a value (`Serialize` and `Debug` impls), with its failures
//! contained: an impl that returns an error or panics costs its own value, which becomes a marker
//! text, never the span, the event or the process.

use std::fmt::{self, Write as _};
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Serialize;
use serde_json::Value;

use crate::values::bounded_serialize::{CutWatch, Guarded};

/// The start of every marker that stands for a value that could not be read:
/// `"<unserializable: {error}>"` when its `Serialize` or `Debug` impl failed, and
/// `"<unserializable: panicked: {message}>"` when it panicked.
pub const UNSERIALIZABLE: &str = "<unserializable: ";

/// `value` as JSON, as every handler receives values: through [`Guarded`] (bounded in depth,
/// secrets redacted). A `Serialize` impl that fails makes the whole value
/// `"<unserializable: {error}>"`; one that panics, `"<unserializable: panicked: {message}>"`
/// (the panic is caught, and the default panic hook still reports it).
///
/// ```
/// use instrument::to_json_guarded;
/// use serde_json::json;
///
/// struct Fails;
/// impl serde::Serialize for Fails {
///     fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
///         Err(serde::ser::Error::custom("no"))
///     }
/// }
///
/// assert_eq!(to_json_guarded(&json!({"q": 1, "token": "t"})), json!({"q": 1, "token": "[REDACTED]"}));
/// assert_eq!(to_json_guarded(&Fails), json!("<unserializable: no>"));
/// ```
#[must_use]
pub fn to_json_guarded<T: Serialize + ?Sized>(value: &T) -> Value {
    guard(|| Guarded::new(value).serialize(serde_json::value::Serializer))
}

/// [`to_json_guarded`], and whether anything in `value` lay deeper than
/// [`crate::MAX_DEPTH`].
pub(crate) fn to_json_noting_cut<T: Serialize + ?Sized>(value: &T) -> (Value, bool) {
    let watch = CutWatch::start();
    let json = to_json_guarded(value);
    (json, watch.finish())
}

/// Appends `value` as compact JSON text to `out`, guarded as [`to_json_guarded`]: on failure, what
/// was written of it is taken back and the marker (a JSON string) written instead.
pub fn write_json_guarded<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    guard_write(out, |out| serde_json::to_writer(out, &Guarded::new(value)));
}

/// `value` as compact JSON text, guarded as [`to_json_guarded`].
///
/// ```
/// let text = instrument::to_json_string_guarded(&serde_json::json!({"token": "t"}));
/// assert_eq!(text, r#"{"token":"[REDACTED]"}"#);
/// ```
#[must_use]
pub fn to_json_string_guarded<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    write_json_guarded(value, &mut out);
    // serde_json writes UTF-8 only.
    String::from_utf8(out)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

/// Runs `write` on `out`; if it fails or panics, takes back what it wrote and writes the marker.
pub(crate) fn guard_write(
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), serde_json::Error>,
) {
    let start = out.len();
    let failed = match catch_unwind(AssertUnwindSafe(|| write(&mut *out))) {
        Ok(Ok(())) => return,
        Ok(Err(error)) => unserializable(&error),
        Err(payload) => panicked(payload),
    };
    out.truncate(start);
    // A JSON string into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, &failed);
}

/// `value`'s `Debug` text. An impl that returns an error makes it
/// `"<unserializable: Debug returned an error>"`; one that panics,
/// `"<unserializable: panicked: {message}>"`.
///
/// Unlike JSON, `Debug` text is neither bounded in depth nor redacted: the library prefers a
/// value's `Serialize` impl whenever it has one.
///
/// ```
/// struct Boom;
/// impl std::fmt::Debug for Boom {
///     fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         Err(std::fmt::Error)
///     }
/// }
///
/// assert_eq!(instrument::debug_text_guarded(&[1, 2]), "[1, 2]");
/// assert_eq!(
///     instrument::debug_text_guarded(&Boom),
///     "<unserializable: Debug returned an error>",
/// );
/// ```
#[must_use]
pub fn debug_text_guarded(value: &dyn fmt::Debug) -> String {
    // `format!` would panic on an impl that returns `Err`; writing into a `String` ourselves
    // returns the error instead.
    match catch_unwind(AssertUnwindSafe(|| {
        let mut text = String::new();
        write!(text, "{value:?}").map(|()| text)
    })) {
        Ok(Ok(text)) => text,
        Ok(Err(fmt::Error)) => format!("{UNSERIALIZABLE}Debug returned an error>"),
        Err(payload) => marker_text(panicked(payload)),
    }
}

/// Runs `serialize`, turning its error or panic into a marker.
pub(crate) fn guard(serialize: impl FnOnce() -> Result<Value, serde_json::Error>) -> Value {
    match catch_unwind(AssertUnwindSafe(serialize)) {
        Ok(Ok(value)) => value,
        Ok(Err(error)) => unserializable(&error),
        Err(payload) => panicked(payload),
    }
}

/// The marker of a value whose impl failed with `error`.
pub(crate) fn unserializable(error: &dyn fmt::Display) -> Value {
    // The error's own `Display` is user code too (a custom serializer error, say).
    let text = catch_unwind(AssertUnwindSafe(|| {
        let mut text = String::new();
        write!(text, "{error}").map(|()| text)
    }));
    match text {
        Ok(Ok(text)) => Value::String(format!("{UNSERIALIZABLE}{text}>")),
        _ => Value::String(format!("{UNSERIALIZABLE}its error could not be shown>")),
    }
}

/// The marker of a value whose impl panicked with `payload`.
pub(crate) fn panicked(payload: Box<dyn std::any::Any + Send>) -> Value {
    let message = panic_message(&*payload);
    // A payload whose own `Drop` panics must not unwind out of here.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    Value::String(format!("{UNSERIALIZABLE}panicked: {message}>"))
}

fn marker_text(marker: Value) -> String {
    match marker {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Panics;

    impl Serialize for Panics {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            panic!("serialize blew up")
        }
    }

    impl fmt::Debug for Panics {
        fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
            panic!("debug blew up")
        }
    }

    #[test]
    fn panics_become_markers() {
        assert_eq!(
            to_json_guarded(&Panics),
            json!("<unserializable: panicked: serialize blew up>")
        );
        assert_eq!(
            debug_text_guarded(&Panics),
            "<unserializable: panicked: debug blew up>"
        );
        let mut out = b"[".to_vec();
        write_json_guarded(&Panics, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[\"<unserializable: panicked: serialize blew up>\""
        );
    }

    #[test]
    fn errors_inside_a_value_cost_the_value() {
        let map: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let Value::String(marker) = to_json_guarded(&map) else {
            panic!("not a marker");
        };
        assert!(marker.starts_with(UNSERIALIZABLE), "{marker}");
    }
}
