//! The bounded store of events: by id, ids in the order first seen, each event numbered as it came.

use std::collections::{HashMap, VecDeque};

use instrument_core::callbacks::CBEventType;

use super::event::{CBEvent, EventPair};

/// Events by id, at most `capacity` ids, the ids seen first evicted first.
#[derive(Debug)]
pub(super) struct Store {
    order: VecDeque<String>,
    /// Each id's events with their arrival numbers, in arrival order.
    by_id: HashMap<String, Vec<(u64, CBEvent)>>,
    next: u64,
    capacity: usize,
    evicted: u64,
}

impl Store {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            order: VecDeque::new(),
            by_id: HashMap::new(),
            next: 0,
            capacity,
            evicted: 0,
        }
    }

    /// Records a start or an end, whether or not the other was seen: an end whose start was
    /// ignored or evicted is kept, as LlamaIndex keeps it.
    pub(super) fn record(&mut self, event: CBEvent) {
        let seq = self.next;
        self.next += 1;
        if let Some(events) = self.by_id.get_mut(&event.id) {
            events.push((seq, event));
            return;
        }
        if self.order.len() == self.capacity {
            self.evict_oldest();
        }
        self.order.push_back(event.id.clone());
        self.by_id.insert(event.id.clone(), vec![(seq, event)]);
    }

    #[cold]
    fn evict_oldest(&mut self) {
        if let Some(oldest) = self.order.pop_front() {
            self.by_id.remove(&oldest);
            self.evicted += 1;
        }
    }

    /// The events of `id`, in the order they came.
    pub(super) fn get(&self, id: &str) -> Option<impl Iterator<Item = &CBEvent>> {
        self.by_id
            .get(id)
            .map(|events| events.iter().map(|(_, e)| e))
    }

    /// Every event of `event_type`, or of every type, in the order they came.
    pub(super) fn events(&self, event_type: Option<CBEventType>) -> Vec<CBEvent> {
        let mut events: Vec<&(u64, CBEvent)> = self
            .by_id
            .values()
            .flatten()
            .filter(|(_, e)| event_type.is_none_or(|t| e.event_type == t))
            .collect();
        events.sort_unstable_by_key(|(seq, _)| *seq);
        events.into_iter().map(|(_, e)| e.clone()).collect()
    }

    /// The events of each id, ids in the order first seen, of `event_type` or of every type.
    pub(super) fn pairs(&self, event_type: Option<CBEventType>) -> Vec<EventPair> {
        self.order
            .iter()
            .filter_map(|id| self.by_id.get(id))
            .filter_map(|events| {
                EventPair::new(
                    events
                        .iter()
                        .filter(|(_, e)| event_type.is_none_or(|t| e.event_type == t))
                        .map(|(_, e)| e.clone())
                        .collect(),
                )
            })
            .collect()
    }

    /// Every event by its id, each id's in the order they came.
    pub(super) fn by_id(&self) -> HashMap<String, Vec<CBEvent>> {
        self.by_id
            .iter()
            .map(|(id, events)| (id.clone(), events.iter().map(|(_, e)| e.clone()).collect()))
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

    /// Forgets every event; the tables keep their room for the next ones.
    pub(super) fn clear(&mut self) {
        self.order.clear();
        self.by_id.clear();
    }
}
