//! Call sites: the `static` each `#[span]` function keeps, caching its dispatcher's handler chain so
//! that the idle path is one atomic load and a branch.

use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, Ordering};

use dashmap::DashMap;

use crate::context::current;
use crate::dispatch::dispatcher::{
    Chain, ChainCache, Dispatcher, empty_chain_ptr, get_dispatcher, watch_chain,
};

/// One `#[span]` function's cached view of its dispatcher. Not API: made by the macro.
#[doc(hidden)]
#[derive(Debug)]
pub struct Callsite {
    name: &'static str,
    dispatcher_name: &'static str,
    qualify: bool,
    /// Null until first use; then the dispatcher's chain, the static empty chain when idle.
    chain: AtomicPtr<Chain>,
    dispatcher: AtomicPtr<Dispatcher>,
    qualified: AtomicPtr<Qualified>,
}

#[derive(Debug)]
struct Qualified {
    instance: &'static str,
    name: &'static str,
}

impl Callsite {
    /// A call site of a function named `name` on dispatcher `dispatcher`.
    #[must_use]
    pub const fn new(name: &'static str, dispatcher: &'static str) -> Self {
        Self::with(name, dispatcher, false)
    }

    /// A call site of a method: its spans are named `Type.method` after the receiver's type.
    #[must_use]
    pub const fn method(name: &'static str, dispatcher: &'static str) -> Self {
        Self::with(name, dispatcher, true)
    }

    const fn with(name: &'static str, dispatcher: &'static str, qualify: bool) -> Self {
        Self {
            name,
            dispatcher_name: dispatcher,
            qualify,
            chain: AtomicPtr::new(ptr::null_mut()),
            dispatcher: AtomicPtr::new(ptr::null_mut()),
            qualified: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The chain to record into, or `None` when no handler is reachable (one load and a branch)
    /// or the code runs in a trace a sampler left out (one thread-local read more).
    #[inline(always)]
    pub fn chain(&'static self) -> Option<&'static Chain> {
        let chain = self.chain.load(Ordering::Acquire);
        if ptr::eq(chain, empty_chain_ptr()) {
            return None;
        }
        self.chain_slow(chain)
    }

    /// The chain once the call site knows it has one (registering on first use), unless this
    /// code runs in a left-out trace. Kept small: it is inlined into every instrumented function.
    #[inline]
    fn chain_slow(&'static self, chain: *mut Chain) -> Option<&'static Chain> {
        if chain.is_null() {
            return self.chain_first();
        }
        if current::sampled_out_here() {
            return None;
        }
        // SAFETY: chains are leaked, so a non-null chain pointer is valid for 'static.
        Some(unsafe { &*chain })
    }

    /// The first call: registers the call site, then answers as [`Callsite::chain`] does.
    #[cold]
    #[inline(never)]
    fn chain_first(&'static self) -> Option<&'static Chain> {
        let chain = self.register();
        if ptr::eq(chain, empty_chain_ptr()) || current::sampled_out_here() {
            return None;
        }
        // SAFETY: chains are leaked, so a non-null chain pointer is valid for 'static.
        Some(unsafe { &*chain })
    }

    /// The name of the dispatcher this call site reports to.
    #[must_use]
    pub fn dispatcher_name(&self) -> &'static str {
        self.dispatcher_name
    }

    /// Binds the call site to its dispatcher and has the tree keep its chain fresh; returns the
    /// chain.
    #[cold]
    fn register(&'static self) -> *mut Chain {
        let dispatcher = get_dispatcher(self.dispatcher_name);
        self.dispatcher
            .store(ptr::from_ref(dispatcher).cast_mut(), Ordering::Release);
        watch_chain(self);
        self.chain.load(Ordering::Acquire)
    }

    /// The span name for a call: `Type.method` for methods (from `instance`, the receiver's type
    /// name), else the function's name. Cached per call site.
    #[inline]
    #[must_use]
    pub fn span_name(&'static self, instance: Option<&'static str>) -> &'static str {
        let Some(instance) = instance.filter(|_| self.qualify) else {
            return self.name;
        };
        let cached = self.qualified.load(Ordering::Acquire);
        // SAFETY: `Qualified` values are leaked.
        if let Some(cached) = unsafe { cached.cast_const().as_ref() }
            && ptr::eq(cached.instance, instance)
        {
            return cached.name;
        }
        self.qualify_slow(instance)
    }

    #[cold]
    fn qualify_slow(&'static self, instance: &'static str) -> &'static str {
        static TABLE: OnceLock<DashMap<(&'static str, &'static str), &'static Qualified>> =
            OnceLock::new();
        let table = TABLE.get_or_init(DashMap::new);
        let qualified = *table.entry((instance, self.name)).or_insert_with(|| {
            let name = crate::dispatch::intern::intern(&format!(
                "{}.{}",
                short_type_name(instance),
                self.name
            ))
            .unwrap_or(self.name);
            Box::leak(Box::new(Qualified { instance, name }))
        });
        self.qualified
            .store(ptr::from_ref(qualified).cast_mut(), Ordering::Release);
        qualified.name
    }
}

impl ChainCache for Callsite {
    fn refresh(&self) {
        let dispatcher = self.dispatcher.load(Ordering::Acquire);
        // SAFETY: dispatchers are leaked.
        if let Some(dispatcher) = unsafe { dispatcher.cast_const().as_ref() } {
            self.chain.store(dispatcher.chain_ptr(), Ordering::Release);
        }
    }
}

/// `my_app::rag::Retriever<my_app::Store>` → `Retriever`.
fn short_type_name(full: &str) -> &str {
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_names() {
        assert_eq!(
            super::short_type_name("a::b::Retriever<a::Store>"),
            "Retriever"
        );
        assert_eq!(super::short_type_name("Plain"), "Plain");
    }
}
