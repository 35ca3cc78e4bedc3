//! Where a `#[span]` function's span state lives: written in place when the span starts and never
//! moved, so that starting a span copies nothing and ending one leaves nothing to drop.

use std::mem::MaybeUninit;
use std::pin::Pin;

use crate::dispatch::dispatcher::Chain;
use crate::values::args::Arg;

use super::state::{Parent, SpanState};

/// A span state's place in a `#[span]` function's frame (`run_sync`) or future (`async fn`): the
/// state is written into it when the span starts, never moved, and dropped in place, so that an
/// `async fn`'s future does not copy a span state into itself. Dropping the place while its span
/// is open ends the span as cancelled; a state that has ended and owns nothing is forgotten
/// rather than dropped (its drop would only check that it ended). Not API.
#[doc(hidden)]
pub struct SpanPlace {
    pub(super) state: MaybeUninit<SpanState>,
    pub(super) started: bool,
}

impl SpanPlace {
    /// A place with no span in it, its state left uninitialised: written field by field, because
    /// a struct literal holding `MaybeUninit::uninit()` is zero-filled (a `memset` of the whole
    /// state per span, measured with callgrind).
    #[inline(always)]
    #[must_use]
    pub fn empty() -> Self {
        let mut place = MaybeUninit::<Self>::uninit();
        // SAFETY: `started` is the only field that needs a value; `state` is `MaybeUninit`.
        unsafe {
            (&raw mut (*place.as_mut_ptr()).started).write(false);
            place.assume_init()
        }
    }

    /// A place holding `state`, a span started before its place existed (a function returning
    /// `impl Future` starts its span when called, then moves it into the future).
    #[inline]
    #[must_use]
    pub fn holding(state: Option<SpanState>) -> Self {
        let mut place = Self::empty();
        if let Some(state) = state {
            place.state.write(state);
            place.started = true;
        }
        place
    }

    /// Starts a span here under `parent`, the context captured where the span was asked for (an
    /// `async fn` takes it when called and starts its span when first polled); nothing when there
    /// is no parent to start under (the call was made inside a handler, or in a left-out trace).
    #[inline]
    pub fn start_under(
        self: Pin<&mut Self>,
        parent: Option<Parent>,
        chain: &'static Chain,
        name: &'static str,
        dispatcher: &'static str,
        instance: Option<&'static str>,
        args: &[Arg<'_>],
    ) {
        // SAFETY: the state is written in place and not moved.
        let this = unsafe { self.get_unchecked_mut() };
        // A place holds one span: a second start (which generated code never makes) is ignored
        // rather than written over a live state.
        let Some(parent) = parent.filter(|_| !this.started) else {
            return;
        };
        SpanState::start_in(
            &mut this.state,
            parent,
            chain,
            name,
            dispatcher,
            instance,
            args,
        );
        this.started = true;
    }

    /// The span state, if a span started here.
    #[inline]
    #[must_use]
    pub fn span_state(self: Pin<&mut Self>) -> Option<Pin<&mut SpanState>> {
        // SAFETY: the place is pinned, so the state in it is too.
        unsafe { self.get_unchecked_mut().pinned() }
    }

    /// The span state, if a span started here: for a place its owner never moves (`run_sync`'s
    /// local).
    #[inline]
    pub(super) fn pinned(&mut self) -> Option<Pin<&mut SpanState>> {
        // SAFETY: `state` is initialised when `started`; the place is never moved while its
        // state is in use (a pinned place, or `run_sync`'s local), and its Drop drops the state
        // in place, so the pin's guarantees hold.
        self.started
            .then(|| unsafe { Pin::new_unchecked(self.state.assume_init_mut()) })
    }
}

impl Drop for SpanPlace {
    fn drop(&mut self) {
        // SAFETY: initialised when `started`, and dropped at most once, here. A state that has
        // ended and owns nothing is forgotten rather than dropped: its drop would only check that
        // it ended, and its slot among the open spans was released when it did.
        unsafe {
            if self.started && !self.state.assume_init_ref().ended_and_plain() {
                self.state.assume_init_drop();
            }
        }
    }
}
