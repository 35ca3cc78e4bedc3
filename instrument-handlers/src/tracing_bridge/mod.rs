//! The `tracing` crate, both ways (feature `tracing`).
//!
//! - [`InstrumentLayer`] is a `tracing_subscriber` layer: the `tracing` spans and events of other
//!   crates (reqwest, tokio, sqlx …) become instrument spans and [`TracingEvent`]s, on the
//!   dispatcher named after each one's target, with their parents right across both worlds.
//!   Spans that follow the OpenTelemetry GenAI conventions (`gen_ai.*` fields, as `rig` records
//!   its model calls) also emit the catalog's LLM, embedding, tool and agent events.
//! - [`TracingForwarder`] is an instrument span and event handler: instrument spans and events
//!   become `tracing` spans and events, for the subscribers already in place.
//!
//! Both can be installed at once: what one brings in, the other does not send back (see
//! [`FORWARD_TARGET`]).
//!
//! ```
//! use instrument::handlers::SimpleSpanHandler;
//! use instrument::handlers::tracing_bridge::InstrumentLayer;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let app = instrument::get_dispatcher("doc_bridge");
//! let spans = app.add_span_handler(SimpleSpanHandler::default());
//! let subscriber = tracing_subscriber::Registry::default().with(InstrumentLayer::new());
//! tracing::subscriber::with_default(subscriber, || {
//!     app.in_span("query", || {
//!         // Another crate's span, inside ours: bridged onto `doc_bridge::http`, under `query`.
//!         tracing::info_span!(target: "doc_bridge::http", "GET", url = "/search").in_scope(|| ());
//!     });
//! });
//! let spans = spans.drain();
//! let query = spans.iter().find(|s| s.name == "query").unwrap();
//! let get = spans.iter().find(|s| s.name == "GET").unwrap();
//! assert_eq!(get.parent_id, Some(query.id));
//! ```

mod entered;
mod event;
mod fields;
mod forward;
mod genai;
mod layer;
mod loop_guard;
mod target;

pub use event::TracingEvent;
pub use forward::{DEFAULT_OPEN_CAPACITY, TracingForwarder};
pub use layer::InstrumentLayer;
pub use loop_guard::FORWARD_TARGET;
