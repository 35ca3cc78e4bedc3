//! The set of open spans, so that [`crate::shutdown`] can drop them.
//!
//! A span's state is pinned where it lives (the instrumented function's stack frame or its future) and
//! registers its address in a slot of a per-thread block. Registering is a thread-local pop and one
//! store. Exactly one of the span's owner and shutdown ends the span, and the owner waits while
//! shutdown is using its state:
//!
//! - where [`fence::available`] (Linux), releasing is plain stores and one load: shutdown flags every
//!   slot, runs the heavy barrier, then takes the spans still registered; an owner that sees the flag
//!   waits, then learns from the slot whether shutdown ended its span;
//! - elsewhere, releasing is one swap, and shutdown claims a slot with a compare-exchange.
//!
//! Either way shutdown's verdict names the span it ended (its address), so the owner of another span
//! that reused the slot meanwhile cannot mistake it for its own.

use std::cell::RefCell;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::span::fence;
use crate::span::{SpanCore, take_for_shutdown};

const SLOTS_PER_BLOCK: usize = 64;

/// Marks a slot that shutdown took (swap protocol); its owner has not released it yet.
fn claimed() -> *mut SpanCore {
    ptr::without_provenance_mut(1)
}

/// `Slot::flags`: shutdown is working on the slot; the owner must wait.
const CLAIMING: u8 = 1;

pub(crate) struct Slot {
    state: AtomicPtr<SpanCore>,
    flags: AtomicU8,
    /// The span shutdown ended here, until its owner reads that verdict. Tied to the span's address
    /// rather than a flag, so that a verdict cannot be read by the owner of another span that has
    /// reused the slot meanwhile.
    processed: AtomicPtr<SpanCore>,
}

struct Block {
    slots: [Slot; SLOTS_PER_BLOCK],
}

/// Every block ever made; blocks live for the program, and pass to a new thread when theirs exits.
static ALL_BLOCKS: Mutex<Vec<&'static Block>> = Mutex::new(Vec::new());
static SPARE_BLOCKS: Mutex<Vec<&'static Block>> = Mutex::new(Vec::new());

struct LocalSlots {
    blocks: Vec<&'static Block>,
    free: Vec<&'static Slot>,
}

impl LocalSlots {
    #[cold]
    fn refill(&mut self) {
        self.free.clear();
        for block in &self.blocks {
            for slot in &block.slots {
                if slot.state.load(Ordering::Acquire).is_null() {
                    self.free.push(slot);
                }
            }
        }
        if self.free.is_empty() {
            let block = SPARE_BLOCKS
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop()
                .unwrap_or_else(new_block);
            self.blocks.push(block);
            self.free.extend(
                block
                    .slots
                    .iter()
                    .filter(|s| s.state.load(Ordering::Acquire).is_null()),
            );
        }
    }
}

fn new_block() -> &'static Block {
    let block: &'static Block = Box::leak(Box::new(Block {
        slots: std::array::from_fn(|_| Slot {
            state: AtomicPtr::new(ptr::null_mut()),
            flags: AtomicU8::new(0),
            processed: AtomicPtr::new(ptr::null_mut()),
        }),
    }));
    ALL_BLOCKS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(block);
    block
}

impl Drop for LocalSlots {
    fn drop(&mut self) {
        SPARE_BLOCKS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .append(&mut self.blocks);
    }
}

thread_local! {
    static LOCAL: RefCell<LocalSlots> = const {
        RefCell::new(LocalSlots { blocks: Vec::new(), free: Vec::new() })
    };
}

/// Registers an open span; `None` while the thread is being torn down (the span then still ends
/// normally, but shutdown cannot reach it).
#[inline]
pub(crate) fn register(state: *mut SpanCore) -> Option<&'static Slot> {
    LOCAL
        .try_with(|local| {
            let mut local = local.borrow_mut();
            let slot = match local.free.pop() {
                Some(slot) if slot.state.load(Ordering::Relaxed).is_null() => slot,
                _ => loop {
                    local.refill();
                    if let Some(slot) = local.free.pop()
                        && slot.state.load(Ordering::Relaxed).is_null()
                    {
                        break slot;
                    }
                },
            };
            slot.state.store(state, Ordering::Release);
            slot
        })
        .ok()
}

/// Whether `state` is a span's address rather than null or the claimed marker.
fn is_span(state: *mut SpanCore) -> bool {
    !state.is_null() && state != claimed()
}

thread_local! {
    /// Set while this thread runs `drain`: a handler that ends some other span from inside a
    /// shutdown must not wait for the shutdown it is part of.
    static DRAINING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Releases the slot of the open span at `state`. `true`: the caller still owns the span and must
/// end it; `false`: shutdown ended it (and is done with the state by the time this returns).
#[inline]
pub(crate) fn release(slot: &'static Slot, state: *mut SpanCore) -> bool {
    if fence::available() {
        slot.state.store(ptr::null_mut(), Ordering::Release);
        // Either shutdown's heavy barrier makes this store visible before it looks at the slot, or
        // these loads see what shutdown wrote before its barrier.
        fence::light();
        return (slot.flags.load(Ordering::Acquire) == 0
            && slot.processed.load(Ordering::Acquire).is_null())
            || release_contended(slot, state);
    }
    slot.state.swap(ptr::null_mut(), Ordering::AcqRel) != claimed()
        || release_contended(slot, state)
}

/// Shutdown is, or was, at this slot: wait for it (unless this thread is the one shutting down),
/// then take its verdict about this span.
#[cold]
fn release_contended(slot: &'static Slot, state: *mut SpanCore) -> bool {
    if !DRAINING.with(std::cell::Cell::get) {
        while slot.flags.load(Ordering::Acquire) & CLAIMING != 0 {
            std::thread::yield_now();
        }
    }
    slot.processed
        .compare_exchange(state, ptr::null_mut(), Ordering::AcqRel, Ordering::Acquire)
        .is_err()
}

/// Only one shutdown drains at a time.
static DRAIN: Mutex<()> = Mutex::new(());

/// Which span handlers, of either kind, a drain ends open spans for, by their address: `None` for
/// all (and the spans end for good).
pub(crate) type Only<'a> = Option<&'a dyn Fn(*const ()) -> bool>;

/// Claims every open span and ends it with "dispatcher shutdown": for every handler, or, with
/// `only`, for the handlers it accepts (the owner then still ends the span for the others).
///
/// For each span: take its handlers' values out (the owner waits meanwhile), give the verdict
/// (`processed`, when the span ends for good) and let the owner go, and only then call the
/// handlers, on the taken copy, so that nothing the handlers do (ending other spans, dropping this
/// span's guard) can reach freed state.
pub(crate) fn drain(only: Only<'_>) {
    let _one_at_a_time = DRAIN.lock().unwrap_or_else(PoisonError::into_inner);
    let blocks = ALL_BLOCKS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let slots = || blocks.iter().flat_map(|b| b.slots.iter());
    let whole = only.is_none();
    DRAINING.with(|d| d.set(true));
    if fence::available() {
        for slot in slots() {
            slot.flags.fetch_or(CLAIMING, Ordering::SeqCst);
        }
        fence::heavy();
        // Owners wait only for slots that hold an open span; let every other slot go at once.
        let mut open = Vec::new();
        for slot in slots() {
            let state = slot.state.load(Ordering::Acquire);
            if is_span(state) && slot.processed.load(Ordering::Acquire) != state {
                open.push((slot, state));
            } else {
                slot.flags.fetch_and(!CLAIMING, Ordering::Release);
            }
        }
        for (slot, state) in open {
            // Its owner may have started releasing since the scan: then it ends the span itself. (It
            // waits for `CLAIMING` to clear; or, if it runs on this thread inside a handler, it has
            // already ended the span, and `state` must not be touched.)
            let taken = if slot.state.load(Ordering::Acquire) == state {
                // SAFETY: the slot still holds the span, so its owner has not released it; if the
                // owner starts to now, it sees `CLAIMING` and waits until it is cleared below.
                let taken = unsafe { take_for_shutdown(&*state, only) };
                if whole {
                    slot.processed.store(state, Ordering::Release);
                }
                taken
            } else {
                None
            };
            slot.flags.fetch_and(!CLAIMING, Ordering::Release);
            if let Some(taken) = taken {
                taken.end();
            }
        }
    } else {
        for slot in slots() {
            let state = slot.state.load(Ordering::Acquire);
            if !is_span(state) {
                continue;
            }
            slot.flags.fetch_or(CLAIMING, Ordering::SeqCst);
            let taken = if slot
                .state
                .compare_exchange(state, claimed(), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                // SAFETY: the owner cannot free the state before it sees `claimed()` in the slot
                // and `CLAIMING` clear, which happens below, after the take.
                let taken = unsafe { take_for_shutdown(&*state, only) };
                if whole {
                    slot.processed.store(state, Ordering::Release);
                } else {
                    // The span stays open: give the slot back, unless its owner is releasing it
                    // already (it then waits for `CLAIMING`, sees no verdict, and ends the span).
                    let _ = slot.state.compare_exchange(
                        claimed(),
                        state,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                }
                taken
            } else {
                None
            };
            slot.flags.fetch_and(!CLAIMING, Ordering::Release);
            if let Some(taken) = taken {
                taken.end();
            }
        }
    }
    DRAINING.with(|d| d.set(false));
}

/// How many spans are open right now, in every thread and task: started and not yet ended. A
/// diagnostic that walks the table of open spans; it is not meant for hot code.
///
/// ```
/// use instrument::{open_span_count, EventEnvelope, EventHandler};
///
/// struct Quiet;
/// impl EventHandler for Quiet {
///     fn handle(&self, _: &EventEnvelope<'_>) {}
/// }
///
/// let dispatcher = instrument::get_dispatcher("doc::open_spans");
/// dispatcher.add_event_handler(Quiet);
/// let mut guard = dispatcher.enter_span("outer", &[]);
/// assert!(guard.in_scope(open_span_count) >= 1);
/// guard.exit(None);
/// ```
#[must_use]
pub fn open_span_count() -> usize {
    let blocks = ALL_BLOCKS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    blocks
        .iter()
        .flat_map(|b| b.slots.iter())
        .filter(|slot| {
            is_span(slot.state.load(Ordering::Acquire))
                && slot.processed.load(Ordering::Acquire) != slot.state.load(Ordering::Acquire)
        })
        .count()
}
