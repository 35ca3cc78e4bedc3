//! The dispatcher tree: named dispatchers, their handlers, and the flattened handler chain each one
//! caches.
//!
//! Dispatchers live for the program. Every change to handlers, `propagate` or the tree recomputes the
//! chains of all dispatchers and call sites under one lock; recording only loads a pointer. Chains are
//! never freed (a span in flight may still read one) but are shared: re-adding a set of handlers seen
//! before reuses its chain, so memory is bounded by the number of distinct handler sets.

use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};

use dashmap::DashMap;

use crate::batch::{BatchSpanHandler, Capture, ErasedBatchHandler};
use crate::context::current::{self, HandlerGuard};
use crate::dispatch::event::{Event, EventEnvelope};
use crate::dispatch::filter::{self, FilterError};
use crate::dispatch::handler::{
    ErasedEventHandler, ErasedSpanHandler, EventHandler, HandlerCell, SpanHandler,
};
use crate::span::id::SpanId;
use crate::values::bounded_serialize::CutWatch;

/// The handlers a span or event on one dispatcher reaches: its own, then its ancestors' up to the
/// first with `propagate = false`.
#[doc(hidden)]
pub struct Chain {
    pub(crate) span: Vec<&'static dyn ErasedSpanHandler>,
    pub(crate) event: Vec<&'static dyn ErasedEventHandler>,
    /// Whether the dispatchers with this chain also reach shared handlers (added at run time, see
    /// [`Dispatcher::add_shared_span_handler`]), which spans and events then look up on their
    /// dispatcher. A flag rather than the handlers themselves, so that adding and removing shared
    /// handlers makes no new chain.
    pub(crate) shared: bool,
    /// The span handlers that follow scopes ([`crate::SpanHandler::FOLLOWS_SCOPE`]), in chain
    /// order: empty for most chains, so that entering a span costs them one length check.
    pub(crate) scoped: Vec<&'static dyn ErasedSpanHandler>,
    /// The batched span handlers ([`BatchSpanHandler`]), whose spans the core records itself.
    pub(crate) batch: Vec<&'static dyn ErasedBatchHandler>,
    /// What the batched handlers ask the core to capture, together.
    pub(crate) capture: Capture,
    /// The share of traces kept, as a threshold on a trace-id's hash ([`KEEP_ALL`]: every
    /// trace, and no decision is made).
    pub(crate) sample: u64,
}

/// [`Chain::sample`] when every trace is kept.
pub(crate) const KEEP_ALL: u64 = u64::MAX;

/// The sampling threshold for keeping `ratio` (0 to 1) of the traces.
fn threshold(ratio: f64) -> u64 {
    if ratio >= 1.0 {
        KEEP_ALL
    } else {
        // Exact enough: a threshold of 2^64 * ratio, the cast saturating at the ends.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let threshold = (ratio * 18_446_744_073_709_551_616.0) as u64;
        threshold.min(KEEP_ALL - 1)
    }
}

impl Chain {
    /// Whether a trace whose id is `trace` is kept: its hash falls under the threshold.
    #[inline]
    pub(crate) fn keeps_trace(&self, trace: u128) -> bool {
        self.sample == KEEP_ALL || {
            // Both halves, mixed, so that ids with fixed bits (a UUID's version and variant)
            // spread evenly.
            #[allow(clippy::cast_possible_truncation)]
            let folded = (trace as u64) ^ ((trace >> 64) as u64).rotate_left(32);
            folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) < self.sample
        }
    }

    fn new(handlers: Handlers, shared: bool, sample: u64) -> Self {
        let scoped = handlers
            .span
            .iter()
            .copied()
            .filter(|h| h.follows_scope())
            .collect();
        let capture = handlers
            .batch
            .iter()
            .fold(Capture::NOTHING, |all, h| all | h.capture());
        Self {
            span: handlers.span,
            event: handlers.event,
            shared,
            scoped,
            batch: handlers.batch,
            capture,
            sample,
        }
    }

    /// Whether a span of this chain reaches a batched handler: its own, or (when `shared` is
    /// the span's snapshot) a shared one.
    #[inline]
    pub(crate) fn batches(&self, shared: Option<&Shared>) -> bool {
        !self.batch.is_empty() || shared.is_some_and(|s| !s.batch.is_empty())
    }

    /// The span handlers a span of this chain reaches: the chain's, then those of `shared`, the
    /// snapshot of shared handlers it took.
    pub(crate) fn span_handlers<'a>(
        &'a self,
        shared: Option<&'a Shared>,
    ) -> impl Iterator<Item = &'a dyn ErasedSpanHandler> {
        let shared = shared.into_iter().flat_map(|s| s.span.iter().map(|h| &**h));
        self.span.iter().copied().chain(shared)
    }

    /// The event handlers an event of this chain reaches: the chain's, then those of `shared`.
    pub(crate) fn event_handlers<'a>(
        &'a self,
        shared: Option<&'a Shared>,
    ) -> impl Iterator<Item = &'a dyn ErasedEventHandler> {
        let shared = shared
            .into_iter()
            .flat_map(|s| s.event.iter().map(|h| &**h));
        self.event.iter().copied().chain(shared)
    }

    /// Hands `envelope` to the chain's event handlers, then to those of `shared` (two plain loops
    /// rather than [`Chain::event_handlers`]: this is every event's path).
    pub(crate) fn handle(&self, shared: Option<&Shared>, envelope: &EventEnvelope<'_>) {
        for handler in &self.event {
            handler.handle(envelope);
        }
        for handler in shared.iter().flat_map(|s| &s.event) {
            handler.handle(envelope);
        }
    }

    /// Whether no span or event handler is reachable.
    pub(crate) fn is_empty(&self) -> bool {
        self.span.is_empty() && self.event.is_empty() && self.batch.is_empty() && !self.shared
    }

    fn same_as(&self, handlers: &Handlers, shared: bool, sample: u64) -> bool {
        fn same<T: ?Sized>(a: &[&T], b: &[&T], addr: impl Fn(&T) -> *const ()) -> bool {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| ptr::addr_eq(addr(a), addr(b)))
        }
        self.shared == shared
            && self.sample == sample
            && same(&self.span, &handlers.span, |h| h.addr())
            && same(&self.event, &handlers.event, |h| h.addr())
            && same(&self.batch, &handlers.batch, |h| h.addr())
    }
}

/// The start-up handlers a dispatcher reaches, of each kind, in chain order.
#[derive(Default)]
struct Handlers {
    span: Vec<&'static dyn ErasedSpanHandler>,
    event: Vec<&'static dyn ErasedEventHandler>,
    batch: Vec<&'static dyn ErasedBatchHandler>,
}

impl Handlers {
    fn is_empty(&self) -> bool {
        self.span.is_empty() && self.event.is_empty() && self.batch.is_empty()
    }
}

impl current::ScopeFollowers for Chain {
    fn enter(&self, id: SpanId) {
        let _guard = HandlerGuard::enter();
        for handler in &self.scoped {
            handler.enter_scope(id);
        }
    }

    fn leave(&self, id: SpanId) {
        let _guard = HandlerGuard::enter();
        for handler in self.scoped.iter().rev() {
            handler.leave_scope(id);
        }
    }
}

/// A chain that reaches no handler.
const NO_HANDLERS: Chain = Chain {
    span: Vec::new(),
    event: Vec::new(),
    shared: false,
    scoped: Vec::new(),
    batch: Vec::new(),
    capture: Capture::NOTHING,
    sample: KEEP_ALL,
};

/// The chain of a dispatcher with no handler anywhere above it.
pub(crate) static EMPTY_CHAIN: Chain = NO_HANDLERS;

/// The chain of a span its dispatcher's sampler left out: it reaches no handler, and entering
/// the span marks its scope as not sampled, so that the spans below it are left out too. A static
/// of its own, told from [`EMPTY_CHAIN`] by its address.
pub(crate) static UNSAMPLED_CHAIN: Chain = NO_HANDLERS;

/// The shared handlers a dispatcher reaches (its own, then its ancestors' while they propagate),
/// as one snapshot: a span takes the snapshot when it starts and keeps it until it ends, so a
/// handler removed meanwhile is released only when the last span that follows it has ended.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) span: Vec<Arc<dyn ErasedSpanHandler>>,
    pub(crate) event: Vec<Arc<dyn ErasedEventHandler>>,
    pub(crate) batch: Vec<Arc<dyn ErasedBatchHandler>>,
    /// What the shared batched handlers ask the core to capture, together.
    pub(crate) capture: Capture,
}

pub(crate) fn empty_chain_ptr() -> *mut Chain {
    ptr::from_ref(&EMPTY_CHAIN).cast_mut()
}

/// A named node of the dispatcher tree; see [`get_dispatcher`].
///
/// ```
/// use instrument::get_dispatcher;
///
/// let rag = get_dispatcher("doc_dispatcher::rag");
/// assert_eq!(rag.name(), "doc_dispatcher::rag");
/// assert!(std::ptr::eq(rag, get_dispatcher("doc_dispatcher::rag")));
/// assert!(rag.parent().unwrap().is_root()); // no `doc_dispatcher` registered yet
///
/// let app = get_dispatcher("doc_dispatcher");
/// assert!(std::ptr::eq(rag.parent().unwrap(), app)); // re-parented under its nearest ancestor
/// ```
pub struct Dispatcher {
    name: &'static str,
    parent: AtomicPtr<Dispatcher>,
    propagate: AtomicBool,
    own: Mutex<Own>,
    chain: AtomicPtr<Chain>,
    /// The shared handlers this dispatcher reaches; `None` when there is none.
    shared: RwLock<Option<Arc<Shared>>>,
}

#[derive(Default)]
struct Own {
    handlers: Handlers,
    shared_span: Vec<Arc<dyn ErasedSpanHandler>>,
    shared_event: Vec<Arc<dyn ErasedEventHandler>>,
    shared_batch: Vec<Arc<dyn ErasedBatchHandler>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("name", &self.name)
            .field("parent", &self.parent().map(Dispatcher::name))
            .field("propagate", &self.propagate())
            .finish_non_exhaustive()
    }
}

/// Everything that changes the tree or handlers happens under this lock.
struct Config {
    dispatchers: Vec<&'static Dispatcher>,
    caches: Vec<&'static dyn ChainCache>,
    chains: Vec<&'static Chain>,
}

static CONFIG: Mutex<Config> = Mutex::new(Config {
    dispatchers: Vec::new(),
    caches: Vec::new(),
    chains: Vec::new(),
});

fn config() -> MutexGuard<'static, Config> {
    CONFIG.lock().unwrap_or_else(PoisonError::into_inner)
}

fn by_name() -> &'static DashMap<&'static str, &'static Dispatcher> {
    static MAP: OnceLock<DashMap<&'static str, &'static Dispatcher>> = OnceLock::new();
    MAP.get_or_init(DashMap::new)
}

/// The name of the root dispatcher.
pub const ROOT_NAME: &str = "root";

/// The dispatcher called `name`, made on first use. `""` and `"root"` name the root.
///
/// Names are `::`-separated paths, as `module_path!()` gives. A dispatcher's parent is its nearest
/// registered ancestor (`a::b::c` under `a::b` if that exists, else `a`, else the root), and
/// children are re-parented when an ancestor registers later, as in Python's `logging`. Python's
/// dotted names make the same tree: `"project.llama1"` is the dispatcher `"project::llama1"`.
///
/// ```
/// use instrument::get_dispatcher;
///
/// let dotted = get_dispatcher("doc_dotted.llama1");
/// assert!(std::ptr::eq(dotted, get_dispatcher("doc_dotted::llama1")));
/// assert_eq!(dotted.name(), "doc_dotted::llama1");
/// ```
#[must_use]
pub fn get_dispatcher(name: &str) -> &'static Dispatcher {
    let name = if name.is_empty() { ROOT_NAME } else { name };
    if let Some(found) = by_name().get(name) {
        return *found;
    }
    if name.contains('.') {
        return register_dotted(name);
    }
    register(name)
}

/// A dotted name's dispatcher, the `::` one, remembered under the dotted spelling too so that the
/// next lookup is one map read.
#[cold]
fn register_dotted(dotted: &str) -> &'static Dispatcher {
    let dispatcher = get_dispatcher(&dotted.replace('.', "::"));
    by_name()
        .entry(Box::leak(dotted.to_owned().into_boxed_str()))
        .or_insert(dispatcher);
    dispatcher
}

/// The root dispatcher: above all others, `propagate = false`, no handlers until you add some.
#[must_use]
pub fn root() -> &'static Dispatcher {
    static ROOT: OnceLock<&'static Dispatcher> = OnceLock::new();
    ROOT.get_or_init(|| get_dispatcher(ROOT_NAME))
}

#[cold]
fn register(name: &str) -> &'static Dispatcher {
    let is_root = name == ROOT_NAME;
    let root = if is_root {
        None
    } else {
        Some(get_dispatcher(ROOT_NAME))
    };
    let mut config = config();
    if let Some(found) = by_name().get(name) {
        return *found;
    }
    let parent = root.map(|root| nearest_ancestor(name).unwrap_or(root));
    let dispatcher: &'static Dispatcher = Box::leak(Box::new(Dispatcher {
        name: Box::leak(name.to_owned().into_boxed_str()),
        parent: AtomicPtr::new(parent.map_or(ptr::null_mut(), |p| ptr::from_ref(p).cast_mut())),
        propagate: AtomicBool::new(!is_root),
        own: Mutex::new(Own::default()),
        chain: AtomicPtr::new(empty_chain_ptr()),
        shared: RwLock::new(None),
    }));
    by_name().insert(dispatcher.name, dispatcher);
    config.dispatchers.push(dispatcher);
    // Re-parent descendants registered before this ancestor.
    let prefix = format!("{name}::");
    for d in &config.dispatchers {
        if d.name.starts_with(&prefix)
            && let Some(parent) = nearest_ancestor(d.name)
        {
            d.parent
                .store(ptr::from_ref(parent).cast_mut(), Ordering::Release);
        }
    }
    rebuild(&mut config);
    dispatcher
}

fn nearest_ancestor(name: &str) -> Option<&'static Dispatcher> {
    let mut prefix = name;
    while let Some(cut) = prefix.rfind("::") {
        prefix = &prefix[..cut];
        if let Some(found) = by_name().get(prefix) {
            return Some(*found);
        }
    }
    None
}

/// Recomputes every dispatcher's chain and shared handlers, and every call site's cached pointer.
///
/// Chains are interned by their handlers (and whether shared ones are reached), so they number as
/// many as the distinct sets of handlers registered at start-up, however often shared handlers
/// come and go.
fn rebuild(config: &mut Config) {
    let filter = filter::current();
    for dispatcher in config.dispatchers.clone() {
        let Some(ratio) = filter.verdict(dispatcher.name) else {
            // Off: no handler is reached, so the call sites see an empty chain and stay idle.
            *dispatcher
                .shared
                .write()
                .unwrap_or_else(PoisonError::into_inner) = None;
            dispatcher.chain.store(empty_chain_ptr(), Ordering::Release);
            continue;
        };
        let sample = threshold(ratio);
        let mut handlers = Handlers::default();
        let mut shared = Shared::default();
        let mut node = Some(dispatcher);
        while let Some(d) = node {
            let own = d.own.lock().unwrap_or_else(PoisonError::into_inner);
            handlers.span.extend_from_slice(&own.handlers.span);
            handlers.event.extend_from_slice(&own.handlers.event);
            handlers.batch.extend_from_slice(&own.handlers.batch);
            shared.span.extend(own.shared_span.iter().cloned());
            shared.event.extend(own.shared_event.iter().cloned());
            shared.batch.extend(own.shared_batch.iter().cloned());
            drop(own);
            node = if d.propagate() { d.parent() } else { None };
        }
        shared.capture = shared
            .batch
            .iter()
            .fold(Capture::NOTHING, |all, h| all | h.capture());
        let has_shared =
            !shared.span.is_empty() || !shared.event.is_empty() || !shared.batch.is_empty();
        let chain: *mut Chain = if handlers.is_empty() && !has_shared {
            empty_chain_ptr()
        } else if let Some(found) = config
            .chains
            .iter()
            .find(|c| c.same_as(&handlers, has_shared, sample))
        {
            ptr::from_ref(*found).cast_mut()
        } else {
            let chain = Chain::new(handlers, has_shared, sample);
            let leaked: &'static Chain = Box::leak(Box::new(chain));
            config.chains.push(leaked);
            ptr::from_ref(leaked).cast_mut()
        };
        // Shared handlers first, so that a span that sees the new chain finds them.
        *dispatcher
            .shared
            .write()
            .unwrap_or_else(PoisonError::into_inner) = has_shared.then(|| Arc::new(shared));
        dispatcher.chain.store(chain, Ordering::Release);
    }
    for cache in &config.caches {
        cache.refresh();
    }
}

/// Turns dispatchers on and off by name, and sets which share of their traces they keep,
/// replacing the filter in force (`INSTRUMENT_FILTER`'s, or an earlier call's).
///
/// `"my_app=on,my_app::cache=off"` leaves `my_app` and what is below it on but `my_app::cache` and
/// what is below that; a bare `off` (or `on`) sets every dispatcher no directive names. The most
/// specific directive decides. `.` reads as `::`, as in dispatcher names. A dispatcher that is off
/// reaches no handler, its own or its ancestors': its spans and events cost what they cost with
/// no handler at all.
///
/// A ratio instead of `on`, written with a decimal point (`"my_app::chat=0.1"`; `0` and `1` are
/// `off` and `on`), turns head sampling on there: a trace that
/// starts on that dispatcher (a root span, or the first span under a context extracted from a
/// caller) is kept with that probability, decided from its trace-id, so the same trace gets the
/// same decision in every process sampling at that ratio. A span under a kept span is kept, one
/// under a left-out span is left out, on whatever dispatcher, thread or task it runs; a context
/// taken inside a left-out span carries the decision (and `inject_traceparent` sends it as the
/// `sampled` flag), and a caller's `sampled` flag decides for a trace it continues. Events are
/// not sampled. A dispatcher that reaches no handler makes no span, and so no decision. A
/// left-out root costs a little more than an idle span, and the spans under it about as much.
///
/// ```
/// use instrument::{get_dispatcher, set_filter};
/// use instrument::handlers::SimpleSpanHandler;
///
/// let app = get_dispatcher("doc_filter");
/// let spans = app.add_span_handler(SimpleSpanHandler::default());
/// set_filter("doc_filter::cache=off").unwrap();
/// get_dispatcher("doc_filter::cache").in_span("lookup", || ());
/// app.in_span("query", || ());
/// assert_eq!(spans.completed().len(), 1); // `query` only
///
/// set_filter("doc_filter=0.0").unwrap(); // on, keeping no trace
/// app.in_span("left_out", || app.in_span("child", || ()));
/// assert_eq!(spans.completed().len(), 1);
///
/// set_filter("").unwrap(); // all on again
/// assert!(set_filter("doc_filter=maybe").is_err());
/// ```
///
/// # Errors
/// [`FilterError::BadDirective`](crate::FilterError::BadDirective) for a directive that is not
/// `on`, `off` or a ratio from 0 to 1, with an optional target; the filter in force is then left
/// as it was.
pub fn set_filter(directives: &str) -> Result<(), FilterError> {
    filter::replace(directives)?;
    rebuild(&mut config());
    Ok(())
}

/// The shared handlers of the dispatcher called `name` (a span knows its dispatcher by name).
#[cold]
pub(crate) fn shared_of(name: &str) -> Option<Arc<Shared>> {
    get_dispatcher(name).shared()
}

/// A copy of a dispatcher's chain kept elsewhere (a call site's), which every change of chains
/// must refresh: the dispatcher tree tells caches through this, without knowing what they are.
pub(crate) trait ChainCache: Sync {
    /// Loads the chain again from the dispatcher the cache is bound to.
    fn refresh(&self);
}

/// Records `cache` so that later changes reach it, and refreshes it now, under the lock that
/// orders changes, so that no change can fall between the two.
pub(crate) fn watch_chain(cache: &'static dyn ChainCache) {
    let mut config = config();
    if !config
        .caches
        .iter()
        .any(|c| ptr::addr_eq(ptr::from_ref(*c), ptr::from_ref(cache)))
    {
        config.caches.push(cache);
    }
    cache.refresh();
}

impl Dispatcher {
    /// The dispatcher's name (`"root"` for the root).
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether this is the root.
    #[must_use]
    pub fn is_root(&self) -> bool {
        self.parent.load(Ordering::Acquire).is_null()
    }

    /// The parent dispatcher; `None` for the root.
    #[must_use]
    pub fn parent(&self) -> Option<&'static Dispatcher> {
        let parent = self.parent.load(Ordering::Acquire);
        // SAFETY: dispatchers are leaked, so any non-null parent pointer is valid for 'static.
        unsafe { parent.cast_const().as_ref() }
    }

    /// Whether spans and events continue to the parent's handlers.
    #[must_use]
    pub fn propagate(&self) -> bool {
        self.propagate.load(Ordering::Acquire)
    }

    /// Sets whether spans and events continue to the parent's handlers.
    pub fn set_propagate(&self, propagate: bool) {
        let mut config = config();
        self.propagate.store(propagate, Ordering::Release);
        rebuild(&mut config);
    }

    #[inline]
    pub(crate) fn chain(&self) -> &'static Chain {
        // SAFETY: chains are leaked (or the static empty one), so the pointer is valid for 'static.
        unsafe { &*self.chain.load(Ordering::Acquire) }
    }

    pub(crate) fn chain_ptr(&self) -> *mut Chain {
        self.chain.load(Ordering::Acquire)
    }

    /// Whether any span or event handler is reachable from this dispatcher.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        !self.chain().is_empty()
    }

    /// How many span handlers a span made here reaches, of both kinds, shared ones included.
    #[must_use]
    pub fn span_handler_count(&self) -> usize {
        let chain = self.chain();
        chain.span.len()
            + chain.batch.len()
            + self.shared().map_or(0, |s| s.span.len() + s.batch.len())
    }

    /// How many event handlers an event emitted here reaches, shared ones included.
    #[must_use]
    pub fn event_handler_count(&self) -> usize {
        self.chain().event.len() + self.shared().map_or(0, |s| s.event.len())
    }

    /// The shared handlers this dispatcher reaches, if any.
    pub(crate) fn shared(&self) -> Option<Arc<Shared>> {
        self.shared
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Adds a span handler to this dispatcher, and returns it for later reading.
    ///
    /// The handler lives for the rest of the program, since spans in flight may still hold it:
    /// this is the form for start-up registration, the cheapest for every span. For handlers
    /// added and removed as the program runs (per request), use
    /// [`add_shared_span_handler`](Self::add_shared_span_handler).
    ///
    /// It takes a handler of either kind ([`AnySpanHandler`]): a [`SpanHandler`], or one of the
    /// library's batched handlers (`SimpleSpanHandler`); a batched handler of your own is added
    /// with [`add_batch_span_handler`](Self::add_batch_span_handler).
    pub fn add_span_handler<H: AnySpanHandler>(&self, handler: H) -> &'static H {
        H::add_to(handler, self)
    }

    /// Adds a [`SpanHandler`], and returns it for later reading.
    fn add_sync_span_handler<H: SpanHandler>(&self, handler: H) -> &'static H {
        let cell = HandlerCell::leak(handler);
        self.change(|own| own.handlers.span.push(cell));
        &cell.handler
    }

    /// Adds a batched span handler to this dispatcher, and returns it for later reading: the
    /// core records this dispatcher's spans (and those of the dispatchers below it) and hands
    /// them to it in batches ([`BatchSpanHandler`]). Lives for the rest of the program, as
    /// [`add_span_handler`](Self::add_span_handler)'s handlers do.
    pub fn add_batch_span_handler<H: BatchSpanHandler>(&self, handler: H) -> &'static H {
        let cell = HandlerCell::leak(handler);
        self.change(|own| own.handlers.batch.push(cell));
        &cell.handler
    }

    /// Adds a batched span handler that the program keeps hold of, to remove it later with
    /// [`remove_span_handler`](Self::remove_span_handler)`(&*handler)`; released once removed and
    /// once the spans it follows have been delivered to it. See
    /// [`add_shared_span_handler`](Self::add_shared_span_handler).
    pub fn add_shared_batch_span_handler<H: BatchSpanHandler>(&self, handler: Arc<H>) {
        let cell: Arc<dyn ErasedBatchHandler> = HandlerCell::shared(handler);
        self.change(|own| own.shared_batch.push(cell));
    }

    /// Adds an event handler to this dispatcher, and returns it for later reading.
    ///
    /// The handler lives for the rest of the program: this is the form for start-up
    /// registration. For handlers added and removed as the program runs (a token counter per
    /// request), use [`add_shared_event_handler`](Self::add_shared_event_handler).
    pub fn add_event_handler<H: EventHandler>(&self, handler: H) -> &'static H {
        let cell = HandlerCell::leak(handler);
        self.change(|own| own.handlers.event.push(cell));
        &cell.handler
    }

    /// Adds a span handler that the program keeps hold of, to remove it later with
    /// [`remove_span_handler`](Self::remove_span_handler)`(&*handler)`. Once removed, the handler
    /// is released (this dispatcher drops its `Arc`) as soon as the spans that started while it
    /// was registered have ended; nothing is kept per add or remove, and adding costs the same
    /// whatever was added before. While any is registered, each span of this dispatcher (and of
    /// the dispatchers below it) takes a snapshot of them: an atomic reference count, where
    /// start-up handlers cost nothing of the kind. Shared handlers are not told of scopes
    /// ([`SpanHandler::FOLLOWS_SCOPE`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use instrument::{SpanEnd, SpanHandler, SpanStart};
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// #[derive(Default)]
    /// struct Count(AtomicUsize);
    /// impl SpanHandler for Count {
    ///     type Span = ();
    ///     fn new_span(&self, _: &SpanStart<'_>) -> Option<()> { Some(()) }
    ///     fn prepare_to_exit_span(&self, _: (), _: &SpanEnd<'_>) {
    ///         self.0.fetch_add(1, Ordering::Relaxed);
    ///     }
    ///     fn prepare_to_drop_span(&self, _: (), _: &SpanEnd<'_>) {}
    /// }
    ///
    /// let dispatcher = instrument::get_dispatcher("doc::shared_span_handler");
    /// let per_request = Arc::new(Count::default());
    /// dispatcher.add_shared_span_handler(Arc::clone(&per_request));
    /// dispatcher.in_span("handle_request", || ());
    /// assert!(dispatcher.remove_span_handler(&*per_request));
    /// assert_eq!(per_request.0.load(Ordering::Relaxed), 1);
    /// assert_eq!(Arc::strong_count(&per_request), 1); // released
    /// ```
    pub fn add_shared_span_handler<H: AnySpanHandler>(&self, handler: Arc<H>) {
        H::add_shared_to(handler, self);
    }

    /// Adds a shared [`SpanHandler`].
    fn add_shared_sync_span_handler<H: SpanHandler>(&self, handler: Arc<H>) {
        let cell: Arc<dyn ErasedSpanHandler> = HandlerCell::shared(handler);
        self.change(|own| own.shared_span.push(cell));
    }

    /// Adds an event handler that the program keeps hold of, to remove it later with
    /// [`remove_event_handler`](Self::remove_event_handler)`(&*handler)`: a token counter per
    /// request, say. Released once removed; see
    /// [`add_shared_span_handler`](Self::add_shared_span_handler).
    pub fn add_shared_event_handler<H: EventHandler>(&self, handler: Arc<H>) {
        let cell: Arc<dyn ErasedEventHandler> = HandlerCell::shared(handler);
        self.change(|own| own.shared_event.push(cell));
    }

    /// Removes a span handler of either kind added here, by start-up or shared registration;
    /// `false` if it was not. Spans it already follows still end on it.
    pub fn remove_span_handler<H: ?Sized>(&self, handler: &H) -> bool {
        let addr = ptr::from_ref(handler).cast::<()>();
        self.change(|own| {
            remove_by_addr(&mut own.handlers.span, addr, |h| h.addr())
                || remove_by_addr(&mut own.shared_span, addr, |h| h.addr())
                || remove_by_addr(&mut own.handlers.batch, addr, |h| h.addr())
                || remove_by_addr(&mut own.shared_batch, addr, |h| h.addr())
        })
    }

    /// Removes an event handler added here, by start-up or shared registration; `false` if it
    /// was not.
    pub fn remove_event_handler<H: EventHandler>(&self, handler: &H) -> bool {
        let addr = ptr::from_ref(handler).cast::<()>();
        self.change(|own| {
            remove_by_addr(&mut own.handlers.event, addr, |h| h.addr())
                || remove_by_addr(&mut own.shared_event, addr, |h| h.addr())
        })
    }

    fn change<R>(&self, f: impl FnOnce(&mut Own) -> R) -> R {
        let mut config = config();
        let result = f(&mut self.own.lock().unwrap_or_else(PoisonError::into_inner));
        rebuild(&mut config);
        result
    }

    /// Emits `event` to every event handler in this dispatcher's chain, stamped with a fresh id, the
    /// time, the current span and the current tags.
    ///
    /// With no event handler in the chain this is one load and a branch; the event is not touched.
    ///
    /// An event in which a handler found a value nested deeper than [`crate::MAX_DEPTH`] is
    /// leaked rather than dropped: its own drop may recurse as deep and overflow the stack.
    #[inline]
    pub fn event<E: Event>(&self, event: E) {
        let chain = self.chain();
        if (chain.event.is_empty() && !chain.shared) || current::in_handler() {
            return;
        }
        if self.dispatch_event(chain, &event) {
            std::mem::forget(event);
        }
    }

    /// Hands `event` to the handlers; whether any of them met a value too deep to keep.
    fn dispatch_event(&self, chain: &'static Chain, event: &dyn Event) -> bool {
        let watch = CutWatch::start();
        let envelope = EventEnvelope::new(event, self.name);
        let _guard = HandlerGuard::enter();
        let shared = if chain.shared { self.shared() } else { None };
        chain.handle(shared.as_deref(), &envelope);
        watch.finish()
    }
}

/// Removes the handler at `addr` from `list` (of leaked or shared handlers); whether it was there.
fn remove_by_addr<P: std::ops::Deref<Target = T>, T: ?Sized>(
    list: &mut Vec<P>,
    addr: *const (),
    addr_of: impl Fn(&T) -> *const (),
) -> bool {
    let before = list.len();
    list.retain(|h| !ptr::addr_eq(addr_of(h), addr));
    before != list.len()
}

/// Every dispatcher made so far.
pub(crate) fn dispatchers() -> Vec<&'static Dispatcher> {
    config().dispatchers.clone()
}

impl Dispatcher {
    /// Closes the handlers added to this dispatcher itself (each handler closes once however
    /// often it is asked).
    pub(crate) fn close_own_handlers(&self) {
        let own = self.own.lock().unwrap_or_else(PoisonError::into_inner);
        let span: Vec<_> = own.handlers.span.clone();
        let event: Vec<_> = own.handlers.event.clone();
        let batch: Vec<_> = own.handlers.batch.clone();
        let shared_span = own.shared_span.clone();
        let shared_event = own.shared_event.clone();
        let shared_batch = own.shared_batch.clone();
        drop(own);
        for h in span.iter().copied().chain(shared_span.iter().map(|h| &**h)) {
            h.close();
        }
        for h in batch
            .iter()
            .copied()
            .chain(shared_batch.iter().map(|h| &**h))
        {
            h.close();
        }
        for h in event
            .iter()
            .copied()
            .chain(shared_event.iter().map(|h| &**h))
        {
            h.close();
        }
    }
}

/// Emits an event on this module's dispatcher, or on the one named first: the shorthand for
/// [`dispatcher!`](crate::dispatcher!)`().event(..)`, the dispatcher looked up once per call site.
///
/// ```
/// #[derive(serde::Serialize)]
/// struct CacheHit { key: String, age_ms: u64 }
/// # impl instrument::Event for CacheHit {
/// #     fn class_name(&self) -> &'static str { "CacheHit" }
/// #     fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> { serde_json::to_value(self) }
/// # }
///
/// instrument::event!(CacheHit { key: "q".into(), age_ms: 3 });                // this module's
/// instrument::event!("my_app::cache", CacheHit { key: "q".into(), age_ms: 3 }); // a named one
/// ```
#[macro_export]
macro_rules! event {
    ($dispatcher:literal, $event:expr $(,)?) => {
        $crate::dispatcher!($dispatcher).event($event)
    };
    ($event:expr $(,)?) => {
        $crate::dispatcher!().event($event)
    };
}

/// The dispatcher of this module (or of the name given), looked up once per call site and cached in a
/// `static`, so that emitting an event costs no map lookup:
///
/// ```
/// # #[derive(serde::Serialize)] struct Ping;
/// # impl instrument::Event for Ping {
/// #     fn class_name(&self) -> &'static str { "Ping" }
/// #     fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> { serde_json::to_value(self) }
/// # }
/// instrument::dispatcher!().event(Ping);                 // this module's dispatcher
/// instrument::dispatcher!("my_app::rag").event(Ping);    // a named one
/// assert_eq!(instrument::dispatcher!("my_app::rag").name(), "my_app::rag");
/// ```
#[macro_export]
macro_rules! dispatcher {
    () => {
        $crate::dispatcher!(::core::module_path!())
    };
    ($name:expr) => {{
        static DISPATCHER: ::std::sync::OnceLock<&'static $crate::Dispatcher> =
            ::std::sync::OnceLock::new();
        *DISPATCHER.get_or_init(|| $crate::get_dispatcher($name))
    }};
}

/// A span handler of either kind, as [`Dispatcher::add_span_handler`] and
/// [`Dispatcher::add_shared_span_handler`] take it: every [`SpanHandler`], and the library's
/// batched handlers ([`BatchSpanHandler`]s that implement this trait to be added the same way).
///
/// A batched handler of your own needs no impl: add it with
/// [`Dispatcher::add_batch_span_handler`]. To let `add_span_handler` take it, forward to that:
///
/// ```
/// use instrument::{AnySpanHandler, BatchSpanHandler, Dispatcher, EndedSpan};
/// use std::sync::Arc;
///
/// struct Mine;
/// impl BatchSpanHandler for Mine {
///     fn handle_batch(&self, _: &[EndedSpan]) {}
/// }
/// impl AnySpanHandler for Mine {
///     fn add_to(handler: Self, dispatcher: &Dispatcher) -> &'static Self {
///         dispatcher.add_batch_span_handler(handler)
///     }
///     fn add_shared_to(handler: Arc<Self>, dispatcher: &Dispatcher) {
///         dispatcher.add_shared_batch_span_handler(handler);
///     }
/// }
///
/// instrument::get_dispatcher("doc::any_span_handler").add_span_handler(Mine);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a span handler",
    label = "not a `SpanHandler`",
    note = "implement `instrument::SpanHandler`; a `BatchSpanHandler` is added with `add_batch_span_handler`"
)]
pub trait AnySpanHandler: Send + Sync + Sized + 'static {
    /// Adds `handler` to `dispatcher` for the rest of the program.
    fn add_to(handler: Self, dispatcher: &Dispatcher) -> &'static Self;

    /// Adds `handler` to `dispatcher` as a shared handler, removable later.
    fn add_shared_to(handler: Arc<Self>, dispatcher: &Dispatcher);
}

impl<H: SpanHandler> AnySpanHandler for H {
    fn add_to(handler: Self, dispatcher: &Dispatcher) -> &'static Self {
        dispatcher.add_sync_span_handler(handler)
    }

    fn add_shared_to(handler: Arc<Self>, dispatcher: &Dispatcher) {
        dispatcher.add_shared_sync_span_handler(handler);
    }
}
