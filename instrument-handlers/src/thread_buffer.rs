//! Per-thread buffers for handlers that keep what they record.
//!
//! A handler is called on the thread that made the span, and threads record at once. Each thread
//! appends to its own buffer: a small ring it alone writes, published with one release store (no lock,
//! no atomic read-modify-write), and an overflow deque behind a mutex that only readers and a full
//! ring take. Readers lock every buffer, move what the rings hold into the deques, and read those.

use std::any::Any;
use std::cell::{RefCell, UnsafeCell};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::chunk_queue::{CHUNK, ChunkPool, ChunkQueue};

/// Records a thread can append before its ring is moved to its deque.
const RING: usize = 256;

/// One thread's buffer.
struct Buffer<T> {
    ring: Box<[UnsafeCell<MaybeUninit<T>>]>,
    /// Records ever appended; written only by the owning thread.
    head: AtomicUsize,
    /// Records ever moved out of the ring; written only with `deque` locked.
    tail: AtomicUsize,
    /// Records moved out of the ring, oldest first.
    deque: Mutex<ChunkQueue<T>>,
    /// `deque.len()`, readable without the lock.
    in_deque: AtomicUsize,
    /// Where the deque's chunks come from and go back to; shared by one store's buffers.
    pool: Arc<ChunkPool<T>>,
}

// SAFETY: ring slots are handed between the owning thread (writes slots at and after `head`) and
// the holder of `deque`'s lock (reads slots before `head`, then advances `tail`), with release/acquire
// on `head` and `tail` ordering the two.
unsafe impl<T: Send> Sync for Buffer<T> {}

impl<T> Buffer<T> {
    fn new(pool: Arc<ChunkPool<T>>) -> Self {
        Self {
            ring: (0..RING)
                .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
                .collect(),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            deque: Mutex::new(ChunkQueue::default()),
            in_deque: AtomicUsize::new(0),
            pool,
        }
    }

    fn lock(&self) -> MutexGuard<'_, ChunkQueue<T>> {
        self.deque.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the ring's records into `deque`, whose lock the caller holds.
    fn spill(&self, deque: &mut ChunkQueue<T>) {
        let head = self.head.load(Ordering::Acquire);
        let mut tail = self.tail.load(Ordering::Relaxed);
        while tail < head {
            // SAFETY: slots in `tail..head` were written and published by the owner, and are read
            // once, by the lock holder, before `tail` passes them.
            deque.push_back(
                unsafe { (*self.ring[tail % RING].get()).assume_init_read() },
                &self.pool,
            );
            tail += 1;
        }
        self.tail.store(tail, Ordering::Release);
        self.in_deque.store(deque.len(), Ordering::Relaxed);
    }

    /// Appends on the owning thread; returns how many records this buffer has taken in all.
    #[inline]
    fn push(&self, value: T) -> usize {
        let head = self.head.load(Ordering::Relaxed);
        if head - self.tail.load(Ordering::Acquire) == RING {
            self.spill(&mut self.lock());
        }
        // SAFETY: only the owning thread writes, and slot `head` is free: `tail` has passed it.
        unsafe { (*self.ring[head % RING].get()).write(value) };
        self.head.store(head + 1, Ordering::Release);
        head + 1
    }

    fn len(&self) -> usize {
        // An estimate, read without the lock: `head` first, so that a record moved to the deque
        // between the reads is not counted in both; `saturating_sub` because `tail` may then have
        // passed the `head` read.
        let head = self.head.load(Ordering::Acquire);
        let in_ring = head.saturating_sub(self.tail.load(Ordering::Acquire));
        in_ring + self.in_deque.load(Ordering::Relaxed)
    }
}

impl<T> Drop for Buffer<T> {
    fn drop(&mut self) {
        let head = *self.head.get_mut();
        for index in *self.tail.get_mut()..head {
            // SAFETY: `tail..head` are the written slots not yet moved out.
            unsafe { self.ring[index % RING].get_mut().assume_init_drop() };
        }
    }
}

/// Buffers of one handler, one per thread that recorded into it.
pub(crate) struct ThreadBuffers<T> {
    key: usize,
    buffers: Mutex<Vec<Arc<Buffer<T>>>>,
    pool: Arc<ChunkPool<T>>,
}

/// Each thread's buffers, by the key of the `ThreadBuffers` they belong to. The `Arc` keeps the buffer
/// alive for the pointer; the handler holds another, so records outlive the thread.
type Owned = (usize, *const (), Arc<dyn Any + Send + Sync>);

thread_local! {
    static MINE: RefCell<Vec<Owned>> = const { RefCell::new(Vec::new()) };
}

static NEXT_KEY: AtomicUsize = AtomicUsize::new(1);

impl<T: Send + 'static> ThreadBuffers<T> {
    /// Buffers that keep up to `spare` values' worth of emptied chunks for reuse (pass what the
    /// buffers hold at most, so that draining them keeps all their memory for the refill).
    pub(crate) fn new(spare: usize) -> Self {
        Self {
            key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
            buffers: Mutex::new(Vec::new()),
            pool: Arc::new(ChunkPool::new(spare.div_ceil(CHUNK) + 2)),
        }
    }

    /// Appends `value` to this thread's buffer; returns how many values this thread has appended.
    #[inline]
    pub(crate) fn push(&self, value: T) -> usize {
        let found = MINE.try_with(|mine| {
            mine.borrow()
                .iter()
                .find(|(key, _, _)| *key == self.key)
                .map(|(_, buffer, _)| buffer.cast::<Buffer<T>>())
        });
        match found {
            // SAFETY: the pointer is to a `Buffer<T>` (the key is this `ThreadBuffers<T>`'s), kept
            // alive by the `Arc` beside it and by `self.buffers`.
            Ok(Some(buffer)) => unsafe { (*buffer).push(value) },
            Ok(None) => self.first_push(value),
            // The thread is exiting and its locals are gone: append straight to a shared deque.
            Err(_) => self.push_shared(value),
        }
    }

    /// Appends what `make` makes of each of `items` to this thread's buffer at once, under its
    /// own lock (taken by no other thread but a reader): a batch stays on the thread that
    /// delivered it.
    pub(crate) fn extend_own<S>(&self, items: &[S], make: impl Fn(&S) -> T) {
        let own = match self.own() {
            Ok(Some(buffer)) => buffer,
            Ok(None) => self.make_own(),
            Err(()) => {
                // The thread is exiting and its locals are gone: a shared buffer of its own.
                let buffer = Arc::new(Buffer::new(Arc::clone(&self.pool)));
                self.extend(&buffer, items, make);
                self.buffers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(buffer);
                return;
            }
        };
        // SAFETY: as in `push`.
        self.extend(unsafe { &*own }, items, make);
    }

    fn extend<S>(&self, buffer: &Buffer<T>, items: &[S], make: impl Fn(&S) -> T) {
        let mut deque = buffer.lock();
        buffer.spill(&mut deque);
        deque.extend_from(items, make, &buffer.pool);
        buffer.in_deque.store(deque.len(), Ordering::Relaxed);
    }

    /// This thread's buffer, if it has one; `Err` while the thread is being torn down.
    fn own(&self) -> Result<Option<*const Buffer<T>>, ()> {
        MINE.try_with(|mine| {
            mine.borrow()
                .iter()
                .find(|(key, _, _)| *key == self.key)
                .map(|(_, buffer, _)| buffer.cast::<Buffer<T>>())
        })
        .map_err(|_| ())
    }

    /// Makes this thread's buffer.
    #[cold]
    fn make_own(&self) -> *const Buffer<T> {
        let buffer = Arc::new(Buffer::new(Arc::clone(&self.pool)));
        self.buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&buffer));
        let pointer = Arc::as_ptr(&buffer);
        let _ = MINE.try_with(|mine| mine.borrow_mut().push((self.key, pointer.cast(), buffer)));
        pointer
    }

    /// Drops up to `max` of the oldest values this thread appended, under this thread's lock only;
    /// returns how many it dropped.
    pub(crate) fn trim_own(&self, max: usize) -> usize {
        let Ok(Some(buffer)) = self.own() else {
            return 0;
        };
        // SAFETY: as in `push`.
        let buffer = unsafe { &*buffer };
        let mut deque = buffer.lock();
        buffer.spill(&mut deque);
        let dropped = max.min(deque.len());
        deque.drop_front(dropped, &buffer.pool);
        buffer.in_deque.store(deque.len(), Ordering::Relaxed);
        dropped
    }

    #[cold]
    fn first_push(&self, value: T) -> usize {
        let buffer = Arc::new(Buffer::new(Arc::clone(&self.pool)));
        self.buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&buffer));
        let pointer = Arc::as_ptr(&buffer).cast::<()>();
        let pushed = buffer.push(value);
        let _ = MINE.try_with(|mine| mine.borrow_mut().push((self.key, pointer, buffer)));
        pushed
    }

    #[cold]
    fn push_shared(&self, value: T) -> usize {
        let buffer = Arc::new(Buffer::new(Arc::clone(&self.pool)));
        buffer.lock().push_back(value, &self.pool);
        buffer.in_deque.store(1, Ordering::Relaxed);
        self.buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(buffer);
        1
    }

    /// How many values are held, without locking the buffers' deques.
    pub(crate) fn len(&self) -> usize {
        let buffers = self.buffers.lock().unwrap_or_else(PoisonError::into_inner);
        buffers.iter().map(|b| b.len()).sum()
    }

    /// Every thread's values, each thread's oldest first, with the buffers locked. Buffers of threads
    /// that have exited are dropped once they are empty.
    pub(crate) fn lock_all(&self) -> Vec<ThreadValues<'_, T>> {
        let mut list = self.buffers.lock().unwrap_or_else(PoisonError::into_inner);
        // Only this list holds an exited thread's buffer; nothing can push into it any more.
        list.retain(|buffer| Arc::strong_count(buffer) > 1 || buffer.len() > 0);
        let buffers: Vec<Arc<Buffer<T>>> = list.clone();
        drop(list);
        buffers
            .into_iter()
            .map(|buffer| {
                let mut deque = buffer.lock();
                buffer.spill(&mut deque);
                // SAFETY: the deque's guard borrows from `buffer`, which moves into the same
                // `ThreadValues` and is dropped after the guard (fields drop in declaration order).
                let deque = unsafe {
                    std::mem::transmute::<
                        MutexGuard<'_, ChunkQueue<T>>,
                        MutexGuard<'static, ChunkQueue<T>>,
                    >(deque)
                };
                ThreadValues {
                    deque,
                    buffer,
                    _owner: std::marker::PhantomData,
                }
            })
            .collect()
    }
}

/// One thread's values, locked: read and evict through `values`, and the count stays right.
pub(crate) struct ThreadValues<'a, T: 'static> {
    /// Declared first, so dropped (unlocked) before the buffer it borrows from.
    deque: MutexGuard<'static, ChunkQueue<T>>,
    buffer: Arc<Buffer<T>>,
    _owner: std::marker::PhantomData<&'a ThreadBuffers<T>>,
}

impl<T: 'static> ThreadValues<'_, T> {
    pub(crate) fn values(&self) -> &ChunkQueue<T> {
        &self.deque
    }

    /// Drops the `count` oldest values.
    pub(crate) fn drop_front(&mut self, count: usize) {
        self.deque.drop_front(count, &self.buffer.pool);
    }

    /// Moves every value into `into`, oldest first; the buffer keeps its memory for what comes
    /// next.
    pub(crate) fn take_all(&mut self, into: &mut Vec<T>) {
        self.deque.take_all(into, &self.buffer.pool);
    }
}

impl<T: 'static> Drop for ThreadValues<'_, T> {
    fn drop(&mut self) {
        self.buffer
            .in_deque
            .store(self.deque.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_from_many_threads_and_ring_wraps_are_all_kept_in_order() {
        let buffers = Arc::new(ThreadBuffers::<(usize, usize)>::new(0));
        let threads: Vec<_> = (0..3)
            .map(|t| {
                let buffers = Arc::clone(&buffers);
                std::thread::spawn(move || {
                    for i in 0..(RING * 3 + 7) {
                        buffers.push((t, i));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(buffers.len(), 3 * (RING * 3 + 7));
        let all = buffers.lock_all();
        for values in &all {
            let seen: Vec<usize> = values.values().iter().map(|(_, i)| *i).collect();
            assert_eq!(seen, (0..(RING * 3 + 7)).collect::<Vec<_>>());
        }
    }

    #[test]
    fn dropping_frees_what_the_ring_holds() {
        let counted = Arc::new(());
        let buffers = ThreadBuffers::new(0);
        for _ in 0..10 {
            buffers.push(Arc::clone(&counted));
        }
        drop(buffers);
        // The thread-local entry still owns this thread's buffer until the thread exits.
        MINE.with(|mine| mine.borrow_mut().clear());
        assert_eq!(Arc::strong_count(&counted), 1);
    }
}
