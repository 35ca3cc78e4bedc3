//! Small, stable integers for OS threads, as Chrome traces want for `tid`, and the threads' names.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};

/// Names are remembered for this many threads at most; later threads show by number only.
const MAX_NAMED: usize = 65_536;

static NEXT: AtomicU32 = AtomicU32::new(1);
static NAMES: Mutex<Vec<(u32, String)>> = Mutex::new(Vec::new());

thread_local! {
    /// This thread's number; zero until first asked.
    static TID: Cell<u32> = const { Cell::new(0) };
}

/// This thread's number: 1 for the first thread that asks, 2 for the next, and so on.
#[inline]
pub(crate) fn current() -> u32 {
    TID.try_with(|tid| match tid.get() {
        0 => assign(tid),
        id => id,
    })
    .unwrap_or(0)
}

#[cold]
fn assign(cell: &Cell<u32>) -> u32 {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    cell.set(id);
    let thread = std::thread::current();
    let name = thread
        .name()
        .map_or_else(|| format!("thread {id}"), str::to_owned);
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    if names.len() < MAX_NAMED {
        names.push((id, name));
    }
    id
}

/// The names of the threads numbered in `ids`, for those that had one when numbered.
pub(crate) fn names(ids: &std::collections::BTreeSet<u32>) -> Vec<(u32, String)> {
    let names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    names
        .iter()
        .filter(|(id, _)| ids.contains(id))
        .cloned()
        .collect()
}
