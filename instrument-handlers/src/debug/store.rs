//! The bounded store of events, by id in start order.

use std::collections::{HashMap, VecDeque};

use instrument_core::callbacks::CBEventType;

use super::event::{CBEvent, EventPair};

/// What is known of one event id: its start, and its end once it came.
#[derive(Debug, Default)]
pub(super) struct Slot {
    pub(super) start: Option<CBEvent>,
    pub(super) end: Option<CBEvent>,
}

impl Slot {
    fn event_type(&self) -> Option<CBEventType> {
        self.start
            .as_ref()
            .or(self.end.as_ref())
            .map(|e| e.event_type)
    }

    fn pair(&self) -> Option<EventPair> {
        Some(EventPair {
            start: self.start.clone()?,
            end: self.end.clone()?,
        })
    }
}

/// Events by id, at most `capacity` ids, the ids seen first evicted first.
#[derive(Debug)]
pub(super) struct Store {
    order: VecDeque<String>,
    by_id: HashMap<String, Slot>,
    capacity: usize,
    evicted: u64,
}

impl Store {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            order: VecDeque::new(),
            by_id: HashMap::new(),
            capacity,
            evicted: 0,
        }
    }

    fn slot(&mut self, id: &str) -> &mut Slot {
        if !self.by_id.contains_key(id) {
            if self.order.len() == self.capacity {
                self.evict_oldest();
            }
            self.order.push_back(id.to_owned());
            self.by_id.insert(id.to_owned(), Slot::default());
        }
        self.by_id.get_mut(id).expect("inserted above")
    }

    #[cold]
    fn evict_oldest(&mut self) {
        if let Some(oldest) = self.order.pop_front() {
            self.by_id.remove(&oldest);
            self.evicted += 1;
        }
    }

    pub(super) fn record_start(&mut self, event: CBEvent) {
        let id = event.id.clone();
        self.slot(&id).start = Some(event);
    }

    /// Records an end; dropped when its start is unknown (ignored, or evicted), so that a late end
    /// does not evict a live event.
    pub(super) fn record_end(&mut self, event: CBEvent) {
        if let Some(slot) = self.by_id.get_mut(&event.id) {
            slot.end = Some(event);
        }
    }

    pub(super) fn get(&self, id: &str) -> Option<&Slot> {
        self.by_id.get(id)
    }

    /// Complete pairs in start order, of `event_type` or of every type.
    pub(super) fn pairs(&self, event_type: Option<CBEventType>) -> Vec<EventPair> {
        self.order
            .iter()
            .filter_map(|id| self.by_id.get(id))
            .filter(|slot| event_type.is_none() || slot.event_type() == event_type)
            .filter_map(Slot::pair)
            .collect()
    }

    pub(super) fn len(&self) -> usize {
        self.order.len()
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(super) fn evicted(&self) -> u64 {
        self.evicted
    }

    pub(super) fn clear(&mut self) {
        self.order.clear();
        self.by_id.clear();
    }
}
