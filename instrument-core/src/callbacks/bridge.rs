//! `CallbackBridge`: turns the built-in instrumentation events into legacy callback events, so that
//! one pipeline feeds handlers written against either API.
//!
//! The bridge is an event handler and a span handler at once. As a span handler it follows the span
//! tree: each span remembers its parent, and a root span (one with no parent, or whose parent the
//! bridge never saw) begins a callback trace, ended when the span ends. As an event handler it maps
//! each catalog event to a callback start or end, pairing a start with its end by the span they were
//! emitted in and the event's family, and opening each callback event below the innermost callback
//! event still open in that span or, going up, in its ancestors.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context as TaskContext, Poll, Waker};

use serde::Serialize;
use serde_json::Value;

use super::{
    CBEventType, CallbackError, CallbackManager, EventGuard, EventPayload, Payload, TraceHandle,
    WithTrace,
};
use crate::dispatch::dispatcher::Dispatcher;
use crate::dispatch::event::EventEnvelope;
use crate::dispatch::handler::{EventHandler, SpanHandler};
use crate::events::{
    AgentChatWithStepEndEvent, AgentChatWithStepStartEvent, AgentRunStepEndEvent,
    AgentRunStepStartEvent, AgentToolCallEvent, ChunkingEndEvent, ChunkingStartEvent,
    EmbeddingEndEvent, EmbeddingStartEvent, ExceptionEvent, LLMChatEndEvent, LLMChatStartEvent,
    LLMCompletionEndEvent, LLMCompletionStartEvent, LLMPredictStartEvent,
    LLMStructuredPredictStartEvent, LLMToolCallEvent, NodeParsingEndEvent, NodeParsingStartEvent,
    QueryEndEvent, QueryStartEvent, ReRankEndEvent, ReRankStartEvent, RetrievalEndEvent,
    RetrievalStartEvent, SparseEmbeddingEndEvent, SparseEmbeddingStartEvent, SynthesizeEndEvent,
    SynthesizeStartEvent,
};
use crate::span::id::SpanId;
use crate::span::{SpanEnd, SpanStart};

/// How many spans a bridge follows at once by default; see [`CallbackBridge::with_max_spans`].
pub const DEFAULT_MAX_SPANS: usize = 65_536;

/// How many callback events may be open at once in one span (and outside spans); past this the
/// oldest is ended, with no payload, and counted in [`CallbackBridge::overflows`].
pub const MAX_OPEN_EVENTS_PER_SPAN: usize = 64;

/// Feeds the built-in instrumentation events of a dispatcher to a [`CallbackManager`], so that
/// [`CallbackHandler`](super::CallbackHandler)s (debug printers, token counters, fine-tuning
/// collectors) see the same pipeline as [`EventHandler`]s and [`SpanHandler`]s.
///
/// One bridge is registered twice on a dispatcher, as an event handler and as a span handler: it is
/// a cheap `Arc`-backed handle, so clones share one state. [`register`](Self::register) does both:
///
/// ```text
/// dispatcher.add_event_handler(bridge.clone());
/// dispatcher.add_span_handler(bridge);
/// ```
///
/// # Mapping
/// | Instrumentation events | Callback event | Start payload | End payload |
/// |---|---|---|---|
/// | `LLMChatStart`/`End` | `Llm` | `messages`, `additional_kwargs`, `serialized` (the model dict) | `messages`, `response` |
/// | `LLMCompletionStart`/`End` | `Llm` | `formatted_prompt`, `additional_kwargs`, `serialized` | `formatted_prompt`, `completion` |
/// | `LLMPredictStart`, `LLMStructuredPredictStart` | `Templating`, started and ended at once | `template`, `template_vars` | none |
/// | `EmbeddingStart`/`End`, `SparseEmbeddingStart`/`End` | `Embedding` | `serialized` | `chunks`, `embeddings` |
/// | `RetrievalStart`/`End` | `Retrieve` | `query_str` | `nodes` |
/// | `QueryStart`/`End` | `Query` | `query_str` | `response` |
/// | `SynthesizeStart`/`End` | `Synthesize` | `query_str` | `response` |
/// | `ReRankStart`/`End` | `Reranking` | `query_str`, `nodes`, `top_k`, `model_name` | `nodes` |
/// | `AgentRunStepStart`/`End`, `AgentChatWithStepStart`/`End` | `AgentStep` | `messages` (the input) | `response` |
/// | `AgentToolCall`, `LLMToolCall` | `FunctionCall`, started and ended at once | `function_call` (the arguments), `tool` | none |
/// | `ChunkingStart`/`End` | `Chunking` | `chunks` (the texts) | `chunks` |
/// | `NodeParsingStart`/`End` | `NodeParsing` | `documents` | `nodes` |
/// | `Exception` | `Exception`, started and ended at once | `exception` | none |
///
/// Predictions become `Templating` as in `LlamaIndex`, whose `LLM.predict` reports the template it
/// formats as a templating event that ends at once; the LLM call it makes reports itself, as a
/// sibling. Tool calls have no end event in the catalog, so their callback event ends at once too.
/// Progress events (`...InProgress`), `GetResponse` and `SpanDrop` have no callback counterpart.
///
/// # Pairing and nesting
/// An end event closes the latest open callback event of its family opened in the same span (the
/// `span_id` of the events' envelopes); events emitted outside any span the bridge follows pair
/// among themselves, by span id, in the current callback trace of the emitting thread. A span that
/// ends with callback events still open ends them: with no payload when it exits, with
/// `exception` set to the error when it is dropped.
///
/// A callback event's parent is the innermost open non-leaf callback event of its span, else of the
/// nearest ancestor span that has one, else `"root"` of its trace.
///
/// # Traces
/// Each root span (no parent, or a parent on a dispatcher the bridge is not registered on) begins a
/// callback trace whose id is the span's id: handlers' `start_trace` runs when the span starts and
/// `end_trace`, with the trace map of every callback event inside, when it ends. Spans on other
/// threads or tasks that carry the parent (see [`crate::Context`]) join their root's trace. A root
/// span begun while a callback trace is current on its thread (inside
/// [`CallbackManager::as_trace`]) joins that trace instead.
///
/// # Errors and bounds
/// The bridge runs inside a handler call and cannot return errors: a callback handler's error is
/// reported once on stderr and counted in [`errors`](Self::errors). A token budget error therefore
/// does not stop the pipeline through the bridge; the budget handler keeps it in its own state, for
/// the application to check. The bridge follows at most [`with_max_spans`](Self::with_max_spans)
/// spans at once and [`MAX_OPEN_EVENTS_PER_SPAN`] open events per span; what does not fit is counted
/// in [`overflows`](Self::overflows).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use instrument::callbacks::{
///     CallbackBridge, CallbackError, CallbackHandler, CallbackManager, CBEventType, Payload, TraceMap,
/// };
/// use instrument::events::{QueryEndEvent, QueryStartEvent, RetrievalEndEvent, RetrievalStartEvent};
/// use instrument::get_dispatcher;
///
/// /// Remembers each start as `(type, parent)`, and each trace map.
/// #[derive(Default)]
/// struct Log(Mutex<(Vec<(CBEventType, String)>, Vec<TraceMap>)>);
///
/// impl CallbackHandler for Log {
///     fn on_event_start(&self, ty: CBEventType, _: Option<&Payload>, id: &str, parent: &str) -> Result<String, CallbackError> {
///         self.0.lock().unwrap().0.push((ty, parent.to_owned()));
///         Ok(id.to_owned())
///     }
///     fn on_event_end(&self, _: CBEventType, _: Option<&Payload>, _: &str) -> Result<(), CallbackError> {
///         Ok(())
///     }
///     fn end_trace(&self, _: Option<&str>, map: &TraceMap) {
///         self.0.lock().unwrap().1.push(map.clone());
///     }
/// }
///
/// let log = Arc::new(Log::default());
/// let bridge = CallbackBridge::new(CallbackManager::new(vec![log.clone()]));
/// let dispatcher = get_dispatcher("doc::callback_bridge");
/// bridge.register(dispatcher);
///
/// dispatcher.in_span("query", || {
///     dispatcher.event(QueryStartEvent { query: "why?".into() });
///     dispatcher.in_span("retrieve", || {
///         dispatcher.event(RetrievalStartEvent { str_or_query_bundle: "why?".into() });
///         dispatcher.event(RetrievalEndEvent { str_or_query_bundle: "why?".into(), nodes: vec![] });
///     });
///     dispatcher.event(QueryEndEvent { query: "why?".into(), response: "because".into() });
/// });
///
/// let (starts, traces) = &*log.0.lock().unwrap();
/// assert_eq!(traces.len(), 1); // one root span, one trace
/// let query = traces[0].roots()[0].clone();
/// assert_eq!(starts[0], (CBEventType::Query, "root".to_owned()));
/// assert_eq!(starts[1], (CBEventType::Retrieve, query.clone())); // nested by the span tree
/// assert_eq!(traces[0].children(&query).len(), 1);
/// assert_eq!(bridge.errors(), 0);
/// ```
#[derive(Clone)]
pub struct CallbackBridge {
    inner: Arc<Inner>,
}

struct Inner {
    manager: CallbackManager,
    state: Mutex<State>,
    max_spans: usize,
    errors: AtomicU64,
    overflows: AtomicU64,
    reported: AtomicBool,
}

#[derive(Default)]
struct State {
    spans: HashMap<SpanId, Node>,
    /// Events emitted outside any span the bridge follows, with the span they name, oldest first.
    detached: Vec<(Option<SpanId>, Open)>,
}

/// A span the bridge follows.
struct Node {
    parent: Option<SpanId>,
    /// Where events of this span's trace go when no event is open on the way up: its `"root"`.
    base: TraceHandle,
    /// The callback events opened in this span and not yet ended, oldest first.
    open: Vec<Open>,
    /// For a root span, the trace it began; dropping it ends the trace.
    trace: Option<RootTrace>,
}

/// An open callback event.
struct Open {
    family: Family,
    guard: EventGuard,
    /// Where events started below this one go; `None` for leaf types, which are never parents.
    below: Option<TraceHandle>,
}

/// Which start and end events pair up; the callback type alone is too coarse (chats and
/// completions are both `Llm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Chat,
    Completion,
    Embedding,
    SparseEmbedding,
    Retrieval,
    Query,
    Synthesize,
    ReRank,
    AgentRunStep,
    AgentChat,
    Chunking,
    NodeParsing,
}

/// What one instrumentation event means to the callback side.
enum Step {
    Start(Family, CBEventType, Payload),
    End(Family, Payload),
    /// An event with no end: started and ended at once.
    Instant(CBEventType, Payload),
}

impl CallbackBridge {
    /// A bridge feeding `manager`, following at most [`DEFAULT_MAX_SPANS`] spans at once.
    #[must_use]
    pub fn new(manager: CallbackManager) -> Self {
        Self::with_max_spans(manager, DEFAULT_MAX_SPANS)
    }

    /// A bridge feeding `manager`, following at most `max_spans` spans at once; spans started past
    /// that are not followed (their events go where events outside spans go) and are counted in
    /// [`overflows`](Self::overflows).
    #[must_use]
    pub fn with_max_spans(manager: CallbackManager, max_spans: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                manager,
                state: Mutex::new(State::default()),
                max_spans,
                errors: AtomicU64::new(0),
                overflows: AtomicU64::new(0),
                reported: AtomicBool::new(false),
            }),
        }
    }

    /// Registers this bridge on `dispatcher` as both an event handler and a span handler.
    pub fn register(&self, dispatcher: &Dispatcher) {
        dispatcher.add_span_handler(self.clone());
        dispatcher.add_event_handler(self.clone());
    }

    /// The manager the bridge feeds.
    #[must_use]
    pub fn manager(&self) -> &CallbackManager {
        &self.inner.manager
    }

    /// How many callback handler errors the bridge has swallowed.
    #[must_use]
    pub fn errors(&self) -> u64 {
        self.inner.errors.load(Ordering::Relaxed)
    }

    /// How many spans were not followed, and open events ended early, for lack of room.
    #[must_use]
    pub fn overflows(&self) -> u64 {
        self.inner.overflows.load(Ordering::Relaxed)
    }

    /// How many spans the bridge follows now.
    #[must_use]
    pub fn open_spans(&self) -> usize {
        self.inner.lock().spans.len()
    }

    /// How many callback events the bridge holds open now.
    #[must_use]
    pub fn open_events(&self) -> usize {
        let state = self.inner.lock();
        state.detached.len() + state.spans.values().map(|n| n.open.len()).sum::<usize>()
    }
}

impl fmt::Debug for CallbackBridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackBridge")
            .field("manager", &self.inner.manager)
            .field("errors", &self.errors())
            .field("overflows", &self.overflows())
            .finish_non_exhaustive()
    }
}

impl EventHandler for CallbackBridge {
    fn handle(&self, event: &EventEnvelope<'_>) {
        let Some(step) = translate(event) else {
            return;
        };
        let span = event.span_id();
        match step {
            Step::Start(family, ty, payload) => self.inner.start(span, family, ty, payload),
            Step::End(family, payload) => self.inner.end(span, family, payload),
            Step::Instant(ty, payload) => self.inner.instant(span, ty, payload),
        }
    }

    /// Ends the events still open outside spans; those in spans end with their spans, which
    /// [`crate::shutdown`] drops first.
    fn close(&self) {
        let detached = std::mem::take(&mut self.inner.lock().detached);
        for (_, open) in detached.into_iter().rev() {
            self.inner.finish(open.guard, None);
        }
    }
}

impl SpanHandler for CallbackBridge {
    type Span = ();

    fn new_span(&self, start: &SpanStart<'_>) -> Option<()> {
        self.inner.new_span(start.id(), start.parent_id())
    }

    fn prepare_to_exit_span(&self, (): (), end: &SpanEnd<'_>) {
        self.inner.end_span(end.id(), None);
    }

    fn prepare_to_drop_span(&self, (): (), end: &SpanEnd<'_>) {
        self.inner.end_span(end.id(), end.error());
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn new_span(&self, id: SpanId, parent: Option<SpanId>) -> Option<()> {
        let parent_base = {
            let state = self.lock();
            if state.spans.len() >= self.max_spans {
                drop(state);
                self.overflowed();
                return None;
            }
            parent.and_then(|p| state.spans.get(&p).map(|node| node.base.clone()))
        };
        // Handlers' `start_trace` runs outside the lock.
        let node = match parent_base {
            Some(base) => Node {
                parent,
                base,
                open: Vec::new(),
                trace: None,
            },
            None => {
                let (trace, base) = RootTrace::begin(&self.manager, id);
                Node {
                    parent: None,
                    base,
                    open: Vec::new(),
                    trace: Some(trace),
                }
            }
        };
        let replaced = self.lock().spans.insert(id, node);
        drop(replaced);
        Some(())
    }

    fn end_span(&self, id: SpanId, error: Option<String>) {
        let Some(node) = self.lock().spans.remove(&id) else {
            return;
        };
        let Node { open, trace, .. } = node;
        let payload = error.map(|e| Payload::new().with(EventPayload::Exception, e));
        for open in open.into_iter().rev() {
            self.finish(open.guard, payload.clone());
        }
        drop(trace);
    }

    /// Where an event emitted in `span` goes: below the innermost open non-leaf event of the span
    /// or its ancestors, else at its trace's root; `None` when the bridge does not follow the span.
    fn anchor(state: &State, span: SpanId) -> Option<TraceHandle> {
        let mut base = None;
        let mut next = Some(span);
        while let Some(node) = next.and_then(|id| state.spans.get(&id)) {
            if let Some(below) = node.open.iter().rev().find_map(|o| o.below.as_ref()) {
                return Some(below.clone());
            }
            base.get_or_insert(&node.base);
            next = node.parent;
        }
        base.cloned()
    }

    /// Opens a callback event at `anchor` (or in this thread's current trace).
    fn open(
        &self,
        anchor: Option<&TraceHandle>,
        ty: CBEventType,
        payload: Payload,
    ) -> Option<(EventGuard, Option<TraceHandle>)> {
        let open = || -> Result<_, CallbackError> {
            let guard = self.manager.event(ty, Some(payload))?;
            let below = (!ty.is_leaf()).then(CallbackManager::current_trace);
            Ok((guard, below))
        };
        let opened = match anchor {
            Some(anchor) => anchor.scope(open),
            None => open(),
        };
        opened.map_err(|err| self.failed(&err)).ok()
    }

    fn start(&self, span: Option<SpanId>, family: Family, ty: CBEventType, payload: Payload) {
        let anchor = span.and_then(|s| Self::anchor(&self.lock(), s));
        let followed = anchor.is_some();
        let Some((guard, below)) = self.open(anchor.as_ref(), ty, payload) else {
            return;
        };
        let open = Open {
            family,
            guard,
            below,
        };
        let (evicted, overflow) = {
            let mut state = self.lock();
            if let Some(node) = span.and_then(|s| state.spans.get_mut(&s)) {
                node.open.push(open);
                let full = node.open.len() > MAX_OPEN_EVENTS_PER_SPAN;
                (full.then(|| node.open.remove(0)), full)
            } else if followed {
                // The span ended while the event was being opened: end the event too.
                (Some(open), false)
            } else {
                state.detached.push((span, open));
                let full = state.detached.len() > MAX_OPEN_EVENTS_PER_SPAN;
                (full.then(|| state.detached.remove(0).1), full)
            }
        };
        if overflow {
            self.overflowed();
        }
        if let Some(evicted) = evicted {
            self.finish(evicted.guard, None);
        }
    }

    fn end(&self, span: Option<SpanId>, family: Family, payload: Payload) {
        let open = {
            let mut state = self.lock();
            match span.and_then(|s| state.spans.get_mut(&s)) {
                Some(node) => node
                    .open
                    .iter()
                    .rposition(|o| o.family == family)
                    .map(|i| node.open.remove(i)),
                None => state
                    .detached
                    .iter()
                    .rposition(|(s, o)| *s == span && o.family == family)
                    .map(|i| state.detached.remove(i).1),
            }
        };
        if let Some(open) = open {
            self.finish(open.guard, Some(payload));
        }
    }

    fn instant(&self, span: Option<SpanId>, ty: CBEventType, payload: Payload) {
        let anchor = span.and_then(|s| Self::anchor(&self.lock(), s));
        if let Some((guard, _)) = self.open(anchor.as_ref(), ty, payload) {
            self.finish(guard, None);
        }
    }

    fn finish(&self, guard: EventGuard, payload: Option<Payload>) {
        if let Err(err) = guard.on_end(payload) {
            self.failed(&err);
        }
    }

    #[cold]
    fn failed(&self, err: &CallbackError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if !self.reported.swap(true, Ordering::Relaxed) {
            eprintln!(
                "instrument: a callback handler failed behind a CallbackBridge: {err} (further \
                 errors are only counted: CallbackBridge::errors)"
            );
        }
    }

    #[cold]
    fn overflowed(&self) {
        self.overflows.fetch_add(1, Ordering::Relaxed);
    }
}

/// A callback trace begun for a root span, ended when dropped.
///
/// The trace is begun through [`CallbackManager::with_trace_async`], whose future owns the trace
/// and may move between threads, unlike the guard of `as_trace`: it is polled once, which calls the
/// handlers' `start_trace` and, from inside, hands out the trace's handle; it never completes, and
/// dropping it calls `end_trace` with the trace map.
struct RootTrace {
    _trace: WithTrace<Parked>,
}

impl RootTrace {
    fn begin(manager: &CallbackManager, span: SpanId) -> (Self, TraceHandle) {
        let slot = Arc::new(OnceLock::new());
        let mut trace = manager.with_trace_async(span.to_string(), Parked(Arc::clone(&slot)));
        let _pending = Pin::new(&mut trace).poll(&mut TaskContext::from_waker(Waker::noop()));
        let base = slot
            .get()
            .cloned()
            .unwrap_or_else(CallbackManager::current_trace);
        (Self { _trace: trace }, base)
    }
}

/// A future that never completes; when polled it keeps the handle of the trace it is polled in.
struct Parked(Arc<OnceLock<TraceHandle>>);

impl Future for Parked {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
        let _ = self.0.set(CallbackManager::current_trace());
        Poll::Pending
    }
}

/// A field of a catalog event as a payload value: bounded, secrets redacted, never failing.
fn json(value: &impl Serialize) -> Value {
    crate::values::value_guard::to_json_guarded(value)
}

/// The callback meaning of a catalog event, if it has one.
fn translate(event: &EventEnvelope<'_>) -> Option<Step> {
    use CBEventType as T;
    use EventPayload as K;
    use Family as F;

    if let Some(e) = event.downcast_ref::<LLMChatStartEvent>() {
        return Some(Step::Start(
            F::Chat,
            T::Llm,
            payload([
                (K::Messages, json(&e.messages)),
                (K::AdditionalKwargs, json(&e.additional_kwargs)),
                (K::Serialized, json(&e.model_dict)),
            ]),
        ));
    }
    if let Some(e) = event.downcast_ref::<LLMChatEndEvent>() {
        let mut end = payload([(K::Messages, json(&e.messages))]);
        if let Some(response) = &e.response {
            end.insert(K::Response, json(response));
        }
        return Some(Step::End(F::Chat, end));
    }
    if let Some(e) = event.downcast_ref::<LLMCompletionStartEvent>() {
        return Some(Step::Start(
            F::Completion,
            T::Llm,
            payload([
                (K::Prompt, json(&e.prompt)),
                (K::AdditionalKwargs, json(&e.additional_kwargs)),
                (K::Serialized, json(&e.model_dict)),
            ]),
        ));
    }
    if let Some(e) = event.downcast_ref::<LLMCompletionEndEvent>() {
        return Some(Step::End(
            F::Completion,
            payload([
                (K::Prompt, json(&e.prompt)),
                (K::Completion, json(&e.response)),
            ]),
        ));
    }
    if let Some(e) = event.downcast_ref::<LLMPredictStartEvent>() {
        return Some(templating(&e.template, e.template_args.as_ref()));
    }
    if let Some(e) = event.downcast_ref::<LLMStructuredPredictStartEvent>() {
        return Some(templating(&e.template, e.template_args.as_ref()));
    }
    if let Some(e) = event.downcast_ref::<EmbeddingStartEvent>() {
        let start = payload([(K::Serialized, json(&e.model_dict))]);
        return Some(Step::Start(F::Embedding, T::Embedding, start));
    }
    if let Some(e) = event.downcast_ref::<EmbeddingEndEvent>() {
        let end = payload([
            (K::Chunks, json(&e.chunks)),
            (K::Embeddings, json(&e.embeddings)),
        ]);
        return Some(Step::End(F::Embedding, end));
    }
    if let Some(e) = event.downcast_ref::<SparseEmbeddingStartEvent>() {
        let start = payload([(K::Serialized, json(&e.model_dict))]);
        return Some(Step::Start(F::SparseEmbedding, T::Embedding, start));
    }
    if let Some(e) = event.downcast_ref::<SparseEmbeddingEndEvent>() {
        let end = payload([
            (K::Chunks, json(&e.chunks)),
            (K::Embeddings, json(&e.embeddings)),
        ]);
        return Some(Step::End(F::SparseEmbedding, end));
    }
    if let Some(e) = event.downcast_ref::<RetrievalStartEvent>() {
        let start = payload([(K::QueryStr, e.str_or_query_bundle.query_str().into())]);
        return Some(Step::Start(F::Retrieval, T::Retrieve, start));
    }
    if let Some(e) = event.downcast_ref::<RetrievalEndEvent>() {
        let end = payload([(K::Nodes, json(&e.nodes))]);
        return Some(Step::End(F::Retrieval, end));
    }
    if let Some(e) = event.downcast_ref::<QueryStartEvent>() {
        let start = payload([(K::QueryStr, e.query.query_str().into())]);
        return Some(Step::Start(F::Query, T::Query, start));
    }
    if let Some(e) = event.downcast_ref::<QueryEndEvent>() {
        let end = payload([(K::Response, json(&e.response))]);
        return Some(Step::End(F::Query, end));
    }
    if let Some(e) = event.downcast_ref::<SynthesizeStartEvent>() {
        let start = payload([(K::QueryStr, e.query.query_str().into())]);
        return Some(Step::Start(F::Synthesize, T::Synthesize, start));
    }
    if let Some(e) = event.downcast_ref::<SynthesizeEndEvent>() {
        let end = payload([(K::Response, json(&e.response))]);
        return Some(Step::End(F::Synthesize, end));
    }
    if let Some(e) = event.downcast_ref::<ReRankStartEvent>() {
        let mut start = payload([
            (K::Nodes, json(&e.nodes)),
            (K::TopK, e.top_n.into()),
            (K::ModelName, e.model_name.clone().into()),
        ]);
        if let Some(query) = &e.query {
            start.insert(K::QueryStr, query.query_str());
        }
        return Some(Step::Start(F::ReRank, T::Reranking, start));
    }
    if let Some(e) = event.downcast_ref::<ReRankEndEvent>() {
        return Some(Step::End(F::ReRank, payload([(K::Nodes, json(&e.nodes))])));
    }
    if let Some(e) = event.downcast_ref::<AgentRunStepStartEvent>() {
        let input: Vec<&str> = e.input.as_deref().into_iter().collect();
        let start = payload([(K::Messages, json(&input))]);
        return Some(Step::Start(F::AgentRunStep, T::AgentStep, start));
    }
    if let Some(e) = event.downcast_ref::<AgentRunStepEndEvent>() {
        let end = payload([(K::Response, json(&e.step_output))]);
        return Some(Step::End(F::AgentRunStep, end));
    }
    if let Some(e) = event.downcast_ref::<AgentChatWithStepStartEvent>() {
        let start = payload([(K::Messages, json(&[&e.user_msg]))]);
        return Some(Step::Start(F::AgentChat, T::AgentStep, start));
    }
    if let Some(e) = event.downcast_ref::<AgentChatWithStepEndEvent>() {
        let end = payload([(K::Response, json(&e.response))]);
        return Some(Step::End(F::AgentChat, end));
    }
    if let Some(e) = event.downcast_ref::<AgentToolCallEvent>() {
        return Some(function_call(&e.arguments, &e.tool));
    }
    if let Some(e) = event.downcast_ref::<LLMToolCallEvent>() {
        return Some(function_call(&e.arguments, &e.tool));
    }
    if let Some(e) = event.downcast_ref::<ChunkingStartEvent>() {
        let start = payload([(K::Chunks, json(&e.text))]);
        return Some(Step::Start(F::Chunking, T::Chunking, start));
    }
    if let Some(e) = event.downcast_ref::<ChunkingEndEvent>() {
        return Some(Step::End(
            F::Chunking,
            payload([(K::Chunks, json(&e.chunks))]),
        ));
    }
    if let Some(e) = event.downcast_ref::<NodeParsingStartEvent>() {
        let start = payload([(K::Documents, json(&e.documents))]);
        return Some(Step::Start(F::NodeParsing, T::NodeParsing, start));
    }
    if let Some(e) = event.downcast_ref::<NodeParsingEndEvent>() {
        return Some(Step::End(
            F::NodeParsing,
            payload([(K::Nodes, json(&e.nodes))]),
        ));
    }
    if let Some(e) = event.downcast_ref::<ExceptionEvent>() {
        let instant = payload([(K::Exception, e.exception.clone().into())]);
        return Some(Step::Instant(T::Exception, instant));
    }
    None
}

fn payload<const N: usize>(pairs: [(EventPayload, Value); N]) -> Payload {
    Payload::from(pairs)
}

fn templating(template: &Value, vars: Option<&serde_json::Map<String, Value>>) -> Step {
    let mut payload = Payload::new().with(EventPayload::Template, json(template));
    if let Some(vars) = vars {
        payload.insert(EventPayload::TemplateVars, json(vars));
    }
    Step::Instant(CBEventType::Templating, payload)
}

fn function_call(arguments: &str, tool: &crate::llm::ToolMetadata) -> Step {
    let payload = Payload::new()
        .with(EventPayload::FunctionCall, arguments)
        .with(EventPayload::Tool, json(tool));
    Step::Instant(CBEventType::FunctionCall, payload)
}
