//! A bounded table of span names that are not `&'static` in the source: `Type.method` names made at
//! run time and names read back from another process's span ids.
//!
//! Names are leaked so that [`crate::SpanId`] stays `Copy`; the table is capped so that hostile input
//! cannot grow memory without bound.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

/// At most this many distinct names are kept.
pub const MAX_INTERNED_NAMES: usize = 16_384;

static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);

/// The `'static` copy of `name`, or `None` once [`MAX_INTERNED_NAMES`] distinct names are held.
pub(crate) fn intern(name: &str) -> Option<&'static str> {
    let mut guard = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    let names = guard.get_or_insert_with(HashSet::new);
    if let Some(found) = names.get(name) {
        return Some(found);
    }
    if names.len() >= MAX_INTERNED_NAMES {
        return None;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    Some(leaked)
}
