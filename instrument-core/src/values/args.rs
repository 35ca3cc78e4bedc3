//! Captured arguments and return values: borrowed, and turned into text or JSON only when a handler
//! asks.
//!
//! `#[span]` builds one [`Arg`] per bound argument: a name, the type's name, and references to the value
//! through whichever of `serde::Serialize` and `Debug` its type implements (chosen at compile time by
//! autoref probing, so a type with neither still compiles). Building an `Arg` stores four pointers;
//! nothing is cloned, formatted or serialised unless a handler calls one of the readers below.

use std::fmt;

use serde_json::Value;

use crate::values::bounded_serialize::Guarded;
use crate::values::sensitive::{REDACTED, is_sensitive_key};
use crate::values::value_guard;

/// Object-safe serialisation to JSON, for any `T: Serialize`, through [`Guarded`]: nested no
/// deeper than [`crate::MAX_DEPTH`], secrets redacted.
///
/// Exists so that an [`Arg`] can hold `&dyn SerializeValue` without knowing its type. These
/// methods pass a panic of the value's `Serialize` impl on; [`Arg::to_json`] catches it.
pub trait SerializeValue {
    /// The value as a JSON value.
    ///
    /// # Errors
    /// When the value's `Serialize` impl fails (a map with non-string keys, say).
    fn to_json_value(&self) -> Result<Value, serde_json::Error>;

    /// The value as JSON text appended to `out`.
    ///
    /// # Errors
    /// As [`SerializeValue::to_json_value`].
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error>;
}

impl<T: serde::Serialize + ?Sized> SerializeValue for T {
    fn to_json_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(Guarded::new(self))
    }

    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        serde_json::to_writer(out, &Guarded::new(self))
    }
}

/// Whether an [`Arg`]'s value is withheld.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Redaction {
    /// When its name is a secret, built-in or added at run time ([`is_sensitive_key`]).
    ByName,
    /// Always: `#[span]` found its name secret at compile time.
    Always,
    /// Never: listed in `#[span(capture(..))]`.
    Never,
}

/// One captured value: an argument of a span, or a span's return value.
///
/// ```
/// use instrument::Arg;
///
/// let query = "what is a span?";
/// let arg = Arg::new("query", &query);
/// assert_eq!(arg.name(), "query");
/// assert_eq!(arg.to_json(), serde_json::json!("what is a span?"));
/// assert_eq!(arg.debug_text(), "\"what is a span?\"");
///
/// let key = Arg::redacted("api_key");
/// assert!(key.is_redacted());
/// assert_eq!(key.to_json(), serde_json::json!("[REDACTED]"));
///
/// // Secrets inside a value are redacted too.
/// let config = serde_json::json!({"model": "gpt-4o", "password": "hunter2"});
/// assert_eq!(
///     Arg::new("config", &config).to_json(),
///     serde_json::json!({"model": "gpt-4o", "password": "[REDACTED]"}),
/// );
/// ```
#[derive(Clone, Copy)]
pub struct Arg<'a> {
    name: &'static str,
    type_name: &'static str,
    serde: Option<&'a dyn SerializeValue>,
    debug: Option<&'a dyn fmt::Debug>,
    redaction: Redaction,
}

impl<'a> Arg<'a> {
    /// An argument whose type is both `Serialize` and `Debug`.
    pub fn new<T: serde::Serialize + fmt::Debug>(name: &'static str, value: &'a T) -> Self {
        Self::from_parts(name, std::any::type_name::<T>(), Some(value), Some(value))
    }

    /// An argument from whatever views of it exist; `#[span]` calls this with the probes' results.
    #[must_use]
    pub fn from_parts(
        name: &'static str,
        type_name: &'static str,
        serde: Option<&'a dyn SerializeValue>,
        debug: Option<&'a dyn fmt::Debug>,
    ) -> Self {
        Self {
            name,
            type_name,
            serde,
            debug,
            redaction: Redaction::ByName,
        }
    }

    /// An argument whose value must not leave the program: only its name is kept.
    #[must_use]
    pub fn redacted(name: &'static str) -> Arg<'static> {
        Arg {
            name,
            type_name: "",
            serde: None,
            debug: None,
            redaction: Redaction::Always,
        }
    }

    /// This argument, never redacted for its name (as `#[span(capture(..))]` makes it); secrets
    /// nested inside its value still are.
    #[must_use]
    pub fn never_redacted(self) -> Self {
        Self {
            redaction: Redaction::Never,
            ..self
        }
    }

    /// The argument's name as written in the function's signature (`"return"` for a return value).
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The value's Rust type name (empty when redacted).
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// Whether the value is withheld because its name looks like a secret: one of the built-in
    /// names, or one added with [`crate::add_sensitive_name`].
    #[must_use]
    pub fn is_redacted(&self) -> bool {
        match self.redaction {
            Redaction::Always => true,
            Redaction::Never => false,
            Redaction::ByName => is_sensitive_key(self.name),
        }
    }

    /// The value's `Serialize` view, when its type has one.
    #[must_use]
    pub fn serde(&self) -> Option<&'a dyn SerializeValue> {
        self.serde
    }

    /// The value's `Debug` view, when its type has one.
    #[must_use]
    pub fn debug(&self) -> Option<&'a dyn fmt::Debug> {
        self.debug
    }

    /// The value as JSON: through `Serialize` when it can, else its `Debug` text as a string, else its
    /// type name in angle brackets. Redacted values are `"[REDACTED]"`.
    ///
    /// Serialisation goes through [`Guarded`]: what lies deeper than [`crate::MAX_DEPTH`] is
    /// `"<too deep>"`, and struct fields and map keys named like secrets are `"[REDACTED]"`. A
    /// `Serialize` (or `Debug`) impl that fails or panics makes the value a marker,
    /// `"<unserializable: ...>"`; it never panics.
    #[must_use]
    pub fn to_json(&self) -> Value {
        if self.is_redacted() {
            return Value::String(REDACTED.to_owned());
        }
        if let Some(serde) = self.serde {
            return value_guard::guard(|| serde.to_json_value());
        }
        Value::String(self.debug_text())
    }

    /// The value as text: `Debug` when it can, else compact JSON, else `<type name>`. A `Debug`
    /// (or `Serialize`) impl that fails or panics makes the text a marker,
    /// `<unserializable: ...>`; it never panics.
    #[must_use]
    pub fn debug_text(&self) -> String {
        if self.is_redacted() {
            return REDACTED.to_owned();
        }
        if let Some(debug) = self.debug {
            return value_guard::debug_text_guarded(debug);
        }
        if let Some(serde) = self.serde {
            let mut out = Vec::new();
            value_guard::guard_write(&mut out, |out| serde.write_json(out));
            return String::from_utf8_lossy(&out).into_owned();
        }
        format!("<{}>", self.type_name)
    }
}

impl fmt::Debug for Arg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.debug_text())
    }
}
