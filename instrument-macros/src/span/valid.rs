//! Rules between the options of `#[span]` and the function they apply to. Each rule reports on the
//! user's token that breaks it.

use crate::ctxt::Ctxt;

use super::attr::{CAPTURE, SKIP, SKIP_ALL, SpanArgs};
use super::item::ItemFn;

pub fn check(cx: &Ctxt, args: &SpanArgs, func: &ItemFn) {
    const_fn(cx, func);
    names_exist(cx, args, func);
    skip_and_capture_disjoint(cx, args);
    skip_all_alone(cx, args);
}

/// A `const fn` cannot be instrumented: spans are recorded at run time, by code a `const fn` may not
/// call.
fn const_fn(cx: &Ctxt, func: &ItemFn) {
    if let Some(constness) = &func.sig.constness {
        cx.error_spanned_by(
            constness,
            "#[span] cannot instrument a `const fn`: spans are recorded at run time",
        );
    }
}

/// Every name in `skip(..)` and `capture(..)` is an argument the function binds.
fn names_exist(cx: &Ctxt, args: &SpanArgs, func: &ItemFn) {
    let bound = func.bindings();
    for (option, list) in [(SKIP, &args.skip), (CAPTURE, &args.capture)] {
        let Some(list) = list else { continue };
        for name in &list.names {
            // `skip(self)`, as `tracing` users write by habit: `self` is never captured anyway.
            if name == "self" && option == SKIP {
                continue;
            }
            if name == "self" {
                cx.error_spanned_by(
                    name,
                    format_args!("`self` is never captured, so it cannot be in `{option}(..)`"),
                );
            } else if !bound.contains(&name) {
                cx.error_spanned_by(
                    name,
                    format_args!(
                        "`{option}({name})` names no argument of `{}`",
                        func.sig.ident
                    ),
                );
            }
        }
    }
}

/// No argument is both skipped and captured: the two ask for opposite things.
fn skip_and_capture_disjoint(cx: &Ctxt, args: &SpanArgs) {
    let (Some(skip), Some(capture)) = (&args.skip, &args.capture) else {
        return;
    };
    for name in &capture.names {
        if skip.contains(name) {
            cx.error_spanned_by(
                name,
                format_args!("`{name}` is in both `{SKIP}(..)` and `{CAPTURE}(..)`; keep one"),
            );
        }
    }
}

/// `skip_all` already skips everything, so `skip(..)` beside it says nothing or is a mistake. (To
/// keep a few arguments under `skip_all`, list them in `capture(..)`.)
fn skip_all_alone(cx: &Ctxt, args: &SpanArgs) {
    if let (Some(_), Some(skip)) = (&args.skip_all, &args.skip) {
        cx.error_spanned_by(
            &skip.option,
            format_args!(
                "`{SKIP}(..)` cannot be used with `{SKIP_ALL}`, which skips every argument; \
                 to keep some arguments, list them in `{CAPTURE}(..)`"
            ),
        );
    }
}
