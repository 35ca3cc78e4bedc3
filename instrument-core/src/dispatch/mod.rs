//! Dispatching: the dispatcher tree and the handler chains it computes, the filter applied to it,
//! the handler traits and their panic-isolated forms, events, call sites, and shutting down.

pub(crate) mod callsite;
pub(crate) mod dispatcher;
pub(crate) mod event;
pub(crate) mod filter;
pub(crate) mod handler;
pub(crate) mod intern;
pub(crate) mod shutdown;
