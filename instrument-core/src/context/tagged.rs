//! Running code under tags: the current tags of a thread or task, set for a closure or a future.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::context::current;
use crate::context::tags::Tags;

/// The tags of the current thread or task.
#[must_use]
pub fn current_tags() -> Tags {
    current::tags()
}

/// Runs `f` with `tags` as the current tags: spans and events made inside carry them. Nested scopes
/// replace the outer tags rather than merge with them, as in LlamaIndex; each thread and task sees
/// only its own.
///
/// ```
/// use instrument::{current_tags, instrument_tags, Tags};
///
/// instrument_tags(Tags::from([("user", "ada")]), || {
///     assert_eq!(current_tags().get("user"), Some(&serde_json::json!("ada")));
///     instrument_tags(Tags::from([("tier", "pro")]), || {
///         assert!(current_tags().get("user").is_none()); // replaced, not merged
///     });
/// });
/// assert!(current_tags().is_empty());
/// ```
pub fn instrument_tags<R>(tags: Tags, f: impl FnOnce() -> R) -> R {
    let _restore = current::TagsGuard::set(tags);
    f()
}

/// The async form of [`instrument_tags`]: `future` sees `tags` on every poll, whichever thread polls it.
pub fn instrument_tags_async<F: Future>(tags: Tags, future: F) -> WithTags<F> {
    WithTags { tags, future }
}

/// A future that runs with its own tags; see [`instrument_tags_async`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct WithTags<F> {
    tags: Tags,
    future: F,
}

impl<F: Future> Future for WithTags<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: never moved out, and `WithTags` has no Drop impl.
        let this = unsafe { self.get_unchecked_mut() };
        let _restore = current::TagsGuard::set(this.tags.clone());
        unsafe { Pin::new_unchecked(&mut this.future) }.poll(cx)
    }
}
