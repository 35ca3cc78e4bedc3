//! A bounded table of span names that are not `&'static` in the source: `Type.method` names made at
//! run time and names read back from another process's span ids.
//!
//! Names are leaked so that [`crate::SpanId`] stays `Copy`; the table is capped so that hostile input
//! cannot grow memory without bound.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// At most this many distinct names made at run time are kept: `Type.method` span names, one per
/// type a generic method runs on, and the names in span ids parsed from other processes (a
/// propagated context, `SpanId::from_str`). Past it, a method's span is named by the method
/// alone, and a span id with a new name is refused ([`crate::ParseSpanIdError::TooManyNames`]);
/// [`interned_names_refused`] counts these, and the first is reported on stderr. Names written in
/// the source (`#[span]` on free functions, `name = ".."`) never count.
pub const MAX_INTERNED_NAMES: usize = 16_384;

static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// How many names were refused since the program started because [`MAX_INTERNED_NAMES`] were
/// held already.
///
/// ```
/// assert_eq!(instrument::interned_names_refused(), 0);
/// ```
#[must_use]
pub fn interned_names_refused() -> u64 {
    REFUSED.load(Ordering::Relaxed)
}

#[cold]
fn refuse(name: &str) {
    if REFUSED.fetch_add(1, Ordering::Relaxed) == 0 {
        eprintln!(
            "instrument: {MAX_INTERNED_NAMES} distinct span names made at run time are held, so \
             `{}` is not kept: methods' spans fall back to their method's name and span ids with \
             new names are refused from now on (later ones are only counted: \
             instrument::interned_names_refused())",
            name.chars().take(80).collect::<String>()
        );
    }
}

/// The `'static` copy of `name`, or `None` once [`MAX_INTERNED_NAMES`] distinct names are held.
pub(crate) fn intern(name: &str) -> Option<&'static str> {
    let mut guard = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    let names = guard.get_or_insert_with(HashSet::new);
    if let Some(found) = names.get(name) {
        return Some(found);
    }
    if names.len() >= MAX_INTERNED_NAMES {
        drop(guard);
        refuse(name);
        return None;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    Some(leaked)
}
