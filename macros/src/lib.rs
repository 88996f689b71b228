//! specjet's proc macros, re-exported by the `specjet` runtime crate.
//!
//! - [`include_api!`](macro@include_api) expands, at compile time, the same module that
//!   `specjet generate` writes, and makes cargo rebuild when the spec changes.
//! - [`api`](macro@api) checks an `impl Api for ...` block against the spec: an operation the
//!   spec does not have, a missing one, or a method whose request or response type is not the
//!   operation's is a compile error on the user's code — all of them at once. On its methods,
//!   `#[cache(ttl = "30s", stale_while_revalidate = "10s", scope = "private", vary = [..])]`
//!   and `#[no_cache]` set the operation's caching in code;
//!   `#[rate_limit("10/s", key = "ip", burst = 20, cost = 1)]`, `#[rate_limit(policy = "name")]`
//!   and `#[no_rate_limit]` its rate limit; `#[no_compress]` turns compression off for it.
//!   Code wins over the spec.
//!
//! Every problem of the spec itself is a compile error on the macro's argument, with the text
//! `specjet validate` prints.

use std::path::{Path, PathBuf};

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{parse_macro_input, ImplItem, ItemImpl, LitStr};

/// `specjet::include_api!("openapi.yaml")`: the generated API module for a spec, the path
/// relative to the crate's `Cargo.toml`.
///
/// ```ignore
/// mod api {
///     specjet::include_api!("openapi.yaml");
/// }
/// ```
#[proc_macro]
pub fn include_api(input: TokenStream) -> TokenStream {
    let literal = parse_macro_input!(input as LitStr);
    match expand_include(&literal) {
        Ok(tokens) | Err(tokens) => tokens.into(),
    }
}

/// `#[specjet::api("openapi.yaml")]` on `impl Api for MyService { ... }`: checks at compile
/// time that every operation of the spec is implemented, no other method is, and each takes
/// the operation's `Request` and returns its `Response`.
#[proc_macro_attribute]
pub fn api(args: TokenStream, item: TokenStream) -> TokenStream {
    let literal = parse_macro_input!(args as LitStr);
    let mut implementation = parse_macro_input!(item as ItemImpl);
    // Policy attributes are ours to read and remove: they are not attributes rustc knows.
    let attributes = take_policy_attributes(&mut implementation);
    let checks = match load(&literal) {
        Ok(analysis) => {
            let mut checks = check_impl(&analysis.api, &implementation);
            match policy_overrides(&analysis.api, attributes) {
                Ok(methods) => implementation.items.extend(methods),
                Err(errors) => checks.extend(errors),
            }
            checks
        }
        Err(errors) => errors,
    };
    quote! {
        #checks
        #implementation
    }
    .into()
}

/// The handler attributes that set an operation's policies in code.
const POLICY_ATTRIBUTES: [&str; 5] = [
    "cache",
    "no_cache",
    "rate_limit",
    "no_rate_limit",
    "no_compress",
];

/// A handler's policy attribute, e.g. `#[cache(ttl = "30s")]` or `#[no_compress]`.
struct PolicyAttribute {
    method: String,
    attribute: syn::Attribute,
}

impl PolicyAttribute {
    fn is(&self, name: &str) -> bool {
        self.attribute.path().is_ident(name)
    }
}

fn take_policy_attributes(implementation: &mut ItemImpl) -> Vec<PolicyAttribute> {
    let mut found = Vec::new();
    for item in &mut implementation.items {
        if let ImplItem::Fn(method) = item {
            let name = method.sig.ident.to_string();
            method.attrs.retain(|attribute| {
                let ours = POLICY_ATTRIBUTES
                    .iter()
                    .any(|known| attribute.path().is_ident(known));
                if ours {
                    found.push(PolicyAttribute {
                        method: name.clone(),
                        attribute: attribute.clone(),
                    });
                }
                !ours
            });
        }
    }
    found
}

/// The provided `Api` methods the handlers' policy attributes override
/// (`cache_override`, `rate_limit_override`, `compress_override`), or the errors of those
/// attributes, all of them.
fn policy_overrides(
    api: &specjet_generator::ir::Api,
    attributes: Vec<PolicyAttribute>,
) -> Result<Vec<ImplItem>, TokenStream2> {
    use specjet_generator::ir::Method;
    let mut errors = Vec::new();
    let mut cache_arms = Vec::new();
    let mut limit_arms = Vec::new();
    let mut compress_arms = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for attribute in attributes {
        let Some(op) = api.operations.iter().find(|op| op.name == attribute.method) else {
            continue; // reported by the signature check
        };
        let id = &op.id;
        let spanned = &attribute.attribute;
        let concern = match spanned.path().get_ident().map(|i| i.to_string()).as_deref() {
            Some("cache" | "no_cache") => "caching",
            Some("rate_limit" | "no_rate_limit") => "rate limit",
            _ => "compression",
        };
        if !seen.insert((attribute.method.clone(), concern)) {
            errors.push(syn::Error::new_spanned(
                spanned,
                format!("`{}` already has its {concern} set; one attribute per concern (several rates go in one `#[rate_limit]`)", attribute.method),
            ));
            continue;
        }
        if attribute.is("no_compress") {
            match &spanned.meta {
                syn::Meta::Path(_) => {
                    compress_arms.push(quote! { #id => ::std::option::Option::Some(false), })
                }
                _ => errors.push(syn::Error::new_spanned(
                    spanned,
                    "`#[no_compress]` takes no arguments",
                )),
            }
            continue;
        }
        if attribute.is("no_rate_limit") {
            match &spanned.meta {
                syn::Meta::Path(_) => limit_arms
                    .push(quote! { #id => ::specjet::rate_limit::PolicyOverride::Disabled, }),
                _ => errors.push(syn::Error::new_spanned(
                    spanned,
                    "`#[no_rate_limit]` takes no arguments",
                )),
            }
            continue;
        }
        if attribute.is("rate_limit") {
            match parse_rate_limit(api, op, spanned) {
                Ok(policy) => limit_arms.push(
                    quote! { #id => ::specjet::rate_limit::PolicyOverride::Policy(#policy), },
                ),
                Err(error) => errors.push(error),
            }
            continue;
        }
        // `cache` and `no_cache`.
        if !matches!(op.method, Method::Get | Method::Head) {
            errors.push(syn::Error::new_spanned(
                spanned,
                format!(
                    "only GET and HEAD responses are cached; `{}` is {}",
                    op.id,
                    op.method.as_str().to_uppercase()
                ),
            ));
            continue;
        }
        if op.cache.is_none() && !api.settings.opted_in {
            errors.push(syn::Error::new_spanned(
                spanned,
                format!("caching `{}` from code needs the spec to opt in with a root `x-specjet` key (or a cache annotation on the operation)", op.id),
            ));
            continue;
        }
        if attribute.is("no_cache") {
            cache_arms.push(quote! { #id => ::specjet::cache::PolicyOverride::Disabled, });
            continue;
        }
        match parse_cache(spanned) {
            Ok(policy) => cache_arms
                .push(quote! { #id => ::specjet::cache::PolicyOverride::Policy(#policy), }),
            Err(error) => errors.push(error),
        }
    }
    if !errors.is_empty() {
        let errors = errors.into_iter().map(|e| e.to_compile_error());
        return Err(quote! { #(#errors)* });
    }
    let mut methods: Vec<ImplItem> = Vec::new();
    if !cache_arms.is_empty() {
        methods.push(syn::parse_quote! {
            fn cache_override(operation: &str) -> ::specjet::cache::PolicyOverride {
                match operation {
                    #(#cache_arms)*
                    _ => ::specjet::cache::PolicyOverride::Spec,
                }
            }
        });
    }
    if !limit_arms.is_empty() {
        methods.push(syn::parse_quote! {
            fn rate_limit_override(operation: &str) -> ::specjet::rate_limit::PolicyOverride {
                match operation {
                    #(#limit_arms)*
                    _ => ::specjet::rate_limit::PolicyOverride::Spec,
                }
            }
        });
    }
    if !compress_arms.is_empty() {
        methods.push(syn::parse_quote! {
            fn compress_override(operation: &str) -> ::std::option::Option<bool> {
                match operation {
                    #(#compress_arms)*
                    _ => ::std::option::Option::None,
                }
            }
        });
    }
    Ok(methods)
}

/// One argument of `#[rate_limit(...)]`: a rate, or `name = value`.
enum LimitArg {
    Rate(LitStr),
    Named(syn::Ident, syn::Expr),
}

impl syn::parse::Parse for LimitArg {
    fn parse(input: syn::parse::ParseStream) -> syn::Result<Self> {
        if input.peek(LitStr) {
            return Ok(LimitArg::Rate(input.parse()?));
        }
        // `use` is a keyword; `policy = "..."` names a root policy.
        let name: syn::Ident = input.parse()?;
        input.parse::<syn::Token![=]>()?;
        Ok(LimitArg::Named(name, input.parse()?))
    }
}

/// `#[rate_limit("100/min", "10/s", key = "principal", burst = 20, cost = 2)]` or
/// `#[rate_limit(policy = "standard")]` as a `RateLimitPolicy` expression; the vocabulary
/// and syntax of the spec's `x-rate-limit`.
fn parse_rate_limit(
    api: &specjet_generator::ir::Api,
    op: &specjet_generator::ir::Operation,
    attribute: &syn::Attribute,
) -> syn::Result<TokenStream2> {
    use specjet_generator::ir::{ParamLocation, RateKey, RateLimitPolicy};
    use specjet_generator::lower::annotations::{check_cost, parse_key, parse_rate};
    let args = attribute.parse_args_with(
        syn::punctuated::Punctuated::<LimitArg, syn::Token![,]>::parse_terminated,
    )?;
    let string = |expr: &syn::Expr| -> syn::Result<LitStr> {
        match expr {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(text),
                ..
            }) => Ok(text.clone()),
            other => Err(syn::Error::new_spanned(other, "expected a string")),
        }
    };
    let number = |expr: &syn::Expr, what: &str| -> syn::Result<u32> {
        match expr {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(n),
                ..
            }) => match n.base10_parse::<u32>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(syn::Error::new(
                    n.span(),
                    format!("`{what}` is a whole number, at least 1"),
                )),
            },
            other => Err(syn::Error::new_spanned(
                other,
                format!("`{what}` is a whole number, at least 1"),
            )),
        }
    };
    let mut policy = RateLimitPolicy {
        name: op.id.clone(),
        windows: Vec::new(),
        key: Vec::new(),
        cost: 1,
    };
    let mut burst = None;
    let mut named = None;
    for arg in args {
        match arg {
            LimitArg::Rate(rate) => policy
                .windows
                .push(parse_rate(&rate.value()).map_err(|message| syn::Error::new(rate.span(), message))?),
            LimitArg::Named(name, value) => match name.to_string().as_str() {
                "key" => {
                    let sources: Vec<LitStr> = match &value {
                        syn::Expr::Array(list) => list.elems.iter().map(string).collect::<syn::Result<_>>()?,
                        other => vec![string(other)?],
                    };
                    for source in sources {
                        let parsed = parse_key(&specjet_generator::serde_json::Value::String(source.value()))
                            .map_err(|message| syn::Error::new(source.span(), message))?;
                        for key in &parsed {
                            if let RateKey::Path(param) = key {
                                let known = op.params.iter().any(|p| p.location == ParamLocation::Path && &p.wire == param);
                                if !known {
                                    return Err(syn::Error::new(source.span(), format!("`{}` has no path parameter `{param}`", op.id)));
                                }
                            }
                        }
                        policy.key.extend(parsed);
                    }
                }
                "burst" => burst = Some((number(&value, "burst")?, value)),
                "cost" => policy.cost = number(&value, "cost")?,
                "policy" => {
                    let literal = string(&value)?;
                    let found = api.settings.rate_limit.policies.get(&literal.value()).ok_or_else(|| {
                        let known: Vec<&str> = api.settings.rate_limit.policies.keys().map(String::as_str).collect();
                        syn::Error::new(literal.span(), format!(
                            "no rate-limit policy `{}` in the spec's `x-specjet.rate-limit.policies` (known: {})",
                            literal.value(),
                            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                        ))
                    })?;
                    named = Some(found.clone());
                }
                _ => return Err(syn::Error::new(name.span(), "unknown rate_limit argument; expected a rate such as \"10/s\", `key`, `burst`, `cost` or `policy`")),
            },
        }
    }
    if let Some(named) = named {
        if !policy.windows.is_empty() || !policy.key.is_empty() || burst.is_some() {
            return Err(syn::Error::new_spanned(attribute, "`policy` takes its rates, key and burst from the spec; only `cost` can be set beside it"));
        }
        policy = RateLimitPolicy {
            cost: policy.cost,
            ..named
        };
    }
    if policy.windows.is_empty() {
        return Err(syn::Error::new_spanned(
            attribute,
            "`#[rate_limit]` needs a rate, e.g. `#[rate_limit(\"10/s\")]`, or `policy = \"name\"`",
        ));
    }
    if let Some((burst, value)) = burst {
        let [window] = policy.windows.as_mut_slice() else {
            return Err(syn::Error::new_spanned(
                value,
                "`burst` applies to a single rate",
            ));
        };
        window.burst = burst;
    }
    check_cost(&policy).map_err(|message| syn::Error::new_spanned(attribute, message))?;
    // The same policy literal the generated router writes for the spec's `x-rate-limit`.
    Ok(specjet_generator::codegen::server::rate_limit_tokens(
        &policy,
    ))
}

/// `#[cache(ttl = "30s", stale_while_revalidate = "10s", scope = "private", vary = ["accept-language"])]`
/// as a `CachePolicy` expression; the vocabulary and syntax of the spec's `x-cache`.
fn parse_cache(attribute: &syn::Attribute) -> syn::Result<TokenStream2> {
    use specjet_generator::ir::CacheScope;
    use specjet_generator::lower::annotations::parse_duration;
    let duration = |literal: &LitStr| {
        parse_duration(&specjet_generator::serde_json::Value::String(
            literal.value(),
        ))
        .map_err(|message| syn::Error::new(literal.span(), message))
    };
    let mut ttl = None;
    let mut swr = 0u64;
    let mut scope = None;
    let mut vary: Vec<String> = Vec::new();
    attribute.parse_nested_meta(|meta| {
        if meta.path.is_ident("ttl") {
            ttl = Some(duration(&meta.value()?.parse()?)?);
        } else if meta.path.is_ident("stale_while_revalidate") {
            swr = duration(&meta.value()?.parse()?)?;
        } else if meta.path.is_ident("scope") {
            let literal: LitStr = meta.value()?.parse()?;
            scope = match literal.value().as_str() {
                "public" => Some(CacheScope::Public),
                "private" => Some(CacheScope::Private),
                _ => return Err(syn::Error::new(literal.span(), "`scope` is \"public\" or \"private\"")),
            };
        } else if meta.path.is_ident("vary") {
            let list: syn::ExprArray = meta.value()?.parse()?;
            for element in list.elems {
                match element {
                    syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(name), .. }) => vary.push(name.value().to_ascii_lowercase()),
                    other => return Err(syn::Error::new(other.span(), "`vary` lists header names as strings")),
                }
            }
        } else {
            return Err(meta.error("unknown cache argument; expected `ttl`, `stale_while_revalidate`, `scope` or `vary`"));
        }
        Ok(())
    })?;
    let ttl = ttl.ok_or_else(|| {
        syn::Error::new_spanned(
            attribute,
            "`#[cache]` needs a `ttl`, e.g. `#[cache(ttl = \"30s\")]`",
        )
    })?;
    // The same policy literal the generated router writes for the spec's `x-cache`.
    Ok(specjet_generator::codegen::server::policy_tokens(
        &specjet_generator::ir::CachePolicy {
            ttl_ms: ttl,
            stale_while_revalidate_ms: swr,
            scope,
            vary,
            statuses: vec![200, 203, 204],
        },
    ))
}

/// The spec's path: relative to the crate's manifest directory, or else to the directory of
/// the file that invokes the macro.
fn spec_path(literal: &LitStr) -> PathBuf {
    let relative = literal.value();
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_default();
    let from_manifest = manifest.join(&relative);
    if from_manifest.exists() {
        return from_manifest;
    }
    proc_macro::Span::call_site()
        .local_file()
        .and_then(|file| Some(file.parent()?.join(&relative)))
        .filter(|path| path.exists())
        .unwrap_or(from_manifest)
}

/// Diagnostics as compile errors on the macro argument, one per problem.
fn errors_at(literal: &LitStr, diagnostics: &specjet_generator::diag::Diagnostics) -> TokenStream2 {
    let messages = diagnostics
        .items()
        .iter()
        .filter(|d| d.severity != specjet_generator::diag::Severity::Warning)
        .map(|d| shorten(&d.to_string()));
    let errors =
        messages.map(|message| quote_spanned! {literal.span()=> ::core::compile_error!(#message);});
    quote! { #(#errors)* }
}

/// Diagnostics name files by their full path; inside a crate its file name is enough.
fn shorten(message: &str) -> String {
    // The compiler says `error:` itself.
    let Some(rest) = message.strip_prefix("error: ") else {
        return message.to_owned();
    };
    let (file, tail) = rest.split_at(rest.find([':', ' ']).unwrap_or(rest.len()));
    let name = Path::new(file)
        .file_name()
        .map_or(file.into(), |n| n.to_string_lossy());
    format!("{name}{tail}")
}

fn load(literal: &LitStr) -> Result<specjet_generator::Analysis, TokenStream2> {
    let path = spec_path(literal);
    let analysis = specjet_generator::analyze(&path)
        .map_err(|diagnostics| errors_at(literal, &diagnostics))?;
    if analysis.diagnostics.has_errors() {
        return Err(errors_at(literal, &analysis.diagnostics));
    }
    Ok(analysis)
}

fn expand_include(literal: &LitStr) -> Result<TokenStream2, TokenStream2> {
    let path = spec_path(literal);
    let analysis = load(literal)?;
    let code = specjet_generator::emit::render_inline(
        &analysis.api,
        &specjet_generator::spec_label(&path),
    )
    .map_err(|message| quote_spanned! {literal.span()=> ::core::compile_error!(#message);})?;
    let tokens: TokenStream2 = code
        .parse()
        .map_err(|_| quote_spanned! {literal.span()=> ::core::compile_error!("internal error: the generated code does not parse");})?;
    // Every file of the spec is read through `include_bytes!`, so cargo rebuilds on change.
    let tracked = analysis.spec.docs.iter().map(|doc| {
        let file = doc
            .path
            .canonicalize()
            .unwrap_or_else(|_| doc.path.clone())
            .display()
            .to_string();
        quote! { const _: &[u8] = ::core::include_bytes!(#file); }
    });
    Ok(quote! {
        #(#tracked)*
        #tokens
    })
}

/// The compile errors of an `impl Api` block checked against the spec.
fn check_impl(api: &specjet_generator::ir::Api, implementation: &ItemImpl) -> TokenStream2 {
    let mut errors: Vec<syn::Error> = Vec::new();
    let methods: Vec<&syn::ImplItemFn> = implementation
        .items
        .iter()
        .filter_map(|item| match item {
            ImplItem::Fn(method) => Some(method),
            _ => None,
        })
        .collect();
    let expected = |op: &specjet_generator::ir::Operation| {
        format!(
            "async fn {name}(&self, request: operations::{name}::Request) -> operations::{name}::Response",
            name = op.name
        )
    };
    for method in &methods {
        let name = method.sig.ident.to_string();
        if ["cache_override", "rate_limit_override", "compress_override"].contains(&name.as_str()) {
            continue; // the trait's provided methods, written by hand
        }
        let Some(op) = api.operations.iter().find(|op| op.name == name) else {
            let known: Vec<&str> = api.operations.iter().map(|op| op.name.as_str()).collect();
            errors.push(syn::Error::new(
                method.sig.ident.span(),
                format!(
                    "`{name}` is not an operation of the spec; its operations are: {}",
                    known.join(", ")
                ),
            ));
            continue;
        };
        let argument = method.sig.inputs.iter().nth(1);
        let request_ok = match argument {
            Some(syn::FnArg::Typed(typed)) => ends_with(&typed.ty, &op.name, "Request"),
            _ => false,
        };
        if !request_ok || method.sig.inputs.len() != 2 {
            let span = argument.map_or(method.sig.span(), Spanned::span);
            errors.push(syn::Error::new(
                span,
                format!(
                    "operation `{}` takes its `Request`: expected `{}`",
                    op.id,
                    expected(op)
                ),
            ));
        }
        let response_ok = match &method.sig.output {
            syn::ReturnType::Type(_, ty) => ends_with(ty, &op.name, "Response"),
            syn::ReturnType::Default => false,
        };
        if !response_ok {
            errors.push(syn::Error::new(
                method.sig.output.span(),
                format!(
                    "operation `{}` returns its `Response`: expected `{}`",
                    op.id,
                    expected(op)
                ),
            ));
        }
    }
    let missing: Vec<String> = api
        .operations
        .iter()
        .filter(|op| !methods.iter().any(|m| m.sig.ident == op.name))
        .map(|op| {
            format!(
                "`{}` ({} {}): {}",
                op.id,
                op.method.as_str().to_uppercase(),
                op.path,
                expected(op)
            )
        })
        .collect();
    if !missing.is_empty() {
        errors.push(syn::Error::new(
            implementation.self_ty.span(),
            format!(
                "missing operation{}:\n{}",
                if missing.len() == 1 { "" } else { "s" },
                missing.join("\n")
            ),
        ));
    }
    let errors = errors.into_iter().map(|e| e.to_compile_error());
    quote! { #(#errors)* }
}

/// Whether a type path ends with `<operation>::<last>` (or is `<last>` imported alone).
fn ends_with(ty: &syn::Type, operation: &str, last: &str) -> bool {
    let syn::Type::Path(path) = ty else {
        return false;
    };
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    match segments.as_slice() {
        [.., module, name] => module == operation && name == last,
        [name] => name == last,
        [] => false,
    }
}
