//! What `#[span]` and `#[derive(Event)]` expand to. Not API: nothing here is covered by semver.
//!
//! Argument capture uses autoref probing: `(&&Probe(&value)).__instrument_serde()` resolves to the
//! `Serialize` view when the type has one and to `None` otherwise, at compile time, so any type can be
//! an argument of a span.

#![allow(missing_docs, clippy::missing_errors_doc)]

use std::fmt;

pub use crate::args::{Arg, SerializeValue, is_sensitive_name};
pub use crate::callsite::Callsite;
pub use crate::span::{ErrorText, Instrumented, SpanState, StartHook, run_sync};
pub use crate::stream::InstrumentedStream;
pub use serde;
pub use serde_json;

/// A borrowed value under probe.
pub struct Probe<'a, T>(pub &'a T);

pub trait SerdeView<'a> {
    fn __instrument_serde(&self) -> Option<&'a dyn SerializeValue>;
}
impl<'a, T: serde::Serialize> SerdeView<'a> for &Probe<'a, T> {
    #[inline]
    fn __instrument_serde(&self) -> Option<&'a dyn SerializeValue> {
        Some(self.0)
    }
}
pub trait NoSerdeView<'a> {
    #[inline]
    fn __instrument_serde(&self) -> Option<&'a dyn SerializeValue> {
        None
    }
}
impl<'a, T> NoSerdeView<'a> for Probe<'a, T> {}

pub trait DebugView<'a> {
    fn __instrument_debug(&self) -> Option<&'a dyn fmt::Debug>;
}
impl<'a, T: fmt::Debug> DebugView<'a> for &Probe<'a, T> {
    #[inline]
    fn __instrument_debug(&self) -> Option<&'a dyn fmt::Debug> {
        Some(self.0)
    }
}
pub trait NoDebugView<'a> {
    #[inline]
    fn __instrument_debug(&self) -> Option<&'a dyn fmt::Debug> {
        None
    }
}
impl<'a, T> NoDebugView<'a> for Probe<'a, T> {}

pub trait DisplayView<'a> {
    fn __instrument_display(&self) -> Option<&'a dyn fmt::Display>;
}
impl<'a, T: fmt::Display> DisplayView<'a> for &Probe<'a, T> {
    #[inline]
    fn __instrument_display(&self) -> Option<&'a dyn fmt::Display> {
        Some(self.0)
    }
}
pub trait NoDisplayView<'a> {
    #[inline]
    fn __instrument_display(&self) -> Option<&'a dyn fmt::Display> {
        None
    }
}
impl<'a, T> NoDisplayView<'a> for Probe<'a, T> {}

/// A return value seen as success or failure.
pub enum Split<'a, T, E> {
    Ok(&'a T),
    Err(&'a E),
}

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

/// The type name of a borrowed value.
#[inline]
#[must_use]
pub fn type_name_of<T>(_: &T) -> &'static str {
    std::any::type_name::<T>()
}

/// `Arg` for `$value` (a reference) named `$name`, through whatever views its type has.
#[doc(hidden)]
#[macro_export]
macro_rules! __instrument_capture {
    ($name:expr, $value:expr) => {{
        #[allow(unused_imports)]
        use $crate::__private::{
            DebugView as _, NoDebugView as _, NoSerdeView as _, SerdeView as _,
        };
        let __instrument_value = $value;
        $crate::__private::Arg::from_parts(
            $name,
            $crate::__private::type_name_of(__instrument_value),
            (&&$crate::__private::Probe(__instrument_value)).__instrument_serde(),
            (&&$crate::__private::Probe(__instrument_value)).__instrument_debug(),
        )
    }};
}

/// As `__instrument_capture!`, but redacted when `$name` looks like a secret.
#[doc(hidden)]
#[macro_export]
macro_rules! __instrument_capture_unless_secret {
    ($name:literal, $value:expr) => {
        if const { $crate::__private::is_sensitive_name($name) } {
            $crate::__private::Arg::redacted($name)
        } else {
            $crate::__instrument_capture!($name, $value)
        }
    };
}

/// `ErrorText` for `$error` (a reference).
#[doc(hidden)]
#[macro_export]
macro_rules! __instrument_error_text {
    ($error:expr) => {{
        #[allow(unused_imports)]
        use $crate::__private::{
            DebugView as _, DisplayView as _, NoDebugView as _, NoDisplayView as _,
        };
        let __instrument_error = $error;
        $crate::__private::ErrorText::from_parts(
            (&&$crate::__private::Probe(__instrument_error)).__instrument_display(),
            (&&$crate::__private::Probe(__instrument_error)).__instrument_debug(),
            $crate::__private::type_name_of(__instrument_error),
        )
    }};
}

/// Ends `$state` (a `Pin<&mut SpanState>`) from the return value `$ret` (a reference): exit with the
/// value, or, for `Err`, drop with the error's text. `skip` leaves the value out.
#[doc(hidden)]
#[macro_export]
macro_rules! __instrument_finish {
    ($state:expr, $ret:expr, capture) => {{
        #[allow(unused_imports)]
        use $crate::__private::{SplitResult as _, SplitValue as _};
        match (&&$crate::__private::Probe($ret)).__instrument_split() {
            $crate::__private::Split::Ok(__instrument_ok) => {
                $state.exit(::core::option::Option::Some($crate::__instrument_capture!(
                    "return",
                    __instrument_ok
                )))
            }
            $crate::__private::Split::Err(__instrument_err) => {
                $state.fail($crate::__instrument_error_text!(__instrument_err))
            }
        }
    }};
    ($state:expr, $ret:expr, skip) => {{
        #[allow(unused_imports)]
        use $crate::__private::{SplitResult as _, SplitValue as _};
        match (&&$crate::__private::Probe($ret)).__instrument_split() {
            $crate::__private::Split::Ok(_) => $state.exit(::core::option::Option::None),
            $crate::__private::Split::Err(__instrument_err) => {
                $state.fail($crate::__instrument_error_text!(__instrument_err))
            }
        }
    }};
}

pub use crate::{
    __instrument_capture as capture, __instrument_capture_unless_secret as capture_unless_secret,
};
pub use crate::{__instrument_error_text as error_text, __instrument_finish as finish};
