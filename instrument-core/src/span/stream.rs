//! Streams returned by `#[span]` functions: the span lasts until the stream ends or is dropped.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::span::{BoxedState, SpanState};

/// A stream whose polls run inside a span. The span exits when the stream yields its last item, and
/// is dropped as `"cancelled"` when the stream is dropped before that. Made by `#[span]` on functions
/// returning `impl Stream`.
#[must_use = "streams do nothing unless polled"]
pub struct InstrumentedStream<S> {
    state: Option<BoxedState>,
    stream: S,
}

impl<S> InstrumentedStream<S> {
    /// Runs `make` inside `state` (when there is one) and wraps the stream it returns.
    #[doc(hidden)]
    pub fn start(state: Option<SpanState>, make: impl FnOnce() -> S) -> Self {
        match state {
            None => Self {
                state: None,
                stream: make(),
            },
            Some(state) => {
                let mut state = Box::pin(state);
                let stream = state.as_mut().run(make);
                Self {
                    state: Some(state),
                    stream,
                }
            }
        }
    }
}

impl<S: Stream> Stream for InstrumentedStream<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        // SAFETY: `stream` is structurally pinned: never moved out, and there is no Drop impl.
        let this = unsafe { self.get_unchecked_mut() };
        let stream = unsafe { Pin::new_unchecked(&mut this.stream) };
        let Some(state) = &mut this.state else {
            return stream.poll_next(cx);
        };
        let poll = state.as_mut().run(|| stream.poll_next(cx));
        if let Poll::Ready(None) = poll
            && let Some(mut state) = this.state.take()
        {
            state.as_mut().exit(None);
        }
        poll
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }
}

impl<S> fmt::Debug for InstrumentedStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedStream")
            .field("span", &self.state.as_ref().map(|s| s.id()))
            .finish_non_exhaustive()
    }
}
