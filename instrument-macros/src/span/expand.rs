//! Generates the instrumented function. The signature, attributes and body keep the user's tokens
//! and spans; every binding the expansion adds is prefixed `__instrument`.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::{Ident, LitStr, Path, ReturnType, Type};

use super::attr::SpanArgs;
use super::item::{self, ItemFn, Returns};

pub fn function(args: &SpanArgs, func: &ItemFn) -> TokenStream {
    let krate = args.krate();
    let body = &func.body;
    let output = &func.sig.output;
    let inner = if func.sig.asyncness.is_some() {
        async_fn(args, func, &krate, output, body)
    } else {
        match func.returns() {
            Returns::ImplFuture { output: value } => {
                let mode = Mode::of(args, value.is_some_and(item::is_unit));
                let start = start(args, func, &krate);
                let rest = impl_future(&krate, mode, output, body);
                quote!(#start #rest)
            }
            Returns::ImplStream => {
                let start = start(args, func, &krate);
                quote! {
                    #start
                    #krate::__private::InstrumentedStream::start(__instrument_state, move || #body)
                }
            }
            Returns::Never => {
                let start = start(args, func, &krate);
                let rest = never(output, body);
                quote!(#start #rest)
            }
            Returns::Unit => sync(args, func, &krate, Mode::of(args, true)),
            Returns::Value => sync(args, func, &krate, Mode::of(args, false)),
        }
    };

    let ItemFn {
        attrs,
        inner_attrs,
        vis,
        sig,
        ..
    } = func;
    let sig = if sig.asyncness.is_some() {
        future_signature(sig)
    } else {
        sig.clone()
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #[allow(unused_imports)]
            use #krate::__private::probes::*;
            #inner
        }
    }
}

/// A plain function. The body runs in a closure, so that its `return`s and `?`s end there and the
/// span sees them; the closure owns the arguments and reports them through the start hook before it
/// runs. With no handler listening the closure is called directly; otherwise the span's state lives
/// in `run_sync`'s frame, out of line, so that this function stays small and its idle path cheap.
fn sync(args: &SpanArgs, func: &ItemFn, krate: &Path, mode: Mode) -> TokenStream {
    let finish = finish(
        krate,
        mode,
        &quote!(__instrument_state),
        &quote!(__instrument_ret),
    );
    let callsite = callsite(args, func, krate);
    let instance = instance(func);
    let captures = captures(args, func, krate);
    let annotation = returned(&func.sig.output);
    let body = &func.body;
    quote! {
        #callsite
        let __instrument_body = move |__instrument_hook: ::core::option::Option<#krate::__private::StartHook<'_>>| #annotation {
            if let ::core::option::Option::Some(__instrument_hook) = __instrument_hook {
                __instrument_hook(&[#(#captures),*]);
            }
            #body
        };
        match __INSTRUMENT_CALLSITE.chain() {
            ::core::option::Option::None => ::core::convert::identity(__instrument_body)(::core::option::Option::None),
            ::core::option::Option::Some(__instrument_chain) => #krate::__private::run_sync(
                __instrument_chain,
                &__INSTRUMENT_CALLSITE,
                #instance,
                __instrument_body,
                |__instrument_state, __instrument_ret| #finish,
            ),
        }
    }
}

/// A function returning `!`: no value to record, and no code after the body.
fn never(output: &ReturnType, body: &TokenStream) -> TokenStream {
    let annotation = returned(output);
    quote! {
        let __instrument_body = move || #annotation #body;
        match __instrument_state {
            ::core::option::Option::None => ::core::convert::identity(__instrument_body)(),
            ::core::option::Option::Some(__instrument_state) => {
                ::core::pin::pin!(__instrument_state).as_mut().run(__instrument_body)
            }
        }
    }
}

/// An `async fn` becomes a function returning its future (see [`future_signature`]), so that the
/// span's parent is taken when the function is called, as it is for a function returning `impl
/// Future`: a future made inside a span and first polled after it ended, or on another thread, is
/// still its child. The span itself starts at the first poll, in the future, so that its state is
/// made in place there rather than moved in. Every argument moves into the future, so that each is
/// dropped when the future is, as an `async fn`'s; the body becomes an async block awaited inside
/// the span.
fn async_fn(
    args: &SpanArgs,
    func: &ItemFn,
    krate: &Path,
    output: &ReturnType,
    body: &TokenStream,
) -> TokenStream {
    let declared = match output {
        ReturnType::Default => None,
        ReturnType::Type(_, ty) => Some(&**ty).filter(|ty| !item::is_unit(ty)),
    };
    let mode = Mode::of(args, declared.is_none());
    let never = declared.and_then(typed_never);
    let instrumented = await_in_span(krate, mode);
    let callsite = callsite(args, func, krate);
    let instance = instance(func);
    let captures = captures(args, func, krate);
    let receiver = func.is_method().then(|| {
        let this = Ident::new("self", Span::call_site());
        quote!(let _ = &#this;)
    });
    let moved = func.bindings().into_iter().map(|ident| {
        let local = item::call_site(ident);
        quote!(let _ = &#local;)
    });
    quote! {
        #callsite
        let __instrument_parent = match __INSTRUMENT_CALLSITE.chain() {
            ::core::option::Option::None => ::core::option::Option::None,
            ::core::option::Option::Some(_) => #krate::__private::Parent::current(),
        };
        async move {
            #receiver
            #(#moved)*
            // The span state is written in place in this future, never moved.
            let mut __instrument_state = ::core::pin::pin!(#krate::__private::SpanPlace::empty());
            if let ::core::option::Option::Some(__instrument_chain) = __INSTRUMENT_CALLSITE.chain() {
                __instrument_state.as_mut().start_under(
                    __instrument_parent,
                    __instrument_chain,
                    __INSTRUMENT_CALLSITE.span_name(#instance),
                    __INSTRUMENT_CALLSITE.dispatcher_name(),
                    #instance,
                    &[#(#captures),*],
                );
            }
            let __instrument_fut = async move { #never #body };
            #instrumented
        }
    }
}

/// An `async fn`'s signature as a function returning its future: `async` dropped and
/// `-> impl Future<Output = T>`. The `impl` is spanned at the macro's own site, so that it
/// captures every lifetime and type parameter in scope, as the future of an `async fn` does, in a
/// crate of any edition.
fn future_signature(sig: &syn::Signature) -> syn::Signature {
    let mut sig = sig.clone();
    sig.asyncness = None;
    let output = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    let impl_token = syn::Token![impl](Span::mixed_site());
    sig.output = syn::parse_quote! {
        -> #impl_token ::core::future::Future<Output = #output>
    };
    sig
}

/// A function returning `impl Future`: the body runs at the call to make the future, and the
/// returned future awaits it inside the span.
fn impl_future(krate: &Path, mode: Mode, output: &ReturnType, body: &TokenStream) -> TokenStream {
    let annotation = returned(output);
    let instrumented = await_in_span(krate, mode);
    quote! {
        let __instrument_make = move || #annotation #body;
        let __instrument_fut = ::core::convert::identity(__instrument_make)();
        async move {
            let mut __instrument_state =
                ::core::pin::pin!(#krate::__private::SpanPlace::holding(__instrument_state));
            #instrumented
        }
    }
}

/// The call site static: the span's name and dispatcher, and the cached handler chain.
fn callsite(args: &SpanArgs, func: &ItemFn, krate: &Path) -> TokenStream {
    let (name, constructor) = if let Some(name) = &args.name {
        (name.clone(), quote!(new))
    } else {
        let ident = &func.sig.ident;
        let name = LitStr::new(&unraw(ident), ident.span());
        if func.is_method() {
            (name, quote!(method))
        } else {
            (name, quote!(new))
        }
    };
    let dispatcher = args
        .dispatcher
        .as_ref()
        .map_or_else(|| quote!(::core::module_path!()), ToTokens::to_token_stream);
    quote! {
        static __INSTRUMENT_CALLSITE: #krate::__private::Callsite =
            #krate::__private::Callsite::#constructor(#name, #dispatcher);
    }
}

/// For methods, the receiver's type name (it names the span `Type.method`); `None` otherwise.
fn instance(func: &ItemFn) -> TokenStream {
    if func.is_method() {
        quote!(::core::option::Option::Some(
            ::core::any::type_name::<Self>()
        ))
    } else {
        quote!(::core::option::Option::None)
    }
}

/// The call site static, and the span state: `None` when no handler listens.
fn start(args: &SpanArgs, func: &ItemFn, krate: &Path) -> TokenStream {
    let callsite = callsite(args, func, krate);
    let instance = instance(func);
    let captures = captures(args, func, krate);
    quote! {
        #callsite
        let __instrument_state = match __INSTRUMENT_CALLSITE.chain() {
            ::core::option::Option::None => ::core::option::Option::None,
            ::core::option::Option::Some(__instrument_chain) => #krate::__private::SpanState::start(
                __instrument_chain,
                __INSTRUMENT_CALLSITE.span_name(#instance),
                __INSTRUMENT_CALLSITE.dispatcher_name(),
                #instance,
                &[#(#captures),*],
            ),
        };
    }
}

/// One `Arg` per captured binding, in signature order: `capture(..)` ones never redacted, the others
/// redacted when the runtime says their name looks like a secret.
fn captures(args: &SpanArgs, func: &ItemFn, krate: &Path) -> Vec<TokenStream> {
    let listed = |list: &Option<super::attr::Names>, ident: &Ident| {
        list.as_ref().is_some_and(|list| list.contains(ident))
    };
    let redactable = |name: &LitStr, arg: TokenStream| {
        quote! {
            if const { #krate::__private::is_sensitive_name(#name) } {
                #krate::__private::Arg::redacted(#name)
            } else {
                #arg
            }
        }
    };
    // `fields(key = value)`: after the arguments, each value borrowed for the start only (so no
    // block around it: a temporary made there would not live until the span has started); one
    // named like a secret is withheld when read, as arguments are.
    let fields = args.fields.iter().map(|(key, value)| {
        let name = LitStr::new(&unraw(key), key.span());
        probe_arg(krate, &name, &quote!(&(#value)))
    });
    let mut captured: Vec<TokenStream> = func
        .bindings()
        .into_iter()
        .filter_map(|ident| {
            let name = LitStr::new(&ident.to_string(), Span::call_site());
            let local = item::call_site(ident);
            let value = quote!(&#local);
            let arg = probe_arg(krate, &name, &value);
            if listed(&args.capture, ident) {
                Some(quote!(#arg.never_redacted()))
            } else if args.skip_all.is_some() || listed(&args.skip, ident) {
                None
            } else {
                Some(redactable(&name, arg))
            }
        })
        .collect();
    captured.extend(fields);
    captured
}

/// Awaits `__instrument_fut` inside the span in `__instrument_state` (if any), then ends the span.
fn await_in_span(krate: &Path, mode: Mode) -> TokenStream {
    let finish = finish(
        krate,
        mode,
        &quote!(__instrument_state),
        &quote!(&__instrument_ret),
    );
    quote! {
        let __instrument_ret =
            #krate::__private::instrument(__instrument_state.as_mut(), __instrument_fut).await;
        if let ::core::option::Option::Some(__instrument_state) = __instrument_state.as_mut().span_state() {
            #finish;
        }
        __instrument_ret
    }
}

/// Whether the span's end records the return value.
#[derive(Clone, Copy)]
enum Mode {
    Capture,
    Skip,
}

impl Mode {
    /// `Skip` when there is no value worth recording (`skip_ret`, or a unit return).
    fn of(args: &SpanArgs, unit: bool) -> Self {
        if args.skip_ret || unit {
            Mode::Skip
        } else {
            Mode::Capture
        }
    }
}

/// The `Arg` for `value` (a reference) named `name`, through the probes the runtime provides; the
/// probe traits are in scope through the `use` at the top of the function.
fn probe_arg(krate: &Path, name: &LitStr, value: &TokenStream) -> TokenStream {
    quote!((&&&&#krate::__private::Probe(#value)).__instrument_arg(#name))
}

/// Ends `state` (a `Pin<&mut SpanState>`) from `ret` (a reference to the return value): exit with
/// the value (the `Ok` value of a `Result`), or drop with the error's text for `Err`.
fn finish(krate: &Path, mode: Mode, state: &TokenStream, ret: &TokenStream) -> TokenStream {
    let ok = match mode {
        Mode::Capture => {
            let name = LitStr::new("return", Span::call_site());
            let arg = probe_arg(krate, &name, &quote!(__instrument_ok));
            quote!(::core::option::Option::Some(#arg))
        }
        Mode::Skip => quote!(::core::option::Option::None),
    };
    quote! {
        match (&&#krate::__private::Probe(#ret)).__instrument_split() {
            #krate::__private::Split::Ok(__instrument_ok) => #state.exit(#ok),
            #krate::__private::Split::Err(__instrument_err) => {
                #state.fail((&&&#krate::__private::Probe(__instrument_err)).__instrument_error())
            }
        }
    }
}

/// `-> R` for the closure holding the body, so that `?` and `.into()` inside it know their target;
/// `impl Trait` parts become `_`.
fn returned(output: &ReturnType) -> Option<TokenStream> {
    let ReturnType::Type(arrow, ty) = output else {
        return None;
    };
    let ty = item::nameable(ty)?;
    Some(quote!(#arrow #ty))
}

/// Fixes an async block's output type to the declared return type with an unreachable typed return,
/// so that `?` inside the body knows what to convert to.
fn typed_never(declared: &Type) -> Option<TokenStream> {
    let ty = item::nameable(declared)?;
    Some(quote! {
        #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::empty_loop)]
        if false {
            let __instrument_never: #ty = loop {};
            return __instrument_never;
        }
    })
}

fn unraw(ident: &Ident) -> String {
    let text = ident.to_string();
    text.strip_prefix("r#").map_or(text.clone(), str::to_owned)
}
