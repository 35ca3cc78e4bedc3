//! The part of an open span that its owner and shutdown share: its ids, times, chain and the
//! handlers' span values, and what span handlers see when it ends.

use std::borrow::Cow;
use std::cell::UnsafeCell;
use std::fmt;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::batch::{self, EndedSpan, Extra};
use crate::context::current::{HandlerGuard, RECORDING, Scope, UNSAMPLED};
use crate::context::tags::Tags;
use crate::dispatch::dispatcher::{Chain, Shared, UNSAMPLED_CHAIN, shared_of};
use crate::dispatch::event::EventEnvelope;
use crate::dispatch::handler::{ErasedSpanHandler, SpanSlot};
use crate::events::SpanDropEvent;
use crate::span::clock::Timestamp;
use crate::span::id::SpanId;
use crate::values::args::Arg;

use super::outcome::{CANCELLED, DropReason, Outcome, SHUTDOWN};
use super::start::SpanStart;

/// What span handlers see when a span ends.
pub struct SpanEnd<'a> {
    pub(super) core: &'a SpanCore,
    pub(super) end: Timestamp,
    pub(super) outcome: &'a Outcome<'a>,
    pub(super) metadata: &'a [(Cow<'static, str>, Value)],
}

impl<'a> SpanEnd<'a> {
    /// The span's id.
    #[must_use]
    pub fn id(&self) -> SpanId {
        self.core.id
    }

    /// The W3C trace-id of the span's trace, as [`SpanStart::trace_id`] gave it.
    #[must_use]
    pub fn trace_id(&self) -> [u8; 16] {
        self.core.trace.to_be_bytes()
    }

    /// The span's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.core.id.name()
    }

    /// The span's parent.
    #[must_use]
    pub fn parent_id(&self) -> Option<SpanId> {
        self.core.parent
    }

    /// When the span started.
    #[must_use]
    pub fn start(&self) -> Timestamp {
        self.core.start
    }

    /// When the span ended.
    #[must_use]
    pub fn end(&self) -> Timestamp {
        self.end
    }

    /// Wall-clock start time.
    #[must_use]
    pub fn start_time(&self) -> DateTime<Utc> {
        self.core.start.to_utc()
    }

    /// Wall-clock end time.
    #[must_use]
    pub fn end_time(&self) -> DateTime<Utc> {
        self.end.to_utc()
    }

    /// How long the span was open.
    #[must_use]
    pub fn duration(&self) -> Duration {
        self.end.duration_since(self.core.start)
    }

    /// The tags active when the span started.
    #[must_use]
    pub fn tags(&self) -> &'a Tags {
        &self.core.tags
    }

    /// The name of the dispatcher the span was made on.
    #[must_use]
    pub fn dispatcher(&self) -> &'static str {
        self.core.dispatcher
    }

    /// How the span ended.
    #[must_use]
    pub fn outcome(&self) -> &'a Outcome<'a> {
        self.outcome
    }

    /// Whether the span exited normally (else it was dropped).
    #[must_use]
    pub fn is_exit(&self) -> bool {
        matches!(self.outcome, Outcome::Exit(_))
    }

    /// The return value (the `Ok` value for `Result`s), unless skipped or dropped.
    #[must_use]
    pub fn result(&self) -> Option<&'a Arg<'a>> {
        match self.outcome {
            Outcome::Exit(result) => result.as_ref(),
            _ => None,
        }
    }

    /// Why the span was dropped, if it was.
    #[must_use]
    pub fn drop_reason(&self) -> Option<DropReason> {
        self.outcome.drop_reason()
    }

    /// The error text of a dropped span (LlamaIndex's `err`): the error's `Display`, the panic
    /// message, `"cancelled"` or `"dispatcher shutdown"`.
    #[must_use]
    pub fn error(&self) -> Option<String> {
        outcome_error(self.outcome)
    }

    /// What code inside the span recorded with [`crate::CurrentSpan::record`], in order.
    #[must_use]
    pub fn metadata(&self) -> &'a [(Cow<'static, str>, Value)] {
        self.metadata
    }
}

fn outcome_error(outcome: &Outcome<'_>) -> Option<String> {
    Some(match outcome {
        Outcome::Exit(_) => return None,
        // An error type whose `Display` panics must not take the span's end down with it.
        Outcome::Error(text) => {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| text.to_string()))
                .unwrap_or_else(|_| format!("<{}: its Display panicked>", text.type_name))
        }
        Outcome::Panic(message) | Outcome::Dropped(message) => (*message).to_owned(),
        Outcome::Cancelled => CANCELLED.to_owned(),
        Outcome::Shutdown => SHUTDOWN.to_owned(),
    })
}

impl fmt::Debug for SpanEnd<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanEnd")
            .field("id", &self.core.id)
            .field("parent", &self.core.parent)
            .field("duration", &self.duration())
            .field("outcome", self.outcome)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

/// What the span's handlers are owed at its end: the span values of each handler in the chain
/// that followed the span (inline for the first two), and for the batched handlers, the
/// arguments captured at start and which of them have had the span already.
pub(super) struct HandlerSpans {
    pub(super) live: u8,
    pub(super) inline: [MaybeUninit<SpanSlot>; 2],
    /// Everything most spans lack, out of line: an `async fn`'s future carries this state and is
    /// moved whole, so each word here is paid by every async span.
    pub(super) rare: Option<Box<Rare>>,
}

/// The part of [`HandlerSpans`] most spans do without.
#[derive(Default)]
pub(super) struct Rare {
    /// Span values of the handlers past the first two, by their number.
    pub(super) more: Vec<(usize, SpanSlot)>,
    /// The arguments as JSON, when a batched handler captures them.
    pub(super) batch_args: Option<Value>,
    /// Batched handlers (by their number in the chain, then the shared snapshot) that a
    /// dispatcher's shutdown ended the span for already.
    pub(super) batch_done: u64,
}

impl HandlerSpans {
    pub(super) fn new() -> Self {
        Self {
            live: 0,
            inline: [MaybeUninit::uninit(), MaybeUninit::uninit()],
            rare: None,
        }
    }

    /// The rare part, made on first use.
    #[cold]
    pub(super) fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// The batched handlers that have had the span already.
    #[inline]
    pub(super) fn batch_done(&self) -> u64 {
        self.rare.as_ref().map_or(0, |rare| rare.batch_done)
    }

    /// Whether span values of handlers past the first two are held.
    #[inline]
    fn has_more(&self) -> bool {
        self.rare.as_ref().is_some_and(|rare| !rare.more.is_empty())
    }
}

/// The part of a span's state that shutdown may reach from another thread.
pub(crate) struct SpanCore {
    pub(super) id: SpanId,
    pub(super) parent: Option<SpanId>,
    /// The trace-id, fixed at start.
    pub(super) trace: u128,
    pub(super) start: Timestamp,
    pub(super) chain: &'static Chain,
    /// The shared handlers the span's dispatcher reached when it started (only when its chain
    /// says there are some); their span values follow the chain's in `spans`.
    pub(super) shared: Option<Arc<Shared>>,
    pub(super) tags: Tags,
    pub(super) dispatcher: &'static str,
    /// Taken by whoever ends the span: its owner, or shutdown after claiming its slot.
    pub(super) spans: UnsafeCell<HandlerSpans>,
}

// SAFETY: every field but `spans` is immutable after start; `spans` is touched only by the one party
// that ends the span, which `open_spans` makes exclusive.
unsafe impl Sync for SpanCore {}

impl SpanCore {
    /// Makes the span current on this thread until the scope is left, and tells the handlers that
    /// follow scopes (they are told it left before the span around it is current again).
    #[inline]
    pub(super) fn enter(&self) -> Scope {
        if self.sampled_out() {
            return Scope::enter(self.id, self.trace, UNSAMPLED);
        }
        let mut scope = Scope::enter(self.id, self.trace, RECORDING);
        if !self.chain.scoped.is_empty() {
            scope.follow(self.id, self.chain);
        }
        scope
    }

    /// Whether the span's sampler left it out: it reaches no handler, and the spans under it are
    /// left out too.
    #[inline]
    pub(super) fn sampled_out(&self) -> bool {
        std::ptr::eq(self.chain, &UNSAMPLED_CHAIN)
    }

    /// Writes a span its sampler left out at `place`: its id and trace, so that a context or
    /// `traceparent` taken inside names them, and no handler.
    ///
    /// # Safety
    /// `place` is valid for writes of a `SpanCore`; on return it holds an initialised one.
    #[cold]
    pub(super) unsafe fn init_unsampled(
        place: *mut SpanCore,
        id: SpanId,
        parent: Option<SpanId>,
        trace: u128,
        dispatcher: &'static str,
    ) {
        // SAFETY: every field is written once, through raw pointers, before any is read.
        unsafe {
            place.write(SpanCore {
                id,
                parent,
                trace,
                start: Timestamp::now(),
                chain: &UNSAMPLED_CHAIN,
                shared: None,
                tags: Tags::new(),
                dispatcher,
                spans: UnsafeCell::new(HandlerSpans::new()),
            });
        }
    }

    /// Starts a span: asks each span handler in `chain` for its span value, writing the state in
    /// place at `place` so that nothing large is copied on the hot path.
    ///
    /// # Safety
    /// `place` is valid for writes of a `SpanCore`; on return it holds an initialised one.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn init(
        place: *mut SpanCore,
        chain: &'static Chain,
        id: SpanId,
        parent: Option<SpanId>,
        trace: u128,
        tags: Tags,
        dispatcher: &'static str,
        instance: Option<&'static str>,
        args: &[Arg<'_>],
    ) {
        let start = Timestamp::now();
        let shared = if chain.shared {
            shared_of(dispatcher)
        } else {
            None
        };
        // SAFETY: every field is written once, through raw pointers, before any is read.
        unsafe {
            (&raw mut (*place).id).write(id);
            (&raw mut (*place).parent).write(parent);
            (&raw mut (*place).trace).write(trace);
            (&raw mut (*place).start).write(start);
            (&raw mut (*place).chain).write(chain);
            (&raw mut (*place).shared).write(shared);
            (&raw mut (*place).tags).write(tags);
            (&raw mut (*place).dispatcher).write(dispatcher);
            (&raw mut (*place).spans).write(UnsafeCell::new(HandlerSpans::new()));
        }
        // SAFETY: initialised just above, and not shared yet.
        let (core, spans) = unsafe { (&*place, &mut *(*place).spans.get()) };
        if core.capture().args && !args.is_empty() {
            spans.rare().batch_args = Some(batch_args(args));
        }
        if chain.span.is_empty() && core.shared.as_ref().is_none_or(|s| s.span.is_empty()) {
            return;
        }
        let _guard = HandlerGuard::enter();
        let cx = SpanStart {
            id,
            parent,
            trace,
            start,
            tags: &core.tags,
            args,
            instance,
            dispatcher,
        };
        for (index, handler) in chain.span.iter().enumerate() {
            if let Some(slot) = handler.new_span(&cx) {
                if index < 2 {
                    spans.inline[index].write(slot);
                    spans.live |= 1 << index;
                } else {
                    spans.rare().more.push((index, slot));
                }
            }
        }
        if let Some(shared) = &core.shared {
            Self::start_shared(shared, chain.span.len(), &cx, spans);
        }
    }

    /// Asks the shared handlers for their span values, numbered after the chain's handlers.
    #[cold]
    #[inline(never)]
    fn start_shared(shared: &Shared, first: usize, cx: &SpanStart<'_>, spans: &mut HandlerSpans) {
        for (index, handler) in shared.span.iter().enumerate() {
            if let Some(slot) = handler.new_span(cx) {
                spans.rare().more.push((first + index, slot));
            }
        }
    }

    /// What the span's batched handlers, the chain's and the shared ones, ask the core to
    /// capture.
    #[inline]
    fn capture(&self) -> batch::Capture {
        match &self.shared {
            None => self.chain.capture,
            Some(shared) => self.chain.capture | shared.capture,
        }
    }

    /// The span handler numbered `index`: the chain's, then the shared ones. Always `Some` for
    /// the number of a value in `spans`: a value numbered past the chain was made by a handler of
    /// this span's own shared snapshot, which never changes.
    pub(super) fn span_handler(&self, index: usize) -> Option<&dyn ErasedSpanHandler> {
        match self.chain.span.get(index) {
            Some(handler) => Some(*handler),
            None => self
                .shared
                .as_ref()?
                .span
                .get(index - self.chain.span.len())
                .map(|handler| &**handler),
        }
    }

    /// Hands every handler's span value back to it. Called exactly once, by the party that owns the
    /// right to end the span.
    ///
    /// # Safety
    /// No one else accesses `spans` now or later.
    #[inline]
    pub(crate) unsafe fn end(
        &self,
        outcome: &Outcome<'_>,
        metadata: &mut Vec<(Cow<'static, str>, Value)>,
    ) {
        let end = Timestamp::now();
        let shared_events = self.shared.as_ref().is_some_and(|s| !s.event.is_empty());
        if !matches!(outcome, Outcome::Exit(_)) && (!self.chain.event.is_empty() || shared_events) {
            let _guard = HandlerGuard::enter();
            self.emit_drop_event(outcome, end);
        }
        // SAFETY: exclusive by the caller's guarantee.
        unsafe { self.end_handlers(outcome, metadata, end) };
    }

    /// Ends the span for the span handlers whose values it still holds, and records it for the
    /// batched handlers it has not ended for yet.
    ///
    /// # Safety
    /// No one else accesses `spans` now or later.
    #[inline]
    pub(super) unsafe fn end_handlers(
        &self,
        outcome: &Outcome<'_>,
        metadata: &mut Vec<(Cow<'static, str>, Value)>,
        end: Timestamp,
    ) {
        // SAFETY: exclusive by the caller's guarantee.
        let spans = unsafe { &mut *self.spans.get() };
        if spans.live != 0 || spans.has_more() {
            self.end_sync_handlers(spans, outcome, metadata, end);
        }
        if self.chain.batches(self.shared.as_deref()) {
            self.record_for_batches(spans, outcome, metadata, end);
        }
    }

    /// Hands the span handlers their span values back.
    #[inline]
    fn end_sync_handlers(
        &self,
        spans: &mut HandlerSpans,
        outcome: &Outcome<'_>,
        metadata: &[(Cow<'static, str>, Value)],
        end: Timestamp,
    ) {
        let _guard = HandlerGuard::enter();
        let cx = SpanEnd {
            core: self,
            end,
            outcome,
            metadata,
        };
        for index in 0..2 {
            if spans.live & (1 << index) != 0 {
                spans.live &= !(1 << index);
                // SAFETY: the bit says slot `index` was written and not yet taken; the slot was made by
                // `chain.span[index]`.
                unsafe {
                    let slot = spans.inline[index].assume_init_read();
                    self.chain.span[index].end(slot, &cx);
                }
            }
        }
        let more = spans
            .rare
            .as_mut()
            .map(|rare| std::mem::take(&mut rare.more));
        for (index, slot) in more.into_iter().flatten() {
            if let Some(handler) = self.span_handler(index) {
                // SAFETY: made by this handler's `new_span`.
                unsafe { handler.end(slot, &cx) };
            }
        }
    }

    /// Writes the span's record for its batched handlers, unless a dispatcher's shutdown ended
    /// it for all of them already.
    #[inline]
    fn record_for_batches(
        &self,
        spans: &mut HandlerSpans,
        outcome: &Outcome<'_>,
        metadata: &mut Vec<(Cow<'static, str>, Value)>,
        end: Timestamp,
    ) {
        let count = self.chain.batch.len() + self.shared.as_ref().map_or(0, |s| s.batch.len());
        let all = if count >= 64 {
            u64::MAX
        } else {
            (1 << count) - 1
        };
        let done = spans.batch_done();
        if done != 0 && count < 64 && done & all == all {
            return;
        }
        let capture = self.capture();
        let result = match outcome {
            Outcome::Exit(Some(result)) if capture.result => Some(result),
            _ => None,
        };
        let extra = if outcome.drop_reason().is_some()
            || !metadata.is_empty()
            || spans
                .rare
                .as_ref()
                .is_some_and(|rare| rare.batch_args.is_some())
            || result.is_some()
            || (capture.tags && !self.tags.is_empty())
        {
            Some(self.extra(spans, outcome, metadata, result, capture))
        } else {
            None
        };
        batch::record(|| EndedSpan {
            id: self.id,
            parent: self.parent,
            trace: self.trace,
            start: self.start,
            end,
            dispatcher: self.dispatcher,
            extra,
            chain: self.chain,
            shared: self.shared.clone(),
            skip: done,
        });
    }

    /// What a record carries besides ids and times.
    #[cold]
    fn extra(
        &self,
        spans: &mut HandlerSpans,
        outcome: &Outcome<'_>,
        metadata: &mut Vec<(Cow<'static, str>, Value)>,
        result: Option<&Arg<'_>>,
        capture: batch::Capture,
    ) -> Box<Extra> {
        Box::new(Extra {
            drop: outcome
                .drop_reason()
                .map(|reason| (reason, outcome_error(outcome).unwrap_or_default().into())),
            metadata: std::mem::take(metadata),
            args: spans.rare.as_mut().and_then(|rare| rare.batch_args.take()),
            result: result.map(Arg::to_json),
            tags: if capture.tags {
                self.tags.clone()
            } else {
                Tags::new()
            },
        })
    }

    #[cold]
    fn emit_drop_event(&self, outcome: &Outcome<'_>, at: Timestamp) {
        let event = SpanDropEvent {
            span_id: self.id,
            err_str: outcome_error(outcome).unwrap_or_default(),
        };
        let envelope = EventEnvelope::with_context(
            &event,
            self.dispatcher,
            at,
            Some(self.id),
            self.tags.clone(),
        );
        self.chain.handle(self.shared.as_deref(), &envelope);
    }
}

/// The trace a span starts in: the trace it was started in (`current`, non-zero), else, under a
/// parent whose trace is unknown (a context made from a span id alone), the parent's UUID, else,
/// for a root, its own UUID: the rule every exporter and `traceparent` follow.
#[inline]
pub(super) fn trace_of(id: SpanId, parent: Option<SpanId>, current: u128) -> u128 {
    if current != 0 {
        current
    } else {
        root_trace(parent.unwrap_or(id))
    }
}

#[cold]
fn root_trace(root: SpanId) -> u128 {
    root.uuid().as_u128()
}

/// The arguments as a JSON object by name, for the batched handlers that capture them.
#[cold]
fn batch_args(args: &[Arg<'_>]) -> Value {
    Value::Object(
        args.iter()
            .map(|arg| (arg.name().to_owned(), arg.to_json()))
            .collect(),
    )
}
