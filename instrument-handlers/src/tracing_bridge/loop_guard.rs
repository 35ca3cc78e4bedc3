//! What keeps the two directions from feeding each other when both are installed.
//!
//! - Spans and events that [`super::TracingForwarder`] makes in `tracing` have the target
//!   [`FORWARD_TARGET`]; [`super::InstrumentLayer`] ignores that target.
//! - While [`super::InstrumentLayer`] starts, ends or emits on instrument's side, a per-thread flag is
//!   up; [`super::TracingForwarder`] ignores every span and event it sees while the flag is up, so a
//!   span that came from `tracing` is never sent back. Instrument handlers run on the thread that
//!   starts, ends or emits, so the flag reaches exactly the calls the layer causes.
//!
//! Instrument's own re-entrancy flag (nothing started inside a handler is recorded) would also stop
//! a loop after one round trip; these marks stop it before the first.

use std::cell::Cell;

/// The `tracing` target of every span and event [`super::TracingForwarder`] makes.
pub const FORWARD_TARGET: &str = "instrument";

thread_local! {
    static BRIDGING: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is inside [`super::InstrumentLayer`]'s call into instrument.
#[inline]
pub(super) fn is_bridging() -> bool {
    BRIDGING.with(Cell::get)
}

/// Whether `tracing` metadata belongs to a span or event that [`super::TracingForwarder`] made.
#[inline]
pub(super) fn is_forwarded(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.target() == FORWARD_TARGET
}

/// Raises the flag until dropped, restoring what it was.
pub(super) struct Bridging(bool);

impl Bridging {
    #[inline]
    pub(super) fn enter() -> Self {
        Self(BRIDGING.with(|flag| flag.replace(true)))
    }
}

impl Drop for Bridging {
    #[inline]
    fn drop(&mut self) {
        BRIDGING.with(|flag| flag.set(self.0));
    }
}
