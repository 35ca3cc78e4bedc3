//! `#[derive(Event)]`: parse the `#[event(...)]` options, check the type, then generate.

mod attr;
mod expand;

use proc_macro2::TokenStream;
use syn::{Data, DeriveInput};

use crate::ctxt::Ctxt;

pub fn derive(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let cx = Ctxt::new();
    let args = attr::parse(&cx, &input);
    // An event is serialised through serde_json, whose derive does not take unions.
    if let Data::Union(union) = &input.data {
        cx.error_spanned_by(
            union.union_token,
            "#[derive(Event)] applies to structs and enums, not to unions",
        );
    }
    match cx.check() {
        Ok(()) => expand::event(&input, &args),
        Err(errors) => {
            let mut out = errors.to_compile_error();
            out.extend(expand::fallback(&input, &args.krate()));
            out
        }
    }
}
