//! The options of `#[span(...)]`, parsed into [`SpanArgs`]. Each option is checked for its own form
//! here; rules between options and the function live in `valid.rs`.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Expr, Ident, LitStr, Path};

use crate::ctxt::{Attr, Ctxt, at_option_end, skip_option};
use crate::option;
use crate::path::{self, CRATE};

pub const NAME: &str = "name";
pub const DISPATCHER: &str = "dispatcher";
pub const SKIP: &str = "skip";
pub const SKIP_ALL: &str = "skip_all";
pub const SKIP_RET: &str = "skip_ret";
pub const CAPTURE: &str = "capture";
pub const FIELDS: &str = "fields";
/// `tracing`'s, accepted for the habit: the return value and the error are recorded anyway.
pub const RET: &str = "ret";
pub const ERR: &str = "err";
/// `tracing`'s, refused with the reason: spans here have no level.
pub const LEVEL: &str = "level";

const OPTIONS: &str = "`name`, `dispatcher`, `skip(..)`, `skip_all`, `skip_ret`, `capture(..)`, \
     `fields(..)`, `ret`, `err`, `crate`";

/// What `#[span(...)]` said. Tokens are the user's own, so errors can point at them.
pub struct SpanArgs {
    pub name: Option<LitStr>,
    pub dispatcher: Option<Expr>,
    pub skip: Option<Names>,
    /// The `skip_all` token, when given.
    pub skip_all: Option<Path>,
    pub skip_ret: bool,
    pub capture: Option<Names>,
    /// `fields(key = value, ..)`: more named values for the span's start, after the arguments.
    pub fields: Vec<(Ident, Expr)>,
    pub krate: Option<Path>,
}

/// A list of argument names, as in `skip(a, b)`, and the option's own token.
pub struct Names {
    pub option: Path,
    pub names: Vec<Ident>,
}

impl Names {
    pub fn contains(&self, ident: &Ident) -> bool {
        self.names.iter().any(|name| name == ident)
    }
}

impl SpanArgs {
    /// The path generated code reaches the facade by.
    pub fn krate(&self) -> Path {
        self.krate.clone().unwrap_or_else(path::default)
    }
}

/// Parses the tokens inside `#[span(...)]`, reporting every malformed option to `cx`.
pub fn parse(cx: &Ctxt, tokens: TokenStream) -> SpanArgs {
    let mut name = Attr::none(cx, NAME);
    let mut dispatcher = Attr::none(cx, DISPATCHER);
    let mut skip = Attr::none(cx, SKIP);
    let mut skip_all = Attr::none(cx, SKIP_ALL);
    let mut skip_ret = Attr::none(cx, SKIP_RET);
    let mut capture = Attr::none(cx, CAPTURE);
    let mut fields = Attr::none(cx, FIELDS);
    let mut ret = Attr::none(cx, RET);
    let mut err = Attr::none(cx, ERR);
    let mut krate = Attr::none(cx, CRATE);

    let parser = syn::meta::parser(|meta| {
        let option = &meta.path;
        if option.is_ident(NAME) {
            let example = "the span name must be a string literal, as in `name = \"retrieve\"`";
            if let Some(text) = option::string_literal(cx, &meta, example)? {
                name.set(option, text);
            }
        } else if option.is_ident(DISPATCHER) {
            dispatcher.set(option, meta.value()?.parse::<Expr>()?);
        } else if option.is_ident(SKIP) {
            skip.set(option, parse_names(cx, &meta)?);
        } else if option.is_ident(CAPTURE) {
            capture.set(option, parse_names(cx, &meta)?);
        } else if option.is_ident(SKIP_ALL) {
            flag(cx, &meta)?;
            skip_all.set(option, option.clone());
        } else if option.is_ident(SKIP_RET) {
            flag(cx, &meta)?;
            skip_ret.set(option, ());
        } else if option.is_ident(FIELDS) {
            fields.set(option, parse_fields(cx, &meta)?);
        } else if option.is_ident(RET) {
            habit(&meta)?;
            ret.set(option, ());
        } else if option.is_ident(ERR) {
            habit(&meta)?;
            err.set(option, ());
        } else if option.is_ident(LEVEL) {
            cx.error_spanned_by(
                option,
                "#[span] has no `level`: a span is recorded wherever its dispatcher (or one above \
                 it) has a handler, and costs almost nothing elsewhere; choose what is recorded \
                 by where you add handlers (`dispatcher = \"..\"`, `set_propagate`)",
            );
            skip_option(&meta)?;
        } else if option.is_ident(CRATE) {
            krate.set(option, path::parse_value(&meta)?);
        } else {
            option::unknown(cx, &meta, "span", OPTIONS)?;
        }
        Ok(())
    });
    if let Err(error) = parser.parse2(tokens) {
        cx.syn_error(error);
    }

    SpanArgs {
        name: name.get(),
        dispatcher: dispatcher.get(),
        skip: skip.get(),
        skip_all: skip_all.get(),
        skip_ret: skip_ret.get().is_some(),
        capture: capture.get(),
        fields: fields.get().unwrap_or_default(),
        krate: krate.get(),
    }
}

/// `ret` or `err` as `tracing` writes them, with or without a format (`ret(Debug)`,
/// `err(Display)`): nothing to do, since spans record the return value (unless `skip_ret`) and the
/// error's text anyway, choosing `Serialize`, `Display` or `Debug` by what the type has.
fn habit(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if at_option_end(meta) {
        Ok(())
    } else {
        skip_option(meta)
    }
}

/// `fields(key = value, ..)`: each key a name (once), each value an expression, which may use the
/// arguments. `tracing`'s `%value` and `?value` are accepted: the value is recorded through
/// `Serialize`, else `Debug`, as arguments are.
fn parse_fields(cx: &Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<(Ident, Expr)>> {
    let mut fields: Vec<(Ident, Expr)> = Vec::new();
    meta.parse_nested_meta(|inner| {
        let Some(key) = inner.path.get_ident().cloned() else {
            cx.error_spanned_by(
                &inner.path,
                "expected a field name, as in `fields(user = id)`",
            );
            return skip_option(&inner);
        };
        if at_option_end(&inner) {
            cx.error_spanned_by(
                &key,
                format_args!(
                    "`{key}` needs a value here, as in `fields({key} = ..)`; to add a value \
                     later, call `instrument::current_span().record(\"{key}\", value)` in the body"
                ),
            );
            return Ok(());
        }
        let input = inner.value()?;
        // `tracing`'s sigils for Display and Debug: the probes choose by what the type has.
        if input.peek(syn::Token![%]) {
            input.parse::<syn::Token![%]>()?;
        } else if input.peek(syn::Token![?]) {
            input.parse::<syn::Token![?]>()?;
        }
        let value: Expr = input.parse()?;
        if fields.iter().any(|(name, _)| *name == key) {
            cx.error_spanned_by(&key, format_args!("field `{key}` is given twice"));
        } else {
            fields.push((key, value));
        }
        Ok(())
    })?;
    Ok(fields)
}

/// `skip(a, b)`: argument names, each at most once.
fn parse_names(cx: &Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<Names> {
    let mut names: Vec<Ident> = Vec::new();
    meta.parse_nested_meta(|inner| {
        match inner.path.get_ident() {
            Some(ident) if at_option_end(&inner) => {
                if names.contains(ident) {
                    cx.error_spanned_by(ident, format_args!("`{ident}` is listed twice"));
                } else {
                    names.push(ident.clone());
                }
            }
            _ => {
                cx.error_spanned_by(&inner.path, "expected an argument name");
                skip_option(&inner)?;
            }
        }
        Ok(())
    })?;
    Ok(Names {
        option: meta.path.clone(),
        names,
    })
}

/// An option that takes no value, such as `skip_all`.
fn flag(cx: &Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if !at_option_end(meta) {
        let option = &meta.path;
        cx.error_spanned_by(
            option,
            format_args!("`{}` takes no value", quote::quote!(#option)),
        );
        skip_option(meta)?;
    }
    Ok(())
}
