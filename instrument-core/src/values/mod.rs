//! What the library reads out of the program: arguments, results and payloads turned into JSON
//! or text, guarded against depth, failing impls and secrets.

pub(crate) mod args;
pub(crate) mod bounded_serialize;
pub(crate) mod owned_json;
pub(crate) mod sensitive;
pub(crate) mod value_guard;
