//! The core of `instrument`: the dispatcher tree, spans and span handlers, events and event handlers,
//! the current-span context, tags and propagation.
//!
//! Most users depend on the `instrument` facade crate, which re-exports all of this together with the
//! `#[span]` and `#[derive(Event)]` macros and the ready handlers.
//!
//! # The hot path
//! A `#[span]` function whose dispatcher has no handler anywhere in its chain costs one atomic load
//! and a branch. With handlers, a span costs an id from a per-thread counter, two monotonic clock
//! reads, a thread-local swap of the current span, one slot in a per-thread table of open spans, and
//! the handlers' own work; no UUID, no formatting, no map and no lock.
//!
//! ```
//! use instrument::{get_dispatcher, EventEnvelope, EventHandler, SpanDropEvent};
//!
//! struct Print;
//! impl EventHandler for Print {
//!     fn handle(&self, event: &EventEnvelope<'_>) {
//!         println!("{} in {:?}", event.class_name(), event.span_id());
//!     }
//! }
//!
//! let dispatcher = get_dispatcher("my_app::docs");
//! dispatcher.add_event_handler(Print);
//! dispatcher.in_span("step", || dispatcher.event(SpanDropEvent {
//!     span_id: instrument::SpanId::new("demo"),
//!     err_str: "just a demo".into(),
//! }));
//! ```

#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod batch;
pub mod callbacks;
mod context;
mod dispatch;
pub mod events;
pub mod llm;
mod span;
mod values;

#[doc(hidden)]
pub mod __private;

pub use batch::{BATCH_LEN, BatchSpanHandler, Capture, EndedSpan, flush};
#[cfg(feature = "tokio")]
pub use context::current::spawn;
pub use context::current::{
    Context, ContextGuard, CurrentSpan, FutureExt, WithContext, current_span, thread,
};
pub use context::propagation::{
    PropagationContext, PropagationError, capture_propagation_context, restore_propagation_context,
    with_propagation_context,
};
pub use context::tagged::{WithTags, current_tags, instrument_tags, instrument_tags_async};
pub use context::tags::Tags;
pub use context::traceparent::{REMOTE_SPAN_NAME, TraceParent, TraceParentError};
pub use context::w3c::{extract_traceparent, inject_traceparent};
pub use dispatch::dispatcher::{
    AnySpanHandler, Dispatcher, ROOT_NAME, get_dispatcher, root, set_filter,
};
pub use dispatch::event::{Event, EventEnvelope};
pub use dispatch::filter::{FILTER_ENV, FilterError};
pub use dispatch::handler::{EventHandler, SpanHandler, handler_panics};
pub use dispatch::intern::{MAX_INTERNED_NAMES, interned_names_refused};
pub use dispatch::shutdown::shutdown;
pub use events::SpanDropEvent;
pub use span::clock::Timestamp;
pub use span::id::{BuildSpanIdHasher, ParseSpanIdError, SpanId, SpanIdHasher};
pub use span::manual::{SpanError, SpanGuard};
pub use span::open_spans::open_span_count;
pub use span::stream::InstrumentedStream;
pub use span::{CANCELLED, DropReason, ErrorText, Outcome, SHUTDOWN, SpanEnd, SpanStart};
pub use values::args::{Arg, SerializeValue};
pub use values::bounded_serialize::{Guarded, MAX_DEPTH, TOO_DEEP};
pub use values::owned_json::{drop_json, sanitize_json};
pub use values::sensitive::{
    REDACTED, add_sensitive_name, is_sensitive_key, is_sensitive_name, sensitive_names,
    set_sensitive_names,
};
pub use values::value_guard::{
    UNSERIALIZABLE, debug_text_guarded, to_json_guarded, to_json_string_guarded, write_json_guarded,
};
