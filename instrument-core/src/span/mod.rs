//! Spans: what handlers see when one starts and ends, and the state that carries a span from its
//! start to exactly one end.

mod core_state;
mod instrumented;
mod outcome;
mod run_sync;
mod shutdown;
mod start;
mod state;

pub(crate) use core_state::SpanCore;
pub use core_state::SpanEnd;
pub use instrumented::{Instrumented, instrument};
pub use outcome::{CANCELLED, DropReason, ErrorText, Outcome, SHUTDOWN};
pub use run_sync::{StartHook, run_sync};
pub(crate) use shutdown::take_for_shutdown;
pub use start::SpanStart;
pub(crate) use state::BoxedState;
pub use state::{Parent, SpanState};
