//! How a span ended, and the text of an error.

use std::fmt;

use crate::values::args::Arg;

/// Text of an error value: its `Display`, else its `Debug`, else its type name.
#[derive(Clone, Copy)]
pub struct ErrorText<'a> {
    pub(super) display: Option<&'a dyn fmt::Display>,
    pub(super) debug: Option<&'a dyn fmt::Debug>,
    pub(super) type_name: &'static str,
}

impl<'a> ErrorText<'a> {
    /// From whatever views of the error exist; `#[span]` calls this with its probes' results.
    #[must_use]
    pub fn from_parts(
        display: Option<&'a dyn fmt::Display>,
        debug: Option<&'a dyn fmt::Debug>,
        type_name: &'static str,
    ) -> Self {
        Self {
            display,
            debug,
            type_name,
        }
    }

    /// From a value that implements `Display`.
    #[must_use]
    pub fn new<E: fmt::Display>(error: &'a E) -> Self {
        Self::from_parts(Some(error), None, std::any::type_name::<E>())
    }
}

impl fmt::Display for ErrorText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.display, self.debug) {
            (Some(display), _) => display.fmt(f),
            (None, Some(debug)) => write!(f, "{debug:?}"),
            (None, None) => write!(f, "<{}>", self.type_name),
        }
    }
}

impl fmt::Debug for ErrorText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrorText({self})")
    }
}

/// How a span ended.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Outcome<'a> {
    /// Returned normally (`Ok` for `Result`s), with the return value unless skipped.
    Exit(Option<Arg<'a>>),
    /// Returned `Err`.
    Error(ErrorText<'a>),
    /// Panicked with this message; unwinding resumed after the handlers ran.
    Panic(&'a str),
    /// A future or stream was dropped before it finished.
    Cancelled,
    /// Still open when [`crate::shutdown`] ran.
    Shutdown,
    /// Ended by the manual API with this reason.
    Dropped(&'a str),
}

impl Outcome<'_> {
    /// Why the span was dropped; `None` when it exited.
    #[must_use]
    pub fn drop_reason(&self) -> Option<DropReason> {
        match self {
            Outcome::Exit(_) => None,
            Outcome::Error(_) => Some(DropReason::Error),
            Outcome::Panic(_) => Some(DropReason::Panic),
            Outcome::Cancelled => Some(DropReason::Cancelled),
            Outcome::Shutdown => Some(DropReason::Shutdown),
            Outcome::Dropped(_) => Some(DropReason::Manual),
        }
    }
}

/// Why a span was dropped rather than exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// The function returned `Err`.
    Error,
    /// The function panicked.
    Panic,
    /// The future or stream was dropped before completion.
    Cancelled,
    /// The program shut instrumentation down while the span was open.
    Shutdown,
    /// Dropped through the manual API.
    Manual,
}

/// Text given to handlers for a cancelled span.
pub const CANCELLED: &str = "cancelled";
/// Text given to handlers for a span open at shutdown.
pub const SHUTDOWN: &str = "dispatcher shutdown";
