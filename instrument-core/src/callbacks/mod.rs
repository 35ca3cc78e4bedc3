//! The legacy callback API, in the image of LlamaIndex's `callbacks` module: [`CallbackHandler`]s
//! registered on a [`CallbackManager`] are told when events ([`CBEventType`], with a [`Payload`])
//! start and end, and when traces start and end, with the [`TraceMap`] of each trace.
//!
//! Unlike LlamaIndex, which keeps the open-event stack and the trace map in globals, the state here
//! is per trace and per thread or task: two requests traced at once get two trace maps. A trace is
//! current on the thread that began it ([`CallbackManager::as_trace`]), inside the future that
//! carries it ([`CallbackManager::with_trace_async`]), and wherever its [`TraceHandle`] is attached.
//!
//! ```
//! use instrument::callbacks::{CallbackManager, CBEventType, ROOT_EVENT_ID};
//!
//! let manager = CallbackManager::default();
//! manager.with_trace("index", || {
//!     let parse = manager.event(CBEventType::NodeParsing, None).unwrap();
//!     assert_eq!(parse.parent_id(), ROOT_EVENT_ID);
//!     let chunk = manager.event(CBEventType::Chunking, None).unwrap();
//!     assert_eq!(chunk.parent_id(), parse.id());
//! });
//! ```

mod bridge;
mod event_type;
mod handler;
mod manager;
mod payload;
mod trace;
mod trace_map;

pub use bridge::{CallbackBridge, DEFAULT_MAX_SPANS, MAX_OPEN_EVENTS_PER_SPAN};
pub use event_type::{CBEventType, ParseCBEventTypeError};
pub use handler::{CallbackError, CallbackHandler};
pub use manager::{CallbackManager, EventGuard};
pub use payload::{EventPayload, ParseEventPayloadError, Payload};
pub use trace::{TraceGuard, TraceHandle, WithTrace};
pub use trace_map::{ROOT_EVENT_ID, TraceMap};
