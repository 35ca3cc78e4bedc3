//! Errors: a macro reports every mistake it finds, not just the first.

use std::cell::RefCell;
use std::fmt::Display;
use std::thread;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::Token;
use syn::meta::ParseNestedMeta;

/// Collects errors while a macro parses and checks its input; [`Ctxt::check`] combines them into one
/// `syn::Error` that expands to one `compile_error!` per mistake.
///
/// Dropping a `Ctxt` without checking it is a bug in the macro, and panics.
pub struct Ctxt {
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    pub fn new() -> Self {
        Self {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// An error spanned on `tokens`, the user's offending tokens.
    pub fn error_spanned_by<T: ToTokens, M: Display>(&self, tokens: T, message: M) {
        self.syn_error(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    /// An error `syn` reported while parsing.
    pub fn syn_error(&self, error: syn::Error) {
        self.errors
            .borrow_mut()
            .as_mut()
            .expect("Ctxt used after check")
            .push(error);
    }

    /// All errors so far, combined, or `Ok` when there were none.
    pub fn check(self) -> syn::Result<()> {
        let errors = self.errors.borrow_mut().take().expect("Ctxt checked twice");
        let mut errors = errors.into_iter();
        let Some(mut combined) = errors.next() else {
            return Ok(());
        };
        for error in errors {
            combined.combine(error);
        }
        Err(combined)
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        assert!(
            thread::panicking() || self.errors.borrow().is_none(),
            "a Ctxt was dropped without being checked"
        );
    }
}

/// One option of an attribute: set at most once, a second setting is reported as a duplicate.
pub struct Attr<'c, T> {
    cx: &'c Ctxt,
    name: &'static str,
    value: Option<T>,
}

impl<'c, T> Attr<'c, T> {
    pub fn none(cx: &'c Ctxt, name: &'static str) -> Self {
        Self {
            cx,
            name,
            value: None,
        }
    }

    /// Sets the option, written as `tokens`; reports a duplicate on `tokens` if it was already set.
    pub fn set<A: ToTokens>(&mut self, tokens: A, value: T) {
        if self.value.is_some() {
            let tokens: TokenStream = tokens.into_token_stream();
            self.cx
                .error_spanned_by(tokens, format_args!("duplicate option `{}`", self.name));
        } else {
            self.value = Some(value);
        }
    }

    pub fn get(self) -> Option<T> {
        self.value
    }
}

/// Whether the next token ends this option (`,` or the end of the list).
pub fn at_option_end(meta: &ParseNestedMeta<'_>) -> bool {
    meta.input.is_empty() || meta.input.peek(Token![,])
}

/// Skips the rest of an option the macro does not understand, so that parsing goes on and later
/// mistakes are reported too.
pub fn skip_option(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    while !at_option_end(meta) {
        meta.input.parse::<proc_macro2::TokenTree>()?;
    }
    Ok(())
}
