//! The dispatcher tree: named dispatchers, their handlers, and the flattened handler chain each one
//! caches.
//!
//! Dispatchers live for the program. Every change to handlers, `propagate` or the tree recomputes the
//! chains of all dispatchers and call sites under one lock; recording only loads a pointer. Chains are
//! never freed (a span in flight may still read one) but are shared: re-adding a set of handlers seen
//! before reuses its chain, so memory is bounded by the number of distinct handler sets.

use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use dashmap::DashMap;

use crate::bounded_serialize::CutWatch;
use crate::callsite::Callsite;
use crate::context::{self, HandlerGuard};
use crate::event::{Event, EventEnvelope};
use crate::handler::{
    ErasedEventHandler, ErasedSpanHandler, EventHandler, HandlerCell, SpanHandler,
};
use crate::id::SpanId;

/// The handlers a span or event on one dispatcher reaches: its own, then its ancestors' up to the
/// first with `propagate = false`.
#[doc(hidden)]
pub struct Chain {
    pub(crate) span: Vec<&'static dyn ErasedSpanHandler>,
    pub(crate) event: Vec<&'static dyn ErasedEventHandler>,
    /// The span handlers that follow scopes ([`crate::SpanHandler::FOLLOWS_SCOPE`]), in chain
    /// order: empty for most chains, so that entering a span costs them one length check.
    pub(crate) scoped: Vec<&'static dyn ErasedSpanHandler>,
}

impl Chain {
    fn new(
        span: Vec<&'static dyn ErasedSpanHandler>,
        event: Vec<&'static dyn ErasedEventHandler>,
    ) -> Self {
        let scoped = span.iter().copied().filter(|h| h.follows_scope()).collect();
        Self {
            span,
            event,
            scoped,
        }
    }

    /// Whether no span or event handler is reachable.
    pub(crate) fn is_empty(&self) -> bool {
        self.span.is_empty() && self.event.is_empty()
    }

    fn same_as(
        &self,
        span: &[&'static dyn ErasedSpanHandler],
        event: &[&'static dyn ErasedEventHandler],
    ) -> bool {
        self.span.len() == span.len()
            && self.event.len() == event.len()
            && self
                .span
                .iter()
                .zip(span)
                .all(|(a, b)| ptr::addr_eq(a.addr(), b.addr()))
            && self
                .event
                .iter()
                .zip(event)
                .all(|(a, b)| ptr::addr_eq(a.addr(), b.addr()))
    }
}

impl context::ScopeFollowers for Chain {
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

/// The chain of a dispatcher with no handler anywhere above it.
pub(crate) static EMPTY_CHAIN: Chain = Chain {
    span: Vec::new(),
    event: Vec::new(),
    scoped: Vec::new(),
};

pub(crate) fn empty_chain_ptr() -> *mut Chain {
    ptr::from_ref(&EMPTY_CHAIN).cast_mut()
}

/// A named node of the dispatcher tree; see [`get_dispatcher`].
///
/// ```
/// use instrument_core::get_dispatcher;
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
}

#[derive(Default)]
struct Own {
    span: Vec<&'static dyn ErasedSpanHandler>,
    event: Vec<&'static dyn ErasedEventHandler>,
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
    callsites: Vec<&'static Callsite>,
    chains: Vec<&'static Chain>,
}

static CONFIG: Mutex<Config> = Mutex::new(Config {
    dispatchers: Vec::new(),
    callsites: Vec::new(),
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
/// children are re-parented when an ancestor registers later, as in Python's `logging`.
#[must_use]
pub fn get_dispatcher(name: &str) -> &'static Dispatcher {
    let name = if name.is_empty() { ROOT_NAME } else { name };
    if let Some(found) = by_name().get(name) {
        return *found;
    }
    register(name)
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

/// Recomputes every dispatcher's chain and every call site's cached pointer.
fn rebuild(config: &mut Config) {
    for dispatcher in config.dispatchers.clone() {
        let mut span = Vec::new();
        let mut event = Vec::new();
        let mut node = Some(dispatcher);
        while let Some(d) = node {
            let own = d.own.lock().unwrap_or_else(PoisonError::into_inner);
            span.extend_from_slice(&own.span);
            event.extend_from_slice(&own.event);
            drop(own);
            node = if d.propagate() { d.parent() } else { None };
        }
        let chain: *mut Chain = if span.is_empty() && event.is_empty() {
            empty_chain_ptr()
        } else if let Some(found) = config.chains.iter().find(|c| c.same_as(&span, &event)) {
            ptr::from_ref(*found).cast_mut()
        } else {
            let leaked: &'static Chain = Box::leak(Box::new(Chain::new(span, event)));
            config.chains.push(leaked);
            ptr::from_ref(leaked).cast_mut()
        };
        dispatcher.chain.store(chain, Ordering::Release);
    }
    for callsite in &config.callsites {
        callsite.refresh();
    }
}

/// Records a call site so that later changes reach its cache; returns its dispatcher's chain.
pub(crate) fn register_callsite(
    callsite: &'static Callsite,
    dispatcher: &'static str,
) -> *mut Chain {
    let d = get_dispatcher(dispatcher);
    let mut config = config();
    callsite.bind(d);
    if !config.callsites.iter().any(|c| ptr::eq(*c, callsite)) {
        config.callsites.push(callsite);
    }
    callsite.refresh();
    d.chain.load(Ordering::Acquire)
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

    /// How many span handlers a span made here reaches.
    #[must_use]
    pub fn span_handler_count(&self) -> usize {
        self.chain().span.len()
    }

    /// How many event handlers an event emitted here reaches.
    #[must_use]
    pub fn event_handler_count(&self) -> usize {
        self.chain().event.len()
    }

    /// Adds a span handler to this dispatcher, and returns it for later reading.
    ///
    /// The handler lives for the rest of the program, since spans in flight may still hold it:
    /// register handlers at start-up, not per request.
    pub fn add_span_handler<H: SpanHandler>(&self, handler: H) -> &'static H {
        let cell = HandlerCell::leak(handler);
        self.change(|own| own.span.push(cell));
        &cell.handler
    }

    /// Adds an event handler to this dispatcher, and returns it for later reading.
    ///
    /// The handler lives for the rest of the program; register handlers at start-up.
    pub fn add_event_handler<H: EventHandler>(&self, handler: H) -> &'static H {
        let cell = HandlerCell::leak(handler);
        self.change(|own| own.event.push(cell));
        &cell.handler
    }

    /// Removes a span handler added here; `false` if it was not. Spans it already follows still end
    /// on it.
    pub fn remove_span_handler<H: SpanHandler>(&self, handler: &H) -> bool {
        let addr = ptr::from_ref(handler).cast::<()>();
        self.change(|own| remove_by_addr(&mut own.span, addr, |h| h.addr()))
    }

    /// Removes an event handler added here; `false` if it was not.
    pub fn remove_event_handler<H: EventHandler>(&self, handler: &H) -> bool {
        let addr = ptr::from_ref(handler).cast::<()>();
        self.change(|own| remove_by_addr(&mut own.event, addr, |h| h.addr()))
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
        if chain.event.is_empty() || context::in_handler() {
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
        for handler in &chain.event {
            handler.handle(&envelope);
        }
        watch.finish()
    }
}

/// Removes the handler at `addr` from `list`; whether it was there.
fn remove_by_addr<T: ?Sized>(
    list: &mut Vec<&'static T>,
    addr: *const (),
    addr_of: impl Fn(&T) -> *const (),
) -> bool {
    let before = list.len();
    list.retain(|h| !ptr::addr_eq(addr_of(h), addr));
    before != list.len()
}

/// Drops every open span with `"dispatcher shutdown"`, then calls `close` on every handler once.
/// Calling it again drops spans opened since, and closes nothing twice.
///
/// ```
/// instrument_core::shutdown();
/// instrument_core::shutdown(); // harmless
/// ```
pub fn shutdown() {
    crate::open_spans::drain();
    crate::manual::forget_open_by_id();
    let dispatchers = config().dispatchers.clone();
    for d in dispatchers {
        let own = d.own.lock().unwrap_or_else(PoisonError::into_inner);
        let span: Vec<_> = own.span.clone();
        let event: Vec<_> = own.event.clone();
        drop(own);
        for h in span {
            h.close();
        }
        for h in event {
            h.close();
        }
    }
}

/// The dispatcher of this module (or of the name given), looked up once per call site and cached in a
/// `static`, so that emitting an event costs no map lookup:
///
/// ```
/// # #[derive(serde::Serialize)] struct Ping;
/// # impl instrument_core::Event for Ping {
/// #     fn class_name(&self) -> &'static str { "Ping" }
/// #     fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> { serde_json::to_value(self) }
/// # }
/// instrument_core::dispatcher!().event(Ping);                 // this module's dispatcher
/// instrument_core::dispatcher!("my_app::rag").event(Ping);    // a named one
/// assert_eq!(instrument_core::dispatcher!("my_app::rag").name(), "my_app::rag");
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
