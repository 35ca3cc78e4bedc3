//! Totals by request: a handler shared by concurrent requests keeps each one's tokens and cost
//! apart, by the value of a tag the request sets (a request id) or by the request's trace.

use std::collections::HashMap;

use super::cost::Cost;
use super::payload;
use super::totals::CostTotals;
use super::usage::Usage;
use instrument_core::{Context, current_tags};

/// What a handler groups its totals by; nothing by default.
#[derive(Debug, Clone, Default)]
pub(super) struct Grouping {
    /// The tag whose value names a group.
    pub(super) tag: Option<String>,
    /// Whether each trace is a group.
    pub(super) trace: bool,
}

/// The groups a call counts in, read from the context it ends in.
#[derive(Debug, Default)]
pub(super) struct GroupKeys {
    tag: Option<String>,
    trace: Option<[u8; 16]>,
}

impl Grouping {
    /// The groups of a call ending here: the current tags' value of the tag, the current trace.
    /// Read before the handler locks its state, since reading tags may take a lock of its own.
    pub(super) fn keys(&self) -> GroupKeys {
        GroupKeys {
            tag: self
                .tag
                .as_ref()
                .and_then(|key| current_tags().get(key).map(payload::text)),
            trace: self.trace.then(Context::current_trace_id).flatten(),
        }
    }
}

/// The totals of each group that counted a call.
#[derive(Debug, Default)]
pub(super) struct Groups {
    pub(super) by_tag: HashMap<String, CostTotals>,
    pub(super) by_trace: HashMap<[u8; 16], CostTotals>,
}

impl Groups {
    /// Counts one call in the groups `keys` name.
    pub(super) fn add(&mut self, keys: GroupKeys, usage: &Usage, cost: Option<Cost>) {
        if let Some(tag) = keys.tag {
            self.by_tag.entry(tag).or_default().add(usage, cost);
        }
        if let Some(trace) = keys.trace {
            self.by_trace.entry(trace).or_default().add(usage, cost);
        }
    }
}
