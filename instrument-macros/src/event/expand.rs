//! The `Event` impl, inside a `const _` block that names the facade once.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{DeriveInput, LitStr, Path};

use super::attr::EventArgs;

pub fn event(input: &DeriveInput, args: &EventArgs) -> TokenStream {
    let class_name = args.name.clone().unwrap_or_else(|| {
        let ident = &input.ident;
        let text = ident.to_string();
        LitStr::new(text.strip_prefix("r#").unwrap_or(&text), ident.span())
    });
    let body = quote! {
        #[inline]
        fn class_name(&self) -> &'static str {
            #class_name
        }

        fn to_json(&self) -> ::core::result::Result<
            __instrument::__private::serde_json::Value,
            __instrument::__private::serde_json::Error,
        > {
            __instrument::__private::event_json(self)
        }
    };
    // A generic type is an event for the parameters that make it `Serialize + 'static`. A plain
    // type gets no such bound: a missing `Serialize` is then one error, at the derive, rather than
    // an impl that silently does not apply and an error at every use.
    let bound = if input.generics.params.is_empty() {
        None
    } else {
        Some(quote!(Self: __instrument::__private::serde::Serialize + 'static))
    };
    wrap(input, &args.krate(), bound, &body)
}

/// The impl that stands in when the input was rejected, so that uses of the type as an `Event`
/// report nothing more.
pub fn fallback(input: &DeriveInput, krate: &Path) -> TokenStream {
    let body = quote! {
        fn class_name(&self) -> &'static str {
            ::core::unreachable!()
        }

        fn to_json(&self) -> ::core::result::Result<
            __instrument::__private::serde_json::Value,
            __instrument::__private::serde_json::Error,
        > {
            ::core::unreachable!()
        }
    };
    wrap(input, krate, Some(quote!(Self: 'static)), &body)
}

fn wrap(
    input: &DeriveInput,
    krate: &Path,
    bound: Option<TokenStream>,
    body: &TokenStream,
) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut predicates: Vec<TokenStream> = where_clause
        .iter()
        .flat_map(|clause| clause.predicates.iter().map(ToTokens::to_token_stream))
        .collect();
    predicates.extend(bound);
    let where_clause = (!predicates.is_empty()).then(|| quote!(where #(#predicates),*));
    quote! {
        const _: () = {
            use #krate as __instrument;

            #[automatically_derived]
            impl #impl_generics __instrument::Event for #ident #ty_generics
            #where_clause
            {
                #body
            }
        };
    }
}
