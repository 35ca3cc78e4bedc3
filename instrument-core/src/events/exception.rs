//! An error, reported as an event.

use std::fmt::Display;

use instrument_macros::Event;
use serde::Serialize;

/// Something failed. The error is kept as its text, the form in which it reaches JSON.
#[derive(Debug, Clone, Serialize, Event)]
#[event(crate = crate)]
pub struct ExceptionEvent {
    /// The error's `Display` text.
    pub exception: String,
}

impl ExceptionEvent {
    /// The event for `error`.
    #[must_use]
    pub fn new(error: &(impl Display + ?Sized)) -> Self {
        Self {
            exception: error.to_string(),
        }
    }
}
