//! What code runs in: the current span and tags of a thread or task, the contexts that carry
//! them elsewhere, and their propagation across processes (our own format and W3C `traceparent`).

pub(crate) mod current;
pub(crate) mod propagation;
pub(crate) mod tagged;
pub(crate) mod tags;
pub(crate) mod traceparent;
pub(crate) mod w3c;
