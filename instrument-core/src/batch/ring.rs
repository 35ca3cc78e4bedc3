//! Each thread's buffer of ended spans, and their delivery to batched handlers.
//!
//! A thread appends to its own ring, publishing each record with one release store: no lock and
//! no atomic read-modify-write on the span's path. Delivery takes the ring's lock, hands the
//! records between the delivered mark and the published head to their handlers in place, drops
//! them, and moves the mark. The owner delivers when its ring is full; [`flush`] delivers every
//! thread's ring from the calling thread; a thread's exit delivers what is left in its own.

use std::cell::{Cell, UnsafeCell};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::context::current::HandlerGuard;
use crate::dispatch::handler::count_panic;

use super::ended::EndedSpan;

/// How many ended spans a thread holds before it delivers them: the most a thread keeps
/// undelivered, and the size of the batches a busy thread delivers. Each thread that ends spans
/// for a batched handler holds one ring of this many records (about 37 KiB on 64-bit targets),
/// made when it first does and freed when it exits.
pub const BATCH_LEN: usize = 256;

struct Ring {
    slots: Box<[UnsafeCell<MaybeUninit<EndedSpan>>]>,
    /// Records ever appended; written only by the owning thread.
    head: AtomicUsize,
    /// Records ever delivered; written only with `delivering` held.
    tail: AtomicUsize,
    delivering: Mutex<()>,
}

// SAFETY: slots are handed between the owning thread (writes slots at and after `head`, while fewer
// than `BATCH_LEN` are undelivered) and the holder of `delivering` (reads and drops slots before
// `head`, then advances `tail`), with release/acquire on `head` and `tail` ordering the two.
unsafe impl Sync for Ring {}
// SAFETY: the records are `Send` (every field is), and the ring is only a place for them.
unsafe impl Send for Ring {}

impl Ring {
    fn new() -> Self {
        Self {
            slots: (0..BATCH_LEN)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            delivering: Mutex::new(()),
        }
    }

    /// Appends the span `make` builds on the owning thread, delivering first if the ring is
    /// full; gives `make` back when the ring is full and this thread is delivering it already (a
    /// handler ended a span). The span is built in its slot, not moved there.
    #[inline]
    fn push<F: FnOnce() -> EndedSpan>(&self, make: F) -> Result<(), F> {
        let head = self.head.load(Ordering::Relaxed);
        if head - self.tail.load(Ordering::Acquire) == BATCH_LEN {
            if DELIVERING.with(Cell::get) {
                return Err(make);
            }
            self.deliver();
        }
        // SAFETY: only the owning thread writes, and slot `head` is free: `tail` has passed it.
        unsafe { (*self.slots[head % BATCH_LEN].get()).write(make()) };
        self.head.store(head + 1, Ordering::Release);
        Ok(())
    }

    /// Hands every published record to its handlers and drops it.
    #[cold]
    #[inline(never)]
    fn deliver(&self) {
        let _one = self
            .delivering
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Relaxed);
        if head == tail {
            return;
        }
        let first = tail % BATCH_LEN;
        let count = head - tail;
        let base = self.slots.as_ptr().cast::<EndedSpan>();
        // The published records, in at most two runs of the ring.
        let runs = [
            (first, count.min(BATCH_LEN - first)),
            (0, count.saturating_sub(BATCH_LEN - first)),
        ];
        // Handlers run, and records drop, with spans off and flushes refused on this thread: a
        // record's drop may release the last hold on a shared handler, whose own drop then runs.
        let _in_handler = HandlerGuard::enter();
        let _delivering = Delivering::enter();
        for (start, len) in runs {
            if len > 0 {
                // SAFETY: slots `start..start + len` were written and published by the owner and
                // are not written again until `tail` passes them; `UnsafeCell<MaybeUninit<T>>`
                // has `T`'s layout.
                deliver_slice(unsafe { std::slice::from_raw_parts(base.add(start), len) });
            }
        }
        // A drop that panics (a handler's own `Drop`) leaks the records after it rather than
        // leaving them to be dropped twice.
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for (start, len) in runs {
                for index in start..start + len {
                    // SAFETY: each published record is dropped once, here, before `tail` passes
                    // it.
                    unsafe {
                        let record = (*self.slots[index].get()).assume_init_mut();
                        // Most records own nothing: skip the call into their drop glue.
                        if record.owns_anything() {
                            std::ptr::drop_in_place(record);
                        }
                    }
                }
            }
        }));
        if dropped.is_err() {
            count_panic();
        }
        self.tail.store(head, Ordering::Release);
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Only reached once no thread can push (the owner has exited): deliver what is left.
        self.deliver();
    }
}

/// Hands `spans` to their handlers, a run of records with the same route at a time.
fn deliver_slice(spans: &[EndedSpan]) {
    let mut rest = spans;
    while let Some(first) = rest.first() {
        let len = rest
            .iter()
            .position(|span| !span.same_route(first))
            .unwrap_or(rest.len());
        let (run, after) = rest.split_at(len);
        let shared = first
            .shared
            .iter()
            .flat_map(|s| s.batch.iter().map(|h| &**h));
        for (index, handler) in first.chain.batch.iter().copied().chain(shared).enumerate() {
            if index >= 64 || first.skip & (1 << index) == 0 {
                handler.handle_batch(run);
            }
        }
        rest = after;
    }
}

/// The ring of a thread, registered where [`flush`] finds it.
struct Mine(Arc<Ring>);

impl Drop for Mine {
    fn drop(&mut self) {
        // Deliver before leaving the list: a reader's flush between the two would otherwise find
        // the ring neither listed nor delivered, and miss what it holds. (No span of this thread
        // can reach the ring after this: its local is gone, so later ends are delivered alone.)
        self.0.deliver();
        let mut all = RINGS.lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|ring| !Arc::ptr_eq(ring, &self.0));
    }
}

static RINGS: Mutex<Vec<Arc<Ring>>> = Mutex::new(Vec::new());

thread_local! {
    static MINE: Mine = {
        let ring = Arc::new(Ring::new());
        RINGS.lock().unwrap_or_else(PoisonError::into_inner).push(Arc::clone(&ring));
        Mine(ring)
    };
    /// Set while this thread delivers: a handler that calls [`flush`] must not wait for the
    /// delivery it is part of.
    static DELIVERING: Cell<bool> = const { Cell::new(false) };
}

struct Delivering(bool);

impl Delivering {
    fn enter() -> Self {
        Self(DELIVERING.with(|d| d.replace(true)))
    }
}

impl Drop for Delivering {
    fn drop(&mut self) {
        DELIVERING.with(|d| d.set(self.0));
    }
}

/// Records the ended span `make` builds for the batched handlers of its route.
#[inline]
pub(crate) fn record(make: impl FnOnce() -> EndedSpan) {
    let mut make = Some(make);
    // No ring when the thread is exiting and its ring is gone.
    let _ = MINE.try_with(|mine| {
        if let Some(f) = make.take()
            && let Err(f) = mine.0.push(f)
        {
            make = Some(f);
        }
    });
    if let Some(make) = make {
        deliver_alone(make());
    }
}

/// Delivers one span at once: its thread's ring is gone (the thread is exiting), or full while
/// this thread delivers it.
#[cold]
fn deliver_alone(span: EndedSpan) {
    let _in_handler = HandlerGuard::enter();
    deliver_slice(std::slice::from_ref(&span));
}

/// Delivers every span that has ended, on every thread, to the batched handlers
/// ([`BatchSpanHandler`](crate::BatchSpanHandler)) now, on this thread. Handlers that keep spans
/// call it before they are read; [`shutdown`](crate::shutdown) calls it before closing handlers.
/// Called from inside a delivery (a handler's `handle_batch`), it does nothing.
///
/// ```
/// use instrument::handlers::SimpleSpanHandler;
///
/// let dispatcher = instrument::get_dispatcher("doc::flush");
/// let spans = dispatcher.add_span_handler(SimpleSpanHandler::default());
/// std::thread::spawn(move || dispatcher.in_span("on_a_worker", || ())).join().unwrap();
/// instrument::flush();
/// assert_eq!(spans.len(), 1);
/// ```
pub fn flush() {
    if DELIVERING.with(Cell::get) {
        return;
    }
    let rings = RINGS.lock().unwrap_or_else(PoisonError::into_inner).clone();
    for ring in rings {
        ring.deliver();
    }
}
