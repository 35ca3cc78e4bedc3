//! The options of `#[event(...)]` on a type deriving `Event`.

use syn::{DeriveInput, LitStr, Path};

use crate::ctxt::{Attr, Ctxt};
use crate::option;
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
                let example =
                    "the event name must be a string literal, as in `name = \"CacheHit\"`";
                if let Some(text) = option::string_literal(cx, &meta, example)? {
                    name.set(option, text);
                }
            } else if option.is_ident(CRATE) {
                krate.set(option, path::parse_value(&meta)?);
            } else {
                option::unknown(cx, &meta, EVENT, OPTIONS)?;
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
