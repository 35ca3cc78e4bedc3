//! Spans: their ids and clock, what handlers see when one starts and ends, the state that carries
//! a span from its start to exactly one end, the table of open spans shutdown reaches, and the
//! manual and stream forms.

pub(crate) mod clock;
mod core_state;
pub(crate) mod fence;
pub(crate) mod id;
mod instrumented;
pub(crate) mod manual;
pub(crate) mod open_spans;
mod outcome;
mod place;
mod run_sync;
mod shutdown;
mod start;
mod state;
pub(crate) mod stream;

pub(crate) use core_state::SpanCore;
pub use core_state::SpanEnd;
pub use instrumented::{Instrumented, instrument};
pub use outcome::{CANCELLED, DropReason, ErrorText, Outcome, SHUTDOWN};
pub use place::SpanPlace;
pub use run_sync::{StartHook, run_sync};
pub(crate) use shutdown::take_for_shutdown;
pub use start::SpanStart;
pub(crate) use state::BoxedState;
pub use state::{Parent, SpanState};
