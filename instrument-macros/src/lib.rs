//! The procedural macros of [`instrument`](https://docs.rs/instrument): `#[span]` and
//! `#[derive(Event)]`. Use them through the facade, which re-exports both.
//!
//! Each macro is a small compiler: `span/attr.rs` and `event/attr.rs` parse the options,
//! `span/item.rs` the function, `span/valid.rs` checks options against the function, and the
//! `expand.rs` files generate. Every mistake is an error on the user's own token.

mod ctxt;
mod event;
mod option;
mod path;
mod span;

use proc_macro::TokenStream;

/// Records each call of a function as a span on a dispatcher.
///
/// A call asks the function's dispatcher (by default the one named after its module,
/// `module_path!()`) for its handlers; with none anywhere up its chain, the call costs one atomic
/// load and a branch. Otherwise the span starts with the arguments captured by reference (read by
/// handlers only if they ask), runs the body with the span current, and ends exactly once:
///
/// - returning normally (`Ok` for a `Result`), it *exits* with the return value;
/// - returning `Err`, it is *dropped* with the error's `Display` text, and a `SpanDropEvent` is
///   emitted;
/// - panicking, it is dropped with the panic message, and the panic goes on;
/// - for an `async fn` (or a function returning `impl Future`), the span covers every poll and is
///   dropped as `"cancelled"` if the future is dropped before it completes;
/// - for a function returning `impl Stream`, the span lasts until the stream is exhausted, or is
///   dropped as `"cancelled"` with the stream.
///
/// Methods (functions with a `self` receiver) make spans named `Type.method`; `self` is not
/// captured.
///
/// ```rust
/// use instrument::span;
///
/// #[span(dispatcher = "my_app::rag", skip(client))]
/// fn retrieve(client: &Client, query: &str, top_k: usize) -> Result<Vec<String>, Error> {
///     if query.is_empty() {
///         return Err(Error("empty query"));
///     }
///     Ok(client.search(query, top_k))
/// }
///
/// struct Client;
/// impl Client {
///     fn search(&self, query: &str, top_k: usize) -> Vec<String> {
///         (0..top_k).map(|i| format!("{query}#{i}")).collect()
///     }
/// }
///
/// #[derive(Debug)]
/// struct Error(&'static str);
/// impl std::fmt::Display for Error {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str(self.0)
///     }
/// }
///
/// assert_eq!(retrieve(&Client, "rust", 2).unwrap(), ["rust#0", "rust#1"]);
/// assert!(retrieve(&Client, "", 2).is_err());
/// ```
///
/// # Options
///
/// | option | effect |
/// | --- | --- |
/// | `name = "x"` | the span's name (default: the function's name, `Type.method` for methods) |
/// | `dispatcher = "a::b"` | the dispatcher to report to (default: `module_path!()`) |
/// | `skip(a, b)` | do not capture these arguments |
/// | `skip_all` | capture no argument (but those in `capture(..)`) |
/// | `skip_ret` | do not capture the return value |
/// | `capture(api_key)` | capture these even under `skip_all`, and never redact them |
/// | `fields(len = query.len(), ..)` | more named values at the span's start, after the arguments (evaluated only when a handler listens; `%v` and `?v` accepted) |
/// | `crate = "::path"` | where the `instrument` facade is, if re-exported under another name |
///
/// `tracing`'s `ret`, `err` (with or without a format) and `skip(self)` are accepted and change
/// nothing: the return value and the error are always recorded (unless `skip_ret`), and `self` is
/// never captured. `level` is refused with the reason: a span is recorded wherever a handler
/// listens, so choose what is recorded by where you add handlers.
///
/// Arguments whose names look like secrets (`api_key`, `password`, `token`, `secret`,
/// `authorization`, also as a `_`-separated suffix such as `openai_api_key`, and names added with
/// `instrument::add_sensitive_name`) are redacted unless listed in `capture(..)`; fields and map
/// keys named like secrets inside any captured value are redacted in every case:
///
/// ```rust
/// #[instrument::span(skip_all, capture(model))]
/// async fn complete(model: &str, prompt: &str, api_key: &str) -> String {
///     format!("{model}: {prompt} ({} key bytes)", api_key.len())
/// }
/// # let _ = complete("m", "p", "k");
/// ```
///
/// Applying `#[span]` twice to one function makes one span, the inner attribute's.
#[proc_macro_attribute]
pub fn span(options: TokenStream, item: TokenStream) -> TokenStream {
    span::expand(options.into(), item.into()).into()
}

/// Implements `instrument::Event` for a type that implements `serde::Serialize`.
///
/// The event's `class_name` is the type's name, or the one given with `#[event(name = "...")]`;
/// its `to_json` is the type serialised with `instrument::to_json_guarded` (bounded in depth,
/// secrets redacted, a failing or panicking field's `Serialize` turned into an
/// `"<unserializable: ...>"` payload), so it never fails. Works for structs (named, tuple, unit)
/// and enums, generic or not; the impl requires `Self: Serialize + 'static`.
///
/// ```rust
/// use instrument::Event;
///
/// #[derive(Event, serde::Serialize)]
/// #[event(name = "CacheHit")]
/// struct Hit {
///     key: String,
///     age_ms: u64,
/// }
///
/// let hit = Hit { key: "q".into(), age_ms: 7 };
/// assert_eq!(hit.class_name(), "CacheHit");
/// assert_eq!(hit.to_json().unwrap()["age_ms"], 7);
/// ```
///
/// # Options
///
/// | option | effect |
/// | --- | --- |
/// | `name = "x"` | the event's class name (default: the type's name) |
/// | `crate = "::path"` | where the `instrument` facade is, if re-exported under another name |
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    event::derive(input.into()).into()
}
