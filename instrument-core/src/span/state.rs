//! One span from start to end, as `#[span]` and the manual API keep it.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomPinned;
use std::mem::MaybeUninit;
use std::pin::Pin;

use serde_json::Value;

use crate::context::current;
use crate::context::tags::Tags;
use crate::context::traceparent::REMOTE_SPAN_NAME;
use crate::dispatch::dispatcher::{Chain, KEEP_ALL};
use crate::span::id::SpanId;
use crate::span::open_spans::{self, Slot};
use crate::values::args::Arg;

use super::core_state::{SpanCore, trace_of};
use super::outcome::{ErrorText, Outcome};

/// Where a span asked for now will start, captured to start it later: the current span, its trace
/// and the tags. Not API: `#[span]` on an `async fn` captures it when the function is called.
#[doc(hidden)]
#[derive(Debug)]
pub struct Parent {
    pub(super) id: Option<SpanId>,
    pub(super) trace: u128,
    pub(super) tags: Tags,
}

impl Parent {
    /// The current span, trace and tags; `None` inside a handler, where nothing is recorded.
    #[inline]
    #[must_use]
    pub fn current() -> Option<Self> {
        if current::in_handler() {
            return None;
        }
        let current = current::current_saved();
        if current.recording == current::UNSAMPLED {
            return None; // its trace was left out by a sampler
        }
        Some(Self {
            id: current.id,
            trace: current.trace,
            tags: current::tags(),
        })
    }

    /// Decides, for a span about to start on `chain` (which samples), whether it is a root and,
    /// if so, whether the sampler keeps it: by its trace's hash, as [`Parent::keeps`] decides, so
    /// that the decision is the same wherever that trace-id is seen.
    #[inline]
    pub(super) fn decide_root(chain: &Chain, name: &'static str) -> Root {
        let current = current::current_saved();
        if current.id.is_some() || current.recording == current::UNSAMPLED || current::in_handler()
        {
            return Root::Child;
        }
        let id = SpanId::fresh(name);
        let trace = trace_of(id, None, current.trace);
        if chain.keeps_trace(trace) {
            Root::Kept(id)
        } else {
            Root::LeftOut { id, trace }
        }
    }

    /// Whether a span starting here in trace `trace`, on a chain that samples, is kept: a root by
    /// its trace's hash, the first span under a remote caller by the caller's `sampled` flag, any
    /// other by its parent (which was kept, or this would not be asked).
    #[cold]
    fn keeps(&self, chain: &Chain, trace: u128) -> bool {
        match self.id {
            None => chain.keeps_trace(trace),
            Some(parent) if parent.name() == REMOTE_SPAN_NAME => current::trace()
                .filter(|remote| u128::from_be_bytes(remote.trace_id) == trace)
                .is_none_or(|remote| remote.sampled),
            Some(_) => true,
        }
    }
}

/// What [`Parent::decide_root`] decided.
pub(super) enum Root {
    /// The span has a parent (or is not recorded at all): its start decides.
    Child,
    /// A root the sampler keeps, with the id its decision was made from.
    Kept(SpanId),
    /// A root the sampler leaves out: its id and trace, for the mark on its body's scope.
    LeftOut {
        /// The id the span would have had.
        id: SpanId,
        /// Its trace.
        trace: u128,
    },
}

/// How a span asked for in place began ([`SpanState::start_at`]).
pub(crate) enum Began {
    /// Started: the state is written.
    Started,
    /// Not started, and nothing to mark: called inside a handler, or in a left-out trace.
    Skipped,
    /// Left out by its dispatcher's sampler: the caller marks the scope of its body, so that the
    /// spans under it are left out too and a `traceparent` sent from it names its trace.
    LeftOut {
        /// The id the span would have had: the parent a `traceparent` sent from inside names.
        id: SpanId,
        /// Its trace.
        trace: u128,
    },
}

/// One span from start to end: the state `#[span]` and the manual API keep for an open span.
///
/// Not API: use `#[span]`, [`crate::Dispatcher::in_span`] or [`crate::Dispatcher::enter_span`].
/// It must be pinned before [`SpanState::run`] or [`SpanState::instrument`], and ends exactly once:
/// by [`SpanState::exit`], [`SpanState::fail`], a panic inside, shutdown, or, when dropped unended,
/// as cancelled.
#[doc(hidden)]
pub struct SpanState {
    pub(super) core: SpanCore,
    pub(super) metadata: Vec<(Cow<'static, str>, Value)>,
    pub(super) slot: Option<&'static Slot>,
    pub(super) registered: bool,
    pub(super) finished: bool,
    pub(super) _pinned: PhantomPinned,
}

impl SpanState {
    /// Starts a span on `chain` as a child of the current span, or `None` when called from inside a
    /// handler.
    #[inline]
    #[must_use]
    pub fn start(
        chain: &'static Chain,
        name: &'static str,
        dispatcher: &'static str,
        instance: Option<&'static str>,
        args: &[Arg<'_>],
    ) -> Option<Self> {
        Self::start_under(Parent::current(), chain, name, dispatcher, instance, args)
    }

    /// As [`SpanState::start`], writing the state in place when the span starts; `place` is
    /// left untouched when it does not, and a span the sampler leaves out only says so, with
    /// its id and trace, for the caller to mark its scope. `decided` is the id a root's sampling
    /// decision was made from ([`Parent::decide_root`]), which the span keeps.
    #[inline]
    pub(crate) fn start_at(
        place: &mut MaybeUninit<Self>,
        chain: &'static Chain,
        name: &'static str,
        dispatcher: &'static str,
        instance: Option<&'static str>,
        decided: Option<SpanId>,
        args: &[Arg<'_>],
    ) -> Began {
        let Some(parent) = Parent::current() else {
            return Began::Skipped;
        };
        let id = decided.unwrap_or_else(|| SpanId::fresh(name));
        let trace = trace_of(id, parent.id, parent.trace);
        // A root decided before its body ran was kept: its decision is not made twice.
        if chain.sample != KEEP_ALL && decided.is_none() && !parent.keeps(chain, trace) {
            return Began::LeftOut { id, trace };
        }
        Self::start_kept(place, parent, chain, id, trace, dispatcher, instance, args);
        Began::Started
    }

    /// Writes a span started under `parent` at `place`.
    #[inline(always)]
    pub(super) fn start_in(
        place: &mut MaybeUninit<Self>,
        parent: Parent,
        chain: &'static Chain,
        name: &'static str,
        dispatcher: &'static str,
        instance: Option<&'static str>,
        args: &[Arg<'_>],
    ) {
        let id = SpanId::fresh(name);
        let trace = trace_of(id, parent.id, parent.trace);
        if chain.sample != KEEP_ALL && Self::left_out(place, &parent, chain, id, trace, dispatcher)
        {
            return;
        }
        Self::start_kept(place, parent, chain, id, trace, dispatcher, instance, args);
    }

    /// Writes a span the sampler kept (or that no sampler decides) at `place`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn start_kept(
        place: &mut MaybeUninit<Self>,
        parent: Parent,
        chain: &'static Chain,
        id: SpanId,
        trace: u128,
        dispatcher: &'static str,
        instance: Option<&'static str>,
        args: &[Arg<'_>],
    ) {
        Self::init(place, |core| {
            // SAFETY: `core` points into `place`, valid for writes.
            unsafe {
                SpanCore::init(
                    core,
                    chain,
                    id,
                    parent.id,
                    trace,
                    parent.tags,
                    dispatcher,
                    instance,
                    args,
                );
            };
        });
    }

    /// Writes a span left out by `chain`'s sampler at `place`, if it is; whether it was.
    #[cold]
    #[inline(never)]
    fn left_out(
        place: &mut MaybeUninit<Self>,
        parent: &Parent,
        chain: &Chain,
        id: SpanId,
        trace: u128,
        dispatcher: &'static str,
    ) -> bool {
        if parent.keeps(chain, trace) {
            return false;
        }
        Self::init(place, |core| {
            // SAFETY: `core` points into `place`, valid for writes.
            unsafe { SpanCore::init_unsampled(core, id, parent.id, trace, dispatcher) };
        });
        true
    }

    /// Starts a span under `parent`, the context captured where the span was asked for: an
    /// `async fn` called in one span and first polled later, elsewhere, is that span's child.
    /// `None` when there is no parent to start under (the call was made inside a handler).
    #[inline]
    #[must_use]
    pub fn start_under(
        parent: Option<Parent>,
        chain: &'static Chain,
        name: &'static str,
        dispatcher: &'static str,
        instance: Option<&'static str>,
        args: &[Arg<'_>],
    ) -> Option<Self> {
        let mut place = MaybeUninit::uninit();
        Self::start_in(&mut place, parent?, chain, name, dispatcher, instance, args);
        // SAFETY: `start_in` initialised every field.
        Some(unsafe { place.assume_init() })
    }

    /// Starts a span with an explicit id, parent, trace and tags (the by-id API).
    pub(crate) fn start_detached(
        chain: &'static Chain,
        id: SpanId,
        parent: Option<SpanId>,
        trace: u128,
        tags: Tags,
        dispatcher: &'static str,
        args: &[Arg<'_>],
    ) -> Self {
        let trace = trace_of(id, parent, trace);
        let mut place = MaybeUninit::uninit();
        Self::init(&mut place, |core| {
            // SAFETY: `core` points into `place`, valid for writes.
            unsafe {
                SpanCore::init(core, chain, id, parent, trace, tags, dispatcher, None, args);
            };
        });
        // SAFETY: `init` initialised every field.
        unsafe { place.assume_init() }
    }

    /// Writes a fresh state at `place`, its core by `init_core`.
    pub(super) fn init(place: &mut MaybeUninit<Self>, init_core: impl FnOnce(*mut SpanCore)) {
        let p = place.as_mut_ptr();
        // SAFETY: every field is written once before `place` is read.
        unsafe {
            init_core(&raw mut (*p).core);
            (&raw mut (*p).metadata).write(Vec::new());
            (&raw mut (*p).slot).write(None);
            (&raw mut (*p).registered).write(false);
            (&raw mut (*p).finished).write(false);
            (&raw mut (*p)._pinned).write(PhantomPinned);
        }
    }

    /// The span's id.
    #[must_use]
    pub fn id(&self) -> SpanId {
        self.core.id
    }

    /// Whether the span's sampler left it out: no handler sees it.
    #[must_use]
    pub fn is_sampled_out(&self) -> bool {
        self.core.sampled_out()
    }

    /// The span's trace-id, as a `u128`.
    pub(crate) fn trace(&self) -> u128 {
        self.core.trace
    }

    pub(crate) fn register(self: Pin<&mut Self>) {
        // SAFETY: nothing is moved out; the address given to `open_spans` stays valid until `finish`
        // releases it, which Drop guarantees for a pinned value.
        let this = unsafe { self.get_unchecked_mut() };
        // A span left out by its sampler has nothing for shutdown to end.
        if !this.registered && !this.core.sampled_out() {
            this.registered = true;
            this.slot = open_spans::register(std::ptr::from_mut(&mut this.core));
        }
    }

    /// Runs `f` inside the span: the span is current, a panic drops it with the panic's message (then
    /// unwinding resumes). The caller ends the span after with `exit` or `fail`.
    #[inline]
    pub fn run<R>(mut self: Pin<&mut Self>, f: impl FnOnce() -> R) -> R {
        self.as_mut().register();
        let scope = self.core.enter();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        // SAFETY: only `metadata` is touched; nothing is moved.
        let this = unsafe { self.as_mut().get_unchecked_mut() };
        scope.leave(this.core.id, &mut this.metadata);
        match result {
            Ok(value) => value,
            Err(payload) => self.panicked(payload),
        }
    }

    #[cold]
    pub(super) fn panicked(self: Pin<&mut Self>, payload: Box<dyn std::any::Any + Send>) -> ! {
        let message = crate::values::value_guard::panic_message(&*payload);
        self.finish(&Outcome::Panic(&message));
        std::panic::resume_unwind(payload)
    }

    /// Ends the span normally with the return value.
    #[inline]
    pub fn exit(self: Pin<&mut Self>, result: Option<Arg<'_>>) {
        self.finish(&Outcome::Exit(result));
    }

    /// Ends the span with an error (it is dropped, and a `SpanDropEvent` emitted).
    #[cold]
    pub fn fail(self: Pin<&mut Self>, error: ErrorText<'_>) {
        self.finish(&Outcome::Error(error));
    }

    /// Ends the span as dropped with `reason` (the manual API).
    pub(crate) fn drop_with(self: Pin<&mut Self>, reason: &str) {
        self.finish(&Outcome::Dropped(reason));
    }

    pub(super) fn finish(self: Pin<&mut Self>, outcome: &Outcome<'_>) {
        // SAFETY: nothing is moved out of the pinned state.
        let this = unsafe { self.get_unchecked_mut() };
        this.finish_in_place(outcome);
    }

    fn finish_in_place(&mut self, outcome: &Outcome<'_>) {
        if std::mem::replace(&mut self.finished, true) || self.core.sampled_out() {
            return;
        }
        if let Some(slot) = self.slot.take()
            && !open_spans::release(slot, std::ptr::from_mut(&mut self.core))
        {
            return; // shutdown ended it
        }
        // SAFETY: we own the right to end the span: never registered, or released by us.
        unsafe { self.core.end(outcome, &mut self.metadata) };
    }
}

impl SpanState {
    /// Whether the span has ended and dropping its state would free nothing: then a place that
    /// holds it may forget it instead of running its drop glue, as most spans' places do. (Every
    /// field is named, so that a field added makes this fail to compile until it is considered.)
    #[inline]
    pub(super) fn ended_and_plain(&self) -> bool {
        let Self {
            core,
            metadata,
            slot: _,
            registered: _,
            finished,
            _pinned,
        } = self;
        let SpanCore {
            id: _,
            parent: _,
            trace: _,
            start: _,
            chain: _,
            shared,
            tags,
            dispatcher: _,
            spans,
        } = core;
        // SAFETY: the span has ended (`finished`), so no one else touches `spans` any more.
        let spans = unsafe { &*spans.get() };
        *finished
            && metadata.capacity() == 0
            && shared.is_none()
            && !tags.owns_anything()
            && spans.rare.is_none()
            && spans.live == 0
    }
}

impl Drop for SpanState {
    fn drop(&mut self) {
        if !self.finished {
            self.finish_in_place(&Outcome::Cancelled);
        }
    }
}

impl fmt::Debug for SpanState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanState")
            .field("id", &self.core.id)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

/// A boxed span state, for spans that outlive the call that made them (streams, manual guards).
pub(crate) type BoxedState = Pin<Box<SpanState>>;
