//! Which names are secrets: a built-in list known at compile time, plus names the program adds.
//!
//! Every value the library turns into JSON is checked against these names: top-level arguments of
//! `#[span]` functions, and every struct field and map key inside arguments, return values, event
//! payloads, tags, recorded metadata, `tracing` fields and callback payloads. A value under a
//! sensitive name becomes [`crate::REDACTED`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

/// Text that stands for a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// The built-in secrets, lower case, `_` as the only separator.
const BUILT_IN: [&[u8]; 6] = [
    b"api_key",
    b"apikey",
    b"password",
    b"token",
    b"secret",
    b"authorization",
];

/// Names the program added, normalised like [`BUILT_IN`].
static CUSTOM: RwLock<Vec<Box<[u8]>>> = RwLock::new(Vec::new());
/// Whether [`CUSTOM`] holds anything: spares the lock on every check when it does not.
static HAS_CUSTOM: AtomicBool = AtomicBool::new(false);

/// Whether `name` is one of the built-in secret names: `api_key`, `apikey`, `password`, `token`,
/// `secret` or `authorization`, in any case, as the whole name or as its suffix after a separator
/// (`_`, `-` or `.`, which also stand for one another: `x-api-key` is `api_key`) or after a
/// camelCase boundary (`accessToken`, `openaiApiKey`). So `openai_api_key`, `access_token` and
/// `Authorization` are secrets; `tokens`, `max_tokens` and `tokenizer` are not.
///
/// It is a `const fn`: `#[span]` evaluates it at compile time for argument names, so it costs
/// nothing at run time. Names added with [`add_sensitive_name`] are checked by
/// [`is_sensitive_key`].
///
/// ```
/// use instrument::is_sensitive_name;
///
/// assert!(is_sensitive_name("api_key"));
/// assert!(is_sensitive_name("OPENAI_API_KEY"));
/// assert!(is_sensitive_name("access_token"));
/// assert!(is_sensitive_name("accessToken"));
/// assert!(is_sensitive_name("x-api-key"));
/// assert!(is_sensitive_name("Authorization"));
/// assert!(!is_sensitive_name("max_tokens"));
/// assert!(!is_sensitive_name("tokenizer"));
/// ```
#[must_use]
pub const fn is_sensitive_name(name: &str) -> bool {
    let mut bytes = name.as_bytes();
    if let [b'r', b'#', rest @ ..] = bytes {
        bytes = rest;
    }
    let mut i = 0;
    while i < BUILT_IN.len() {
        if names_secret(bytes, BUILT_IN[i]) {
            return true;
        }
        i += 1;
    }
    false
}

/// Whether a value under `name` is redacted: a built-in secret name ([`is_sensitive_name`]) or
/// one added with [`add_sensitive_name`] or [`set_sensitive_names`], matched the same way (any
/// case, whole name or suffix).
///
/// ```
/// instrument::add_sensitive_name("ssn");
/// assert!(instrument::is_sensitive_key("customer_ssn"));
/// assert!(instrument::is_sensitive_key("password"));
/// assert!(!instrument::is_sensitive_key("query"));
/// ```
#[must_use]
pub fn is_sensitive_key(name: &str) -> bool {
    is_sensitive_name(name) || is_custom_sensitive(name)
}

/// Whether `name` matches a name the program added (not the built-in ones).
#[inline]
pub(crate) fn is_custom_sensitive(name: &str) -> bool {
    if !HAS_CUSTOM.load(Ordering::Acquire) {
        return false;
    }
    let custom = CUSTOM.read().unwrap_or_else(PoisonError::into_inner);
    custom
        .iter()
        .any(|secret| names_secret(name.as_bytes(), secret))
}

/// Adds `name` to the secret names, process-wide, on top of the built-in ones: from now on a
/// value under this name (an argument, a struct field, a map key, a tag, recorded metadata, a
/// `tracing` field) is redacted wherever it is turned into JSON. Matching is as for the built-in
/// names: any case, `_`, `-` and `.` alike, as the whole name or as a suffix.
///
/// Values already turned into JSON (tags made, payloads built, spans already exported) keep what
/// they had: add names at startup, before anything is traced.
///
/// ```
/// instrument::add_sensitive_name("session_cookie");
/// assert!(instrument::is_sensitive_key("Session-Cookie"));
/// ```
pub fn add_sensitive_name(name: impl Into<String>) {
    let name = normalise(&name.into());
    if name.is_empty() {
        return;
    }
    let mut custom = CUSTOM.write().unwrap_or_else(PoisonError::into_inner);
    if !custom.contains(&name) {
        custom.push(name);
    }
    HAS_CUSTOM.store(true, Ordering::Release);
}

/// Replaces the names added with [`add_sensitive_name`] by `names`, process-wide; the built-in
/// names always stay. An empty list leaves only the built-in ones.
///
/// ```
/// instrument::set_sensitive_names(["pin", "otp"]);
/// assert!(instrument::is_sensitive_key("card_pin"));
/// assert_eq!(instrument::sensitive_names(), ["pin", "otp"]);
/// instrument::set_sensitive_names(Vec::<String>::new());
/// assert!(!instrument::is_sensitive_key("card_pin"));
/// assert!(instrument::is_sensitive_key("api_key"));
/// ```
pub fn set_sensitive_names<I, S>(names: I)
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut list: Vec<Box<[u8]>> = Vec::new();
    for name in names {
        let name = normalise(&name.into());
        if !name.is_empty() && !list.contains(&name) {
            list.push(name);
        }
    }
    let mut custom = CUSTOM.write().unwrap_or_else(PoisonError::into_inner);
    HAS_CUSTOM.store(!list.is_empty(), Ordering::Release);
    *custom = list;
}

/// The names added with [`add_sensitive_name`] or [`set_sensitive_names`], normalised (lower
/// case, `_` for `-` and `.`); the built-in ones are not listed.
#[must_use]
pub fn sensitive_names() -> Vec<String> {
    CUSTOM
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect()
}

fn normalise(name: &str) -> Box<[u8]> {
    name.bytes().map(fold).collect()
}

/// One byte as secrets are compared: lower case, with `-` and `.` as `_`.
const fn fold(byte: u8) -> u8 {
    match byte {
        b'-' | b'.' => b'_',
        other => other.to_ascii_lowercase(),
    }
}

/// Whether `name` is `secret` (normalised) or ends with it after a separator or a camelCase
/// boundary.
const fn names_secret(name: &[u8], secret: &[u8]) -> bool {
    if secret.is_empty() || name.len() < secret.len() || !ends_with_folded(name, secret) {
        return false;
    }
    let start = name.len() - secret.len();
    if start == 0 {
        return true;
    }
    let before = name[start - 1];
    if fold(before) == b'_' {
        return true;
    }
    // `accessToken`: the suffix starts a new word in camelCase.
    name[start].is_ascii_uppercase() && (before.is_ascii_lowercase() || before.is_ascii_digit())
}

/// `const` stand-in for `name.ends_with(secret)` with `name`'s bytes folded; `secret` is folded.
const fn ends_with_folded(name: &[u8], secret: &[u8]) -> bool {
    let offset = name.len() - secret.len();
    let mut i = 0;
    while i < secret.len() {
        if fold(name[offset + i]) != secret[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_names_match_whole_or_as_suffix() {
        for name in [
            "api_key",
            "r#token",
            "OpenAI_API_Key",
            "x-api-key",
            "openai.api_key",
            "apiKey",
            "openaiApiKey",
            "sessionToken",
            "db_password",
            "client_secret",
            "Authorization",
        ] {
            assert!(is_sensitive_name(name), "{name}");
        }
        for name in [
            "tokens",
            "max_tokens",
            "maxTokens",
            "tokenizer",
            "query",
            "secretary",
            "",
        ] {
            assert!(!is_sensitive_name(name), "{name}");
        }
    }

    #[test]
    fn secret_must_start_a_word() {
        assert!(!is_sensitive_name("mytoken"));
        assert!(!is_sensitive_name("passwords"));
        assert!(is_sensitive_name("myToken"));
        assert!(is_sensitive_name("v2Token"));
    }
}
