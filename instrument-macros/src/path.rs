//! The `crate = ...` option: the path generated code uses to reach the `instrument` facade, for users
//! who re-export it under another name.

use syn::meta::ParseNestedMeta;
use syn::{LitStr, Path, parse_quote};

/// The option's name.
pub const CRATE: &str = "crate";

/// The facade, where users reach it unless told otherwise.
pub fn default() -> Path {
    parse_quote!(::instrument)
}

/// The value of `crate = "::path"` or `crate = ::path`.
pub fn parse_value(meta: &ParseNestedMeta<'_>) -> syn::Result<Path> {
    let input = meta.value()?;
    if input.peek(LitStr) {
        let text: LitStr = input.parse()?;
        text.parse_with(Path::parse_mod_style)
    } else {
        input.call(Path::parse_mod_style)
    }
}

/// Whether `path` names a `span` attribute: `span` itself, or `<krate>::span` where `<krate>` is the
/// facade or the configured crate path (compared by their first segment).
pub fn is_span_attr(path: &Path, krate: &Path) -> bool {
    let segments = &path.segments;
    let Some(last) = segments.last() else {
        return false;
    };
    if last.ident != "span" {
        return false;
    }
    if segments.len() == 1 {
        return path.leading_colon.is_none();
    }
    let first = &segments[0].ident;
    let krate_first = krate.segments.first().map(|s| &s.ident);
    first == "instrument" || krate_first == Some(first)
}
