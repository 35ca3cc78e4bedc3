//! What `#[span]` and `#[derive(Event)]` expand to. Not API: nothing here is covered by semver.
//!
//! Argument capture uses autoref probing: `(&&&&Probe(&value)).__instrument_arg(name)` resolves, at
//! compile time, to the views (`Serialize`, `Debug`) the value's type has, so any type can be an
//! argument of a span. Generated code imports the probe traits once, with `use probes::*`.

#![allow(missing_docs, clippy::missing_errors_doc)]

use std::fmt;

pub use crate::dispatch::callsite::Callsite;
pub use crate::span::stream::InstrumentedStream;
pub use crate::span::{
    ErrorText, Instrumented, Parent, SpanPlace, SpanState, StartHook, instrument, run_sync,
};
pub use crate::values::args::{Arg, SerializeValue};
pub use crate::values::sensitive::is_sensitive_name;
pub use serde;
pub use serde_json;

/// What `#[derive(Event)]` asks of its type: `serde::Serialize`, under a name whose error says so
/// in words, on the user's type, rather than through a bound of this module.
#[diagnostic::on_unimplemented(
    message = "`#[derive(Event)]` needs `{Self}` to implement `serde::Serialize`",
    label = "events reach handlers and exporters as JSON",
    note = "add `#[derive(serde::Serialize)]` to `{Self}`, beside `#[derive(instrument::Event)]`"
)]
pub trait EventSerialize: serde::Serialize {}

impl<T: serde::Serialize + ?Sized> EventSerialize for T {}

/// A derived event's `to_json`: guarded, so it never fails.
pub fn event_json<T: EventSerialize>(event: &T) -> Result<serde_json::Value, serde_json::Error> {
    Ok(crate::values::value_guard::to_json_guarded(event))
}

/// A borrowed value under probe.
pub struct Probe<'a, T>(pub &'a T);

/// The probe traits, imported together (as `_`) by generated code: `use probes::*;`.
pub mod probes {
    pub use super::{
        ArgDebugOnly as _, ArgOpaque as _, ArgSerdeAndDebug as _, ArgSerdeOnly as _,
        ErrorDebug as _, ErrorDisplay as _, ErrorOpaque as _, SplitResult as _, SplitValue as _,
    };
}

// An argument or return value: `(&&&&Probe(&value)).__instrument_arg(name)` resolves, at compile
// time, to the most capable impl the value's type has: Serialize and Debug, Serialize, Debug,
// neither. One method call per value keeps the expansion small.

pub trait ArgSerdeAndDebug<'a> {
    fn __instrument_arg(&self, name: &'static str) -> Arg<'a>;
}
impl<'a, T: serde::Serialize + fmt::Debug> ArgSerdeAndDebug<'a> for &&&Probe<'a, T> {
    #[inline]
    fn __instrument_arg(&self, name: &'static str) -> Arg<'a> {
        Arg::from_parts(name, std::any::type_name::<T>(), Some(self.0), Some(self.0))
    }
}
pub trait ArgSerdeOnly<'a> {
    fn __instrument_arg(&self, name: &'static str) -> Arg<'a>;
}
impl<'a, T: serde::Serialize> ArgSerdeOnly<'a> for &&Probe<'a, T> {
    #[inline]
    fn __instrument_arg(&self, name: &'static str) -> Arg<'a> {
        Arg::from_parts(name, std::any::type_name::<T>(), Some(self.0), None)
    }
}
pub trait ArgDebugOnly<'a> {
    fn __instrument_arg(&self, name: &'static str) -> Arg<'a>;
}
impl<'a, T: fmt::Debug> ArgDebugOnly<'a> for &Probe<'a, T> {
    #[inline]
    fn __instrument_arg(&self, name: &'static str) -> Arg<'a> {
        Arg::from_parts(name, std::any::type_name::<T>(), None, Some(self.0))
    }
}
pub trait ArgOpaque<'a> {
    fn __instrument_arg(&self, name: &'static str) -> Arg<'a>;
}
impl<'a, T> ArgOpaque<'a> for Probe<'a, T> {
    #[inline]
    fn __instrument_arg(&self, name: &'static str) -> Arg<'a> {
        Arg::from_parts(name, std::any::type_name::<T>(), None, None)
    }
}

// An error value: `(&&&Probe(&error)).__instrument_error()` gives its Display text, else its Debug
// text, else its type name.

pub trait ErrorDisplay<'a> {
    fn __instrument_error(&self) -> ErrorText<'a>;
}
impl<'a, T: fmt::Display> ErrorDisplay<'a> for &&Probe<'a, T> {
    #[inline]
    fn __instrument_error(&self) -> ErrorText<'a> {
        ErrorText::from_parts(Some(self.0), None, std::any::type_name::<T>())
    }
}
pub trait ErrorDebug<'a> {
    fn __instrument_error(&self) -> ErrorText<'a>;
}
impl<'a, T: fmt::Debug> ErrorDebug<'a> for &Probe<'a, T> {
    #[inline]
    fn __instrument_error(&self) -> ErrorText<'a> {
        ErrorText::from_parts(None, Some(self.0), std::any::type_name::<T>())
    }
}
pub trait ErrorOpaque<'a> {
    fn __instrument_error(&self) -> ErrorText<'a>;
}
impl<'a, T> ErrorOpaque<'a> for Probe<'a, T> {
    #[inline]
    fn __instrument_error(&self) -> ErrorText<'a> {
        ErrorText::from_parts(None, None, std::any::type_name::<T>())
    }
}

/// A return value seen as success or failure.
pub enum Split<'a, T, E> {
    Ok(&'a T),
    Err(&'a E),
}

// `(&&Probe(&ret)).__instrument_split()`: `Result`s split into their `Ok` and `Err` sides, every other
// value is a success.

pub trait SplitResult<'a, T, E> {
    fn __instrument_split(&self) -> Split<'a, T, E>;
}
impl<'a, T, E> SplitResult<'a, T, E> for &Probe<'a, Result<T, E>> {
    #[inline]
    fn __instrument_split(&self) -> Split<'a, T, E> {
        match self.0 {
            Ok(value) => Split::Ok(value),
            Err(error) => Split::Err(error),
        }
    }
}
pub trait SplitValue<'a, T> {
    fn __instrument_split(&self) -> Split<'a, T, std::convert::Infallible>;
}
impl<'a, T> SplitValue<'a, T> for Probe<'a, T> {
    #[inline]
    fn __instrument_split(&self) -> Split<'a, T, std::convert::Infallible> {
        Split::Ok(self.0)
    }
}
