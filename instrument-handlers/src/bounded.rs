//! A list that keeps the last `capacity` items, counting the ones it lets go.

use std::collections::VecDeque;

/// The last `capacity` items pushed, oldest first; pushing onto a full list evicts the oldest and
/// counts it in [`evicted`](Self::evicted).
#[derive(Debug)]
pub(crate) struct Bounded<T> {
    items: VecDeque<T>,
    capacity: usize,
    evicted: u64,
}

impl<T> Bounded<T> {
    /// An empty list keeping at most `capacity` items (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            items: VecDeque::new(),
            capacity: capacity.max(1),
            evicted: 0,
        }
    }

    /// Adds `item` last, evicting the oldest if the list is full.
    pub(crate) fn push(&mut self, item: T) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
            self.evicted += 1;
        }
        self.items.push_back(item);
    }

    /// The items, oldest first.
    pub(crate) fn iter(&self) -> std::collections::vec_deque::Iter<'_, T> {
        self.items.iter()
    }

    /// Clones of the items, oldest first.
    pub(crate) fn to_vec(&self) -> Vec<T>
    where
        T: Clone,
    {
        self.items.iter().cloned().collect()
    }

    /// How many items are kept now.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// How many items are kept at most.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many items were evicted since the list was made; [`clear`](Self::clear) keeps the count.
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Forgets every item; the eviction count stays.
    pub(crate) fn clear(&mut self) {
        self.items.clear();
    }
}
