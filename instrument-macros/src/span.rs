//! `#[span]`: parse the options and the function, check them against each other, then generate.
//!
//! On any mistake the output is the errors plus the item exactly as written, so the user sees the
//! macro's errors and nothing that follows from a half-made expansion.

mod attr;
mod expand;
mod item;
mod valid;

use proc_macro2::TokenStream;

use crate::ctxt::Ctxt;
use crate::path;

pub fn expand(options: TokenStream, item: TokenStream) -> TokenStream {
    let cx = Ctxt::new();
    let args = attr::parse(&cx, options);
    let func = item::parse(&cx, item.clone());
    if let Some(func) = &func {
        valid::check(&cx, &args, func);
    }
    match (cx.check(), func) {
        (Ok(()), Some(func)) => {
            let krate = args.krate();
            let applied_again = func
                .attrs
                .iter()
                .any(|attr| path::is_span_attr(attr.path(), &krate));
            if applied_again {
                // Only the innermost `#[span]` instruments: one call, one span.
                item
            } else {
                expand::function(&args, &func)
            }
        }
        (Err(errors), _) => {
            let mut out = errors.to_compile_error();
            out.extend(item);
            out
        }
        (Ok(()), None) => unreachable!("item::parse reports every item it cannot parse"),
    }
}
