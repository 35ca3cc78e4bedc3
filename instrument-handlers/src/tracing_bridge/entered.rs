//! The bridged spans entered on this thread, each with the instrument context it attached: the
//! bridged span's own context (its span, and the trace it belongs to) with the current tags.
//!
//! `tracing` enters and exits a span on the same thread, nearly always last in, first out. Entering
//! makes the bridged span instrument's current span (a [`ContextGuard`], which restores what was
//! current when dropped), so that instrument spans and events inside are its children. Guards must
//! be dropped in reverse order; when `tracing` exits a span that is not the innermost, the ones
//! above it are dropped, it is dropped, and the ones above are attached again.

use std::cell::RefCell;

use instrument_core::{Context, ContextGuard, SpanId, current_tags};

/// A bridged span entered on this thread: its id, its context, and the guard that restores what
/// was current before.
type Entered = (SpanId, Context, ContextGuard);

thread_local! {
    static ENTERED: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

fn attach(cx: &Context) -> ContextGuard {
    cx.clone().with_tags(current_tags()).attach()
}

/// Makes the bridged span of `cx` the current instrument span on this thread, in its trace,
/// until [`exit`].
pub(super) fn enter(cx: Context) {
    let Some(id) = cx.span_id() else {
        return;
    };
    let guard = attach(&cx);
    // During thread teardown the stack may be gone; the guard is then dropped at once.
    let _ = ENTERED.try_with(|stack| stack.borrow_mut().push((id, cx, guard)));
}

/// Restores what was current before the latest [`enter`] of `id` on this thread.
pub(super) fn exit(id: SpanId) {
    let _ = ENTERED.try_with(|stack| {
        let mut stack = stack.borrow_mut();
        match stack.iter().rposition(|(entered, _, _)| *entered == id) {
            Some(index) if index + 1 == stack.len() => drop(stack.pop()),
            Some(index) => exit_out_of_order(&mut stack, index),
            None => {}
        }
    });
}

#[cold]
fn exit_out_of_order(stack: &mut Vec<Entered>, index: usize) {
    let mut above = Vec::with_capacity(stack.len() - index - 1);
    while stack.len() > index + 1 {
        if let Some((id, cx, guard)) = stack.pop() {
            drop(guard);
            above.push((id, cx));
        }
    }
    drop(stack.pop());
    for (id, cx) in above.into_iter().rev() {
        let guard = attach(&cx);
        stack.push((id, cx, guard));
    }
}
