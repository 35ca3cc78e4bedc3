//! Running a synchronous `#[span]` body inside a span.

use std::pin::Pin;

use crate::context::current::{Scope, UNSAMPLED};
use crate::dispatch::dispatcher::{Chain, KEEP_ALL};
use crate::span::id::SpanId;
use crate::values::args::Arg;

use super::place::SpanPlace;
use super::state::{Began, Parent, Root, SpanState};

/// The start of a span as a synchronous `#[span]` function's body reports it: a callback the body
/// calls with its arguments, before running, when a handler listens.
#[doc(hidden)]
pub type StartHook<'h> = &'h mut dyn FnMut(&[Arg<'_>]);

/// Runs a synchronous `#[span]` function's body inside a span; not API.
///
/// The body holds the arguments (moved into its closure), so it reports them itself by calling the
/// hook before it runs; the span's state lives here, in this out-of-line frame, so that the
/// instrumented function itself stays small and its idle path cheap. `finish` ends the span from the
/// return value (exit, or drop for `Err`); a panic drops it with the panic's message.
#[doc(hidden)]
#[inline(never)]
pub fn run_sync<R>(
    chain: &'static Chain,
    callsite: &'static crate::dispatch::callsite::Callsite,
    instance: Option<&'static str>,
    body: impl FnOnce(Option<StartHook<'_>>) -> R,
    finish: impl FnOnce(Pin<&mut SpanState>, &R),
) -> R {
    // A dispatcher that samples decides a root before the body runs, so that a root it leaves
    // out costs a decision and a marked scope, not a span's machinery.
    let name = callsite.span_name(instance);
    let mut decided = None;
    if chain.sample != KEEP_ALL {
        match Parent::decide_root(chain, name) {
            Root::Child => {}
            Root::Kept(id) => decided = Some(id),
            Root::LeftOut { id, trace } => return run_left_out(id, trace, body),
        }
    }
    let mut place = SpanPlace::empty();
    let mut scope = None;
    let mut begun = false;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        body(Some(&mut |args: &[Arg<'_>]| {
            if std::mem::replace(&mut begun, true) {
                return; // the generated body calls this once; a second call must not restart
            }
            let dispatcher = callsite.dispatcher_name();
            let began = SpanState::start_at(
                &mut place.state,
                chain,
                name,
                dispatcher,
                instance,
                decided,
                args,
            );
            match began {
                Began::Started => {
                    place.started = true;
                    if let Some(mut state) = place.pinned() {
                        state.as_mut().register();
                        scope = Some(state.core.enter());
                    }
                }
                Began::LeftOut { id, trace } => scope = Some(Scope::enter(id, trace, UNSAMPLED)),
                Began::Skipped => {}
            }
        }))
    }));
    let Some(mut state) = place.pinned() else {
        if let Some(scope) = scope {
            scope.leave_unrecorded();
        }
        return result.unwrap_or_else(|payload| std::panic::resume_unwind(payload));
    };
    if let Some(scope) = scope {
        // SAFETY: only `metadata` is touched; nothing is moved.
        let this = unsafe { state.as_mut().get_unchecked_mut() };
        scope.leave(this.core.id, &mut this.metadata);
    }
    match result {
        Ok(value) => {
            finish(state, &value);
            value
        }
        Err(payload) => state.panicked(payload),
    }
}

/// Runs the body of a root span its dispatcher's sampler left out: nothing is recorded, and the
/// body's scope is marked so that the spans under it are left out too and a `traceparent` sent
/// from it names its trace. The mark is taken off however the body ends, a panic included.
#[inline(never)]
fn run_left_out<R>(id: SpanId, trace: u128, body: impl FnOnce(Option<StartHook<'_>>) -> R) -> R {
    struct Marked(Option<Scope>);
    impl Drop for Marked {
        fn drop(&mut self) {
            if let Some(scope) = self.0.take() {
                scope.leave_unrecorded();
            }
        }
    }
    let _marked = Marked(Some(Scope::enter(id, trace, UNSAMPLED)));
    body(None)
}
