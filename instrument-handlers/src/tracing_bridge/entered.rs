//! The bridged spans entered on this thread, each with the instrument context it attached.
//!
//! `tracing` enters and exits a span on the same thread, nearly always last in, first out. Entering
//! makes the bridged span instrument's current span (a [`ContextGuard`], which restores what was
//! current when dropped), so that instrument spans and events inside are its children. Guards must
//! be dropped in reverse order; when `tracing` exits a span that is not the innermost, the ones
//! above it are dropped, it is dropped, and the ones above are attached again.

use std::cell::RefCell;

use instrument_core::{Context, ContextGuard, SpanId, current_tags};

thread_local! {
    static ENTERED: RefCell<Vec<(SpanId, ContextGuard)>> = const { RefCell::new(Vec::new()) };
}

fn attach(id: SpanId) -> ContextGuard {
    Context::new(Some(id), current_tags()).attach()
}

/// Makes `id` the current instrument span on this thread, until [`exit`].
pub(super) fn enter(id: SpanId) {
    let guard = attach(id);
    // During thread teardown the stack may be gone; the guard is then dropped at once.
    let _ = ENTERED.try_with(|stack| stack.borrow_mut().push((id, guard)));
}

/// Restores what was current before the latest [`enter`] of `id` on this thread.
pub(super) fn exit(id: SpanId) {
    let _ = ENTERED.try_with(|stack| {
        let mut stack = stack.borrow_mut();
        match stack.iter().rposition(|(entered, _)| *entered == id) {
            Some(index) if index + 1 == stack.len() => drop(stack.pop()),
            Some(index) => exit_out_of_order(&mut stack, index),
            None => {}
        }
    });
}

#[cold]
fn exit_out_of_order(stack: &mut Vec<(SpanId, ContextGuard)>, index: usize) {
    let mut above = Vec::with_capacity(stack.len() - index - 1);
    while stack.len() > index + 1 {
        if let Some((id, guard)) = stack.pop() {
            drop(guard);
            above.push(id);
        }
    }
    drop(stack.pop());
    for id in above.into_iter().rev() {
        stack.push((id, attach(id)));
    }
}
