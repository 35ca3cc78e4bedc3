//! A FIFO queue stored in fixed-size chunks, so that memory follows the number of values held: a
//! `VecDeque` doubles as it grows and keeps that capacity, which for a bounded span store means up to
//! twice the memory its bound promises.
//!
//! Emptied chunks go back to a [`ChunkPool`] shared by the queues of one store, and new chunks come
//! from it: a store at its bound, evicting as fast as it takes values, moves chunks between its
//! threads' queues instead of freeing and allocating them, which with one allocator arena per thread
//! would let memory creep up.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

/// Values per chunk.
pub(crate) const CHUNK: usize = 1024;

type Chunk<T> = VecDeque<T>;

/// Empty chunks kept for reuse, at most `max` of them.
#[derive(Debug)]
pub(crate) struct ChunkPool<T> {
    free: Mutex<Vec<Chunk<T>>>,
    max: usize,
}

impl<T> ChunkPool<T> {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            free: Mutex::new(Vec::new()),
            max,
        }
    }

    fn take(&self) -> Chunk<T> {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| VecDeque::with_capacity(CHUNK))
    }

    fn give(&self, chunk: Chunk<T>) {
        debug_assert!(chunk.is_empty());
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        if free.len() < self.max {
            free.push(chunk);
        }
    }
}

/// A FIFO queue in chunks of [`CHUNK`] values.
#[derive(Debug)]
pub(crate) struct ChunkQueue<T> {
    chunks: VecDeque<Chunk<T>>,
    len: usize,
}

impl<T> Default for ChunkQueue<T> {
    fn default() -> Self {
        Self {
            chunks: VecDeque::new(),
            len: 0,
        }
    }
}

impl<T> ChunkQueue<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn push_back(&mut self, value: T, pool: &ChunkPool<T>) {
        match self.chunks.back_mut() {
            Some(last) if last.len() < CHUNK => last.push_back(value),
            _ => {
                let mut chunk = pool.take();
                chunk.push_back(value);
                self.chunks.push_back(chunk);
            }
        }
        self.len += 1;
    }

    /// Appends `make` of each item of `items`, a chunk's room at a time (each chunk extended from
    /// a slice, so that it reserves once and writes without a check per value).
    pub(crate) fn extend_from<S>(
        &mut self,
        mut items: &[S],
        make: impl Fn(&S) -> T,
        pool: &ChunkPool<T>,
    ) {
        while !items.is_empty() {
            let room = self.chunks.back().map_or(0, |last| CHUNK - last.len());
            if room == 0 {
                self.chunks.push_back(pool.take());
                continue;
            }
            let (now, rest) = items.split_at(room.min(items.len()));
            self.len += now.len();
            if let Some(last) = self.chunks.back_mut() {
                last.extend(now.iter().map(&make));
            }
            items = rest;
        }
    }

    #[cfg(test)]
    pub(crate) fn front(&self) -> Option<&T> {
        self.chunks.front()?.front()
    }

    /// Drops the `count` oldest values.
    pub(crate) fn drop_front(&mut self, count: usize, pool: &ChunkPool<T>) {
        let mut left = count.min(self.len);
        self.len -= left;
        while left > 0 {
            let Some(first) = self.chunks.front_mut() else {
                break;
            };
            if first.len() <= left {
                left -= first.len();
                first.clear();
                pool.give(self.chunks.pop_front().unwrap_or_default());
            } else {
                first.drain(..left);
                left = 0;
            }
        }
    }

    /// Moves every value into `into`, oldest first, giving the emptied chunks back to `pool`: a
    /// drain-and-refill cycle then refills the same memory rather than freeing it and asking the
    /// allocator again (which, with per-thread arenas, lets the resident size creep up).
    pub(crate) fn take_all(&mut self, into: &mut Vec<T>, pool: &ChunkPool<T>) {
        self.len = 0;
        into.reserve(self.chunks.iter().map(VecDeque::len).sum());
        for mut chunk in self.chunks.drain(..) {
            into.extend(chunk.drain(..));
            pool.give(chunk);
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_across_chunks() {
        let pool = ChunkPool::new(4);
        let mut queue = ChunkQueue::default();
        for i in 0..(CHUNK * 2 + 5) {
            queue.push_back(i, &pool);
        }
        assert_eq!(queue.len(), CHUNK * 2 + 5);
        queue.drop_front(1, &pool);
        queue.drop_front(CHUNK, &pool);
        assert_eq!(queue.front(), Some(&(CHUNK + 1)));
        assert_eq!(queue.len(), CHUNK + 4);
        assert_eq!(queue.iter().count(), CHUNK + 4);
        let mut all = Vec::new();
        queue.take_all(&mut all, &pool);
        assert_eq!(all.first(), Some(&(CHUNK + 1)));
        assert_eq!(all.len(), CHUNK + 4);
        assert!(queue.is_empty());
        assert_eq!(queue.front(), None);
    }

    #[test]
    fn emptied_chunks_are_reused_up_to_the_pool_size() {
        let pool = ChunkPool::new(3);
        let mut queue = ChunkQueue::default();
        for i in 0..CHUNK * 8 {
            queue.push_back(i, &pool);
        }
        queue.drop_front(CHUNK * 7, &pool);
        assert_eq!(queue.chunks.len(), 1);
        assert_eq!(pool.free.lock().unwrap().len(), 3);
        let mut other = ChunkQueue::default();
        other.push_back(0, &pool);
        assert_eq!(
            pool.free.lock().unwrap().len(),
            2,
            "another queue takes a pooled chunk"
        );
    }
}
