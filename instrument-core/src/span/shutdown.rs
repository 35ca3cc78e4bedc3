//! Taking an open span's handler values for shutdown.

use std::cell::UnsafeCell;

use crate::span::clock::Timestamp;
use crate::span::open_spans::Only;

use super::core_state::{HandlerSpans, SpanCore};
use super::outcome::Outcome;

/// A span taken for shutdown: a copy of the state's fields and its handlers' span values, moved out,
/// so that shutdown can call the handlers without touching the state, which its owner may free as
/// soon as it learns that shutdown took the span (a handler may even do it, by dropping a guard).
/// `whole`: every handler's value was taken and the span ends for good (a `SpanDropEvent` is
/// emitted); else only some handlers' were ([`Dispatcher::shutdown`](crate::Dispatcher::shutdown)),
/// and the owner ends the span for the others.
pub(crate) struct Taken {
    pub(super) core: SpanCore,
    pub(super) whole: bool,
}

/// Takes the span's handler values out of `core` for shutdown: every handler's, or, with `only`,
/// those of the handlers it accepts. `None` when nothing was taken.
///
/// # Safety
/// The caller has exclusive access to `core.spans` (a claimed slot whose owner waits) and `core` is
/// valid for the duration of this call.
pub(crate) unsafe fn take_for_shutdown(core: &SpanCore, only: Only<'_>) -> Option<Taken> {
    // SAFETY: exclusive by the caller's guarantee.
    let spans = unsafe { &mut *core.spans.get() };
    let moved = match only {
        None => HandlerSpans {
            live: std::mem::take(&mut spans.live),
            // SAFETY: the `live` bits, moved along, say which of these are initialised; the
            // originals are left with no bits set, so they are never read again.
            inline: unsafe { std::ptr::read(&raw const spans.inline) },
            rare: spans.rare.take(),
        },
        Some(accept) => {
            let batch = accepted_batch_handlers(core, spans.batch_done(), accept);
            let mut moved = HandlerSpans::new();
            if batch != 0 {
                let rare = spans.rare();
                rare.batch_done |= batch;
                let args = rare.batch_args.clone();
                let moved_rare = moved.rare();
                moved_rare.batch_done = !batch;
                moved_rare.batch_args = args;
            }
            for index in 0..2 {
                if spans.live & (1 << index) != 0 && accept(core.chain.span[index].addr()) {
                    spans.live &= !(1 << index);
                    // SAFETY: the bit said the slot was initialised; it is cleared here, so the
                    // value has one owner, the copy.
                    moved.inline[index].write(unsafe { spans.inline[index].assume_init_read() });
                    moved.live |= 1 << index;
                }
            }
            if let Some(rare) = spans.rare.as_mut() {
                let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut rare.more)
                    .into_iter()
                    .partition(|(index, _)| {
                        core.span_handler(*index).is_some_and(|h| accept(h.addr()))
                    });
                rare.more = kept;
                if !taken.is_empty() {
                    moved.rare().more = taken;
                }
            }
            if moved.live == 0 && moved.rare.is_none() {
                return None;
            }
            if batch == 0 {
                // Only span handlers were taken: the record goes to no batched handler.
                moved.rare().batch_done = u64::MAX;
            }
            moved
        }
    };
    Some(Taken {
        core: SpanCore {
            id: core.id,
            parent: core.parent,
            trace: core.trace,
            start: core.start,
            chain: core.chain,
            shared: core.shared.clone(),
            tags: core.tags.clone(),
            dispatcher: core.dispatcher,
            spans: UnsafeCell::new(moved),
        },
        whole: only.is_none(),
    })
}

/// The batched handlers of the span (numbered as in its record's `skip`) that `accept` takes and
/// that have not had the span yet.
fn accepted_batch_handlers(core: &SpanCore, done: u64, accept: &dyn Fn(*const ()) -> bool) -> u64 {
    let shared = core
        .shared
        .iter()
        .flat_map(|s| s.batch.iter().map(|h| &**h));
    core.chain
        .batch
        .iter()
        .copied()
        .chain(shared)
        .take(64)
        .enumerate()
        .filter(|(index, handler)| done & (1 << index) == 0 && accept(handler.addr()))
        .fold(0, |mask, (index, _)| mask | 1 << index)
}

impl Taken {
    /// Ends the taken span with "dispatcher shutdown" for the handlers whose values were taken.
    pub(crate) fn end(self) {
        // SAFETY: `self` owns its copy of the handlers' span values.
        unsafe {
            if self.whole {
                self.core.end(&Outcome::Shutdown, &mut Vec::new());
            } else {
                self.core
                    .end_handlers(&Outcome::Shutdown, &mut Vec::new(), Timestamp::now());
            }
        }
    }
}
