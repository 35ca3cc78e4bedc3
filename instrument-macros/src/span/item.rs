//! The function under `#[span]`: parsed precisely when its body parses, else with the body kept as
//! raw tokens so that rustc, not the macro, reports what is wrong inside it. Also the small queries
//! the expansion asks of the signature.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::visit_mut::VisitMut;
use syn::{
    AttrStyle, Attribute, FnArg, GenericArgument, Ident, Item, Pat, PathArguments, ReturnType,
    Signature, Type, TypeParamBound, Visibility,
};

use crate::ctxt::Ctxt;

/// A function item: `attrs vis sig { body }`.
pub struct ItemFn {
    pub attrs: Vec<Attribute>,
    /// `#![...]` attributes from the top of the body; they move to the top of the new body.
    pub inner_attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub sig: Signature,
    /// The body with its braces, as written.
    pub body: TokenStream,
}

/// Parses the item under `#[span]`, reporting to `cx` when it is not a function.
pub fn parse(cx: &Ctxt, item: TokenStream) -> Option<ItemFn> {
    if let Ok(func) = syn::parse2::<syn::ItemFn>(item.clone()) {
        let (inner_attrs, attrs) = func
            .attrs
            .into_iter()
            .partition(|attr| matches!(attr.style, AttrStyle::Inner(_)));
        return Some(ItemFn {
            attrs,
            inner_attrs,
            vis: func.vis,
            sig: func.sig,
            body: generated_braces(func.block.into_token_stream()),
        });
    }
    if let Ok(Speculative(func)) = syn::parse2(item.clone()) {
        return Some(func);
    }
    not_a_function(cx, item);
    None
}

/// A function whose body does not parse: the body stays raw tokens.
struct Speculative(ItemFn);

impl Parse for Speculative {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let body: Group = input.parse()?;
        if body.delimiter() != Delimiter::Brace {
            return Err(syn::Error::new(body.span(), "expected a function body"));
        }
        Ok(Self(ItemFn {
            attrs,
            inner_attrs: Vec::new(),
            vis,
            sig,
            body: generated_braces(body.into_token_stream()),
        }))
    }
}

/// The body's braces, marked as the expansion's own while keeping where they are written: the
/// body becomes the tail of a block the expansion makes, and rustc's `unused_braces` (which skips
/// macro-made braces) would otherwise ask to remove them from a single-expression body, a fix that
/// `cargo fix` would apply to the source and break it.
fn generated_braces(body: TokenStream) -> TokenStream {
    body.into_iter()
        .map(|tree| match tree {
            TokenTree::Group(group) if group.delimiter() == Delimiter::Brace => {
                let mut braces = Group::new(Delimiter::Brace, group.stream());
                braces.set_span(group.span().resolved_at(Span::mixed_site()));
                TokenTree::Group(braces)
            }
            other => other,
        })
        .collect()
}

/// A function declaration without a body, as in a trait: `attrs vis sig;`.
struct Declaration(Signature);

impl Parse for Declaration {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        input.call(Attribute::parse_outer)?;
        input.parse::<Visibility>()?;
        let sig = input.parse()?;
        input.parse::<syn::Token![;]>()?;
        Ok(Self(sig))
    }
}

/// Reports `#[span]` on something that is not a function, on the item's keyword and name.
fn not_a_function(cx: &Ctxt, item: TokenStream) {
    if let Ok(Declaration(sig)) = syn::parse2(item.clone()) {
        cx.error_spanned_by(
            head(&sig.fn_token, &sig.ident),
            "#[span] needs a function body to instrument; put it on the implementations instead",
        );
        return;
    }
    let Ok(parsed) = syn::parse2::<Item>(item.clone()) else {
        cx.error_spanned_by(item, "#[span] applies to functions and methods");
        return;
    };
    let (head, what) = match &parsed {
        Item::Const(x) => (head(&x.const_token, &x.ident), "a const"),
        Item::Enum(x) => (head(&x.enum_token, &x.ident), "an enum"),
        Item::ExternCrate(x) => (x.extern_token.into_token_stream(), "an extern crate"),
        Item::ForeignMod(x) => (x.abi.to_token_stream(), "an extern block"),
        Item::Impl(x) => (x.impl_token.into_token_stream(), "an impl block"),
        Item::Macro(x) => (x.mac.path.to_token_stream(), "a macro invocation"),
        Item::Mod(x) => (head(&x.mod_token, &x.ident), "a module"),
        Item::Static(x) => (head(&x.static_token, &x.ident), "a static"),
        Item::Struct(x) => (head(&x.struct_token, &x.ident), "a struct"),
        Item::Trait(x) => (head(&x.trait_token, &x.ident), "a trait"),
        Item::TraitAlias(x) => (head(&x.trait_token, &x.ident), "a trait alias"),
        Item::Type(x) => (head(&x.type_token, &x.ident), "a type alias"),
        Item::Union(x) => (head(&x.union_token, &x.ident), "a union"),
        Item::Use(x) => (x.use_token.into_token_stream(), "a use declaration"),
        _ => (item, "this item"),
    };
    cx.error_spanned_by(
        head,
        format_args!("#[span] applies to functions and methods, not to {what}"),
    );
}

fn head(keyword: &impl ToTokens, name: &impl ToTokens) -> TokenStream {
    let mut tokens = keyword.to_token_stream();
    name.to_tokens(&mut tokens);
    tokens
}

/// What a function returns, as far as the expansion cares.
pub enum Returns<'a> {
    /// Nothing, or `()`.
    Unit,
    /// `impl ...Future<Output = T>`: `output` is `T` when written.
    ImplFuture { output: Option<&'a Type> },
    /// `impl ...Stream<...>`.
    ImplStream,
    /// `!`.
    Never,
    /// Any other type.
    Value,
}

impl ItemFn {
    pub fn returns(&self) -> Returns<'_> {
        let ReturnType::Type(_, ty) = &self.sig.output else {
            return Returns::Unit;
        };
        classify(ty)
    }

    /// Whether the function takes `self` in any form.
    pub fn is_method(&self) -> bool {
        self.sig.receiver().is_some()
    }

    /// The identifiers bound by the arguments, `self` excluded, in signature order.
    pub fn bindings(&self) -> Vec<&Ident> {
        let mut out = Vec::new();
        for arg in &self.sig.inputs {
            if let FnArg::Typed(arg) = arg {
                bindings_of(&arg.pat, &mut out);
            }
        }
        out
    }
}

fn classify(ty: &Type) -> Returns<'_> {
    match ty {
        Type::Paren(inner) => classify(&inner.elem),
        Type::Group(inner) => classify(&inner.elem),
        Type::Tuple(tuple) if tuple.elems.is_empty() => Returns::Unit,
        Type::Never(_) => Returns::Never,
        Type::ImplTrait(bounds) => {
            for bound in &bounds.bounds {
                let TypeParamBound::Trait(bound) = bound else {
                    continue;
                };
                let Some(last) = bound.path.segments.last() else {
                    continue;
                };
                if last.ident == "Future" {
                    return Returns::ImplFuture {
                        output: associated(&last.arguments, "Output"),
                    };
                }
                if last.ident == "Stream" {
                    return Returns::ImplStream;
                }
            }
            Returns::Value
        }
        _ => Returns::Value,
    }
}

/// `T` in `Trait<Name = T>`.
fn associated<'a>(arguments: &'a PathArguments, name: &str) -> Option<&'a Type> {
    let PathArguments::AngleBracketed(arguments) = arguments else {
        return None;
    };
    arguments.args.iter().find_map(|arg| match arg {
        GenericArgument::AssocType(assoc) if assoc.ident == name => Some(&assoc.ty),
        _ => None,
    })
}

/// Whether `ty` is `()`.
pub fn is_unit(ty: &Type) -> bool {
    match ty {
        Type::Paren(inner) => is_unit(&inner.elem),
        Type::Group(inner) => is_unit(&inner.elem),
        Type::Tuple(tuple) => tuple.elems.is_empty(),
        _ => false,
    }
}

fn bindings_of<'a>(pat: &'a Pat, out: &mut Vec<&'a Ident>) {
    match pat {
        Pat::Ident(binding) => {
            if binding.ident != "self" {
                out.push(&binding.ident);
            }
            if let Some((_, sub)) = &binding.subpat {
                bindings_of(sub, out);
            }
        }
        Pat::Paren(inner) => bindings_of(&inner.pat, out),
        Pat::Reference(inner) => bindings_of(&inner.pat, out),
        Pat::Type(inner) => bindings_of(&inner.pat, out),
        Pat::Tuple(tuple) => tuple.elems.iter().for_each(|p| bindings_of(p, out)),
        Pat::TupleStruct(tuple) => tuple.elems.iter().for_each(|p| bindings_of(p, out)),
        Pat::Slice(slice) => slice.elems.iter().for_each(|p| bindings_of(p, out)),
        Pat::Struct(fields) => fields.fields.iter().for_each(|f| bindings_of(&f.pat, out)),
        Pat::Or(or) => {
            if let Some(first) = or.cases.first() {
                bindings_of(first, out);
            }
        }
        _ => {}
    }
}

/// `ty` with every `impl Trait` replaced by `_`, for a closure's or a `let`'s type, where `impl` may
/// not appear but `_` may. `None` when nothing would be left to annotate.
pub fn nameable(ty: &Type) -> Option<Type> {
    struct InferImpl;
    impl VisitMut for InferImpl {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(bounds) = ty {
                let underscore = syn::Token![_](bounds.impl_token.span);
                *ty = Type::Infer(syn::TypeInfer {
                    underscore_token: underscore,
                });
            } else {
                syn::visit_mut::visit_type_mut(self, ty);
            }
        }
    }
    let mut ty = ty.clone();
    InferImpl.visit_type_mut(&mut ty);
    (!matches!(ty, Type::Infer(_))).then_some(ty)
}

/// The span of generated tokens that refer to the user's names.
pub fn call_site(ident: &Ident) -> Ident {
    let mut ident = ident.clone();
    ident.set_span(Span::call_site());
    ident
}
