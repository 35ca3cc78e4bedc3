//! Option values that `#[span(...)]` and `#[event(...)]` read the same way.

use syn::meta::ParseNestedMeta;
use syn::{Expr, ExprLit, Lit, LitStr};

use crate::ctxt::{Ctxt, skip_option};

/// The value of `option = "text"`; anything but a string literal is an error on the value, which
/// `example` shows how to write.
pub fn string_literal(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    example: &str,
) -> syn::Result<Option<LitStr>> {
    match meta.value()?.parse::<Expr>()? {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) => Ok(Some(text)),
        other => {
            cx.error_spanned_by(other, example);
            Ok(None)
        }
    }
}

/// An option the attribute does not have: an error on it listing the ones it has, and its value
/// skipped so that parsing goes on to report later mistakes too.
pub fn unknown(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    attribute: &str,
    options: &str,
) -> syn::Result<()> {
    let option = &meta.path;
    cx.error_spanned_by(
        option,
        format_args!(
            "unknown option `{}` of #[{attribute}]; expected one of {options}",
            quote::quote!(#option).to_string().replace(' ', "")
        ),
    );
    skip_option(meta)
}
