//! A future that runs inside a span on every poll.

use std::fmt;
use std::pin::Pin;

use super::place::SpanPlace;

/// A future running inside a span, when there is one: the span is current during every poll, and a
/// panic in a poll drops the span with the panic's message. Made by `#[span]` on `async fn`, which
/// awaits it once whether or not a handler listens, and ends the span from the output after.
#[doc(hidden)]
#[must_use = "futures do nothing unless polled"]
pub struct Instrumented<'s, F> {
    pub(super) state: Pin<&'s mut SpanPlace>,
    pub(super) future: F,
}

/// Wraps `future` so that it runs inside `state`'s span, if any, on every poll.
#[doc(hidden)]
#[inline]
pub fn instrument<F: Future>(state: Pin<&mut SpanPlace>, future: F) -> Instrumented<'_, F> {
    Instrumented { state, future }
}

impl<F: Future> Future for Instrumented<'_, F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: never moved out, and there is no Drop impl.
        let this = unsafe { self.get_unchecked_mut() };
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        match this.state.as_mut().span_state() {
            None => future.poll(cx),
            Some(state) => state.run(move || future.poll(cx)),
        }
    }
}

impl<F> fmt::Debug for Instrumented<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instrumented")
            .field("started", &self.state.started)
            .finish_non_exhaustive()
    }
}
