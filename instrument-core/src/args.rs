//! Captured arguments and return values: borrowed, and turned into text or JSON only when a handler
//! asks.
//!
//! `#[span]` builds one [`Arg`] per bound argument: a name, the type's name, and references to the value
//! through whichever of `serde::Serialize` and `Debug` its type implements (chosen at compile time by
//! autoref probing, so a type with neither still compiles). Building an `Arg` stores four pointers;
//! nothing is cloned, formatted or serialised unless a handler calls one of the readers below.

use std::fmt;

use serde_json::Value;

/// Text that stands for a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// Object-safe serialisation to JSON, for any `T: Serialize`.
///
/// Exists so that an [`Arg`] can hold `&dyn SerializeValue` without knowing its type.
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
        serde_json::to_value(self)
    }

    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        serde_json::to_writer(out, self)
    }
}

/// One captured value: an argument of a span, or a span's return value.
///
/// ```
/// use instrument_core::Arg;
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
/// ```
#[derive(Clone, Copy)]
pub struct Arg<'a> {
    name: &'static str,
    type_name: &'static str,
    serde: Option<&'a dyn SerializeValue>,
    debug: Option<&'a dyn fmt::Debug>,
    redacted: bool,
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
            redacted: false,
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
            redacted: true,
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

    /// Whether the value was withheld because its name looks like a secret.
    #[must_use]
    pub fn is_redacted(&self) -> bool {
        self.redacted
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
    #[must_use]
    pub fn to_json(&self) -> Value {
        if self.redacted {
            return Value::String(REDACTED.to_owned());
        }
        if let Some(value) = self.serde.and_then(|s| s.to_json_value().ok()) {
            return value;
        }
        Value::String(self.debug_text())
    }

    /// The value as text: `Debug` when it can, else compact JSON, else `<type name>`.
    #[must_use]
    pub fn debug_text(&self) -> String {
        if self.redacted {
            return REDACTED.to_owned();
        }
        if let Some(debug) = self.debug {
            return format!("{debug:?}");
        }
        if let Some(text) = self.serde.and_then(|s| {
            let mut out = Vec::new();
            s.write_json(&mut out).ok()?;
            String::from_utf8(out).ok()
        }) {
            return text;
        }
        format!("<{}>", self.type_name)
    }
}

impl fmt::Debug for Arg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.debug_text())
    }
}

/// Whether an argument called `name` is redacted by default: `api_key`, `password`, `token`,
/// `secret` or `authorization`, in any case, as the whole name or as its `_`-separated suffix (so
/// `openai_api_key` and `access_token` are redacted, `tokens` and `tokenizer` are not).
///
/// It is a `const fn`: `#[span]` evaluates it at compile time, so it costs nothing at run time.
///
/// ```
/// use instrument_core::is_sensitive_name;
///
/// assert!(is_sensitive_name("api_key"));
/// assert!(is_sensitive_name("OPENAI_API_KEY"));
/// assert!(is_sensitive_name("access_token"));
/// assert!(is_sensitive_name("Authorization"));
/// assert!(!is_sensitive_name("max_tokens"));
/// assert!(!is_sensitive_name("tokenizer"));
/// ```
#[must_use]
pub const fn is_sensitive_name(name: &str) -> bool {
    const SECRETS: [&[u8]; 6] = [
        b"api_key",
        b"apikey",
        b"password",
        b"token",
        b"secret",
        b"authorization",
    ];
    let mut bytes = name.as_bytes();
    if let [b'r', b'#', rest @ ..] = bytes {
        bytes = rest;
    }
    let mut i = 0;
    while i < SECRETS.len() {
        let secret = SECRETS[i];
        if bytes.len() == secret.len() && ends_with_ignore_case(bytes, secret) {
            return true;
        }
        if bytes.len() > secret.len()
            && bytes[bytes.len() - secret.len() - 1] == b'_'
            && ends_with_ignore_case(bytes, secret)
        {
            return true;
        }
        i += 1;
    }
    false
}

/// `const` stand-in for `haystack.to_ascii_lowercase().ends_with(suffix)`; `suffix` is lower case.
const fn ends_with_ignore_case(haystack: &[u8], suffix: &[u8]) -> bool {
    if haystack.len() < suffix.len() {
        return false;
    }
    let offset = haystack.len() - suffix.len();
    let mut i = 0;
    while i < suffix.len() {
        if haystack[offset + i].to_ascii_lowercase() != suffix[i] {
            return false;
        }
        i += 1;
    }
    true
}
