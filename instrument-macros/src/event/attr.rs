//! The options of `#[event(...)]` on a type deriving `Event`.

use syn::{DeriveInput, Expr, ExprLit, Lit, LitStr, Path};

use crate::ctxt::{Attr, Ctxt, skip_option};
use crate::path::{self, CRATE};

/// The helper attribute's name.
pub const EVENT: &str = "event";
pub const NAME: &str = "name";

const OPTIONS: &str = "`name`, `crate`";

pub struct EventArgs {
    /// The class name, when renamed.
    pub name: Option<LitStr>,
    pub krate: Option<Path>,
}

impl EventArgs {
    pub fn krate(&self) -> Path {
        self.krate.clone().unwrap_or_else(path::default)
    }
}

/// Reads every `#[event(...)]` on the type; an option set twice, in one attribute or across several,
/// is a duplicate.
pub fn parse(cx: &Ctxt, input: &DeriveInput) -> EventArgs {
    let mut name = Attr::none(cx, NAME);
    let mut krate = Attr::none(cx, CRATE);
    for attr in &input.attrs {
        if !attr.path().is_ident(EVENT) {
            continue;
        }
        let parsed = attr.parse_nested_meta(|meta| {
            let option = &meta.path;
            if option.is_ident(NAME) {
                match meta.value()?.parse::<Expr>()? {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(text),
                        ..
                    }) => name.set(option, text),
                    other => cx.error_spanned_by(
                        other,
                        "the event name must be a string literal, as in `name = \"CacheHit\"`",
                    ),
                }
            } else if option.is_ident(CRATE) {
                krate.set(option, path::parse_value(&meta)?);
            } else {
                cx.error_spanned_by(
                    option,
                    format_args!(
                        "unknown option `{}` of #[event]; expected one of {OPTIONS}",
                        quote::quote!(#option).to_string().replace(' ', "")
                    ),
                );
                skip_option(&meta)?;
            }
            Ok(())
        });
        if let Err(error) = parsed {
            cx.syn_error(error);
        }
    }
    EventArgs {
        name: name.get(),
        krate: krate.get(),
    }
}
