//! The dispatcher of each `tracing` call site, looked up once per thread and call site.

use std::cell::RefCell;
use std::collections::HashMap;

use instrument_core::{Dispatcher, get_dispatcher};

thread_local! {
    /// Call sites are `static`s, so their metadata's address names them; the table grows with the
    /// call sites a thread meets, which are finite.
    static BY_CALLSITE: RefCell<HashMap<usize, &'static Dispatcher>> = RefCell::new(HashMap::new());
}

/// The dispatcher named after `metadata`'s target.
#[inline]
pub(super) fn dispatcher(metadata: &'static tracing::Metadata<'static>) -> &'static Dispatcher {
    let key = std::ptr::from_ref(metadata) as usize;
    BY_CALLSITE
        .try_with(|cache| {
            if let Some(found) = cache.borrow().get(&key) {
                return *found;
            }
            miss(cache, key, metadata)
        })
        .unwrap_or_else(|_| get_dispatcher(metadata.target()))
}

#[cold]
fn miss(
    cache: &RefCell<HashMap<usize, &'static Dispatcher>>,
    key: usize,
    metadata: &'static tracing::Metadata<'static>,
) -> &'static Dispatcher {
    let dispatcher = get_dispatcher(metadata.target());
    cache.borrow_mut().insert(key, dispatcher);
    dispatcher
}
