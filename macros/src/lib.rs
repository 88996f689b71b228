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
//!   Code wins over the spec. An attribute's arguments are the spec annotation's keys (`_` for
//!   `-`), parsed by the spec's own parser: the same values pass and fail, with the same
//!   messages, shown on the argument at fault.
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
            match policy_overrides(&analysis.api, &implementation, attributes) {
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

/// The `policies` method of `Api` that the handlers' policy attributes write (code wins over
/// the spec), or the errors of those attributes, all of them.
fn policy_overrides(
    api: &specjet_generator::ir::Api,
    implementation: &ItemImpl,
    attributes: Vec<PolicyAttribute>,
) -> Result<Vec<ImplItem>, TokenStream2> {
    use specjet_generator::attributes::Concern;
    let mut errors = Vec::new();
    // Per operation (in spec order), the fields its attributes set.
    let mut fields: std::collections::BTreeMap<usize, Vec<TokenStream2>> = Default::default();
    let mut seen = std::collections::HashSet::new();
    for attribute in attributes {
        let Some(index) = api.operations.iter().position(|op| op.name == attribute.method) else {
            continue; // reported by the signature check
        };
        let op = &api.operations[index];
        let spanned = &attribute.attribute;
        let name = spanned.path().get_ident().map(|i| i.to_string()).unwrap_or_default();
        let (concern, what) = match name.as_str() {
            "cache" | "no_cache" => (Concern::Cache, "caching"),
            "rate_limit" | "no_rate_limit" => (Concern::RateLimit, "rate limit"),
            _ => (Concern::Compress, "compression"),
        };
        if !seen.insert((attribute.method.clone(), what)) {
            errors.push(syn::Error::new_spanned(
                spanned,
                format!("`{}` already has its {what} set; one attribute per concern (several rates go in one `#[rate_limit]`)", attribute.method),
            ));
            continue;
        }
        let value = if name.starts_with("no_") {
            match &spanned.meta {
                syn::Meta::Path(_) => AttributeValue::off(spanned),
                _ => {
                    errors.push(syn::Error::new_spanned(
                        spanned,
                        format!("`#[{name}]` takes no arguments"),
                    ));
                    continue;
                }
            }
        } else {
            match AttributeValue::parse(spanned, concern == Concern::RateLimit) {
                Ok(value) => value,
                Err(error) => {
                    errors.push(error);
                    continue;
                }
            }
        };
        // The spec's own parser, on the value the spec's annotation would hold.
        match specjet_generator::attributes::policy_field(api, op, concern, &value.json) {
            Ok(field) => fields.entry(index).or_default().push(field),
            Err(problems) => errors.extend(
                problems
                    .into_iter()
                    .map(|problem| syn::Error::new(value.span_of(&problem.pointer), problem.message)),
            ),
        }
    }
    if !errors.is_empty() {
        let errors = errors.into_iter().map(|e| e.to_compile_error());
        return Err(quote! { #(#errors)* });
    }
    if fields.is_empty() {
        return Ok(Vec::new());
    }
    let id_type = operation_id_path(implementation);
    let covers_all = fields.len() == api.operations.len();
    let arms = fields.into_iter().map(|(index, fields)| {
        let variant = quote::format_ident!("{}", api.operations[index].id_variant());
        quote! { #id_type::#variant => ::specjet::Policies { #(#fields,)* ..spec }, }
    });
    let rest = (!covers_all).then(|| quote! { _ => spec, });
    Ok(vec![syn::parse_quote! {
        fn policies(operation: #id_type, spec: ::specjet::Policies) -> ::specjet::Policies {
            match operation {
                #(#arms)*
                #rest
            }
        }
    }])
}

/// The generated `OperationId` beside the implemented trait: `api::Api` gives
/// `api::OperationId` (a bare `Api` needs `OperationId` imported too).
fn operation_id_path(implementation: &ItemImpl) -> TokenStream2 {
    match &implementation.trait_ {
        Some((_, path, _)) => {
            let mut path = path.clone();
            if let Some(last) = path.segments.last_mut() {
                last.ident = syn::Ident::new("OperationId", last.ident.span());
                last.arguments = syn::PathArguments::None;
            }
            quote! { #path }
        }
        None => quote! { OperationId },
    }
}

/// A policy attribute's arguments as the value of the spec's annotation (`ttl = "30s"` is
/// `{"ttl": "30s"}`, names with `_` written with `-`), with the span of each part so that
/// a problem the parser locates by JSON pointer lands on the argument it is about.
struct AttributeValue {
    json: specjet_generator::serde_json::Value,
    whole: proc_macro2::Span,
    /// JSON pointer → span.
    spans: Vec<(String, proc_macro2::Span)>,
}

/// One argument: a positional rate (`"10/s"`), or `name = value`.
enum Argument {
    Positional(syn::Expr),
    Named(syn::Ident, syn::Expr),
}

impl syn::parse::Parse for Argument {
    fn parse(input: syn::parse::ParseStream) -> syn::Result<Self> {
        use syn::ext::IdentExt;
        if input.peek(syn::Ident::peek_any) && input.peek2(syn::Token![=]) {
            // `use` is a keyword, and still the spec's name for a named policy.
            let name = syn::Ident::parse_any(input)?;
            input.parse::<syn::Token![=]>()?;
            return Ok(Argument::Named(name, input.parse()?));
        }
        Ok(Argument::Positional(input.parse()?))
    }
}

impl AttributeValue {
    fn off(attribute: &syn::Attribute) -> AttributeValue {
        AttributeValue {
            json: specjet_generator::serde_json::Value::Bool(false),
            whole: attribute.span(),
            spans: Vec::new(),
        }
    }

    /// `rates`: positional arguments are rates (`#[rate_limit("10/s", "1000/h")]`), the
    /// spec's `rate`.
    fn parse(attribute: &syn::Attribute, rates: bool) -> syn::Result<AttributeValue> {
        use specjet_generator::serde_json::{Map, Value};
        let mut value = AttributeValue {
            json: Value::Null,
            whole: attribute.span(),
            spans: Vec::new(),
        };
        let arguments = match &attribute.meta {
            syn::Meta::Path(_) => Default::default(),
            _ => attribute.parse_args_with(
                syn::punctuated::Punctuated::<Argument, syn::Token![,]>::parse_terminated,
            )?,
        };
        let mut map = Map::new();
        let mut positional = Vec::new();
        for argument in arguments {
            match argument {
                Argument::Positional(expr) if rates => {
                    let pointer = format!("/rate/{}", positional.len());
                    positional.push(value.json_of(&expr, &pointer)?);
                }
                Argument::Positional(expr) => {
                    return Err(syn::Error::new_spanned(expr, "expected `name = value`"));
                }
                Argument::Named(name, expr) => {
                    let key = match name.to_string().as_str() {
                        "policy" => "use".to_owned(),
                        other => other.replace('_', "-"),
                    };
                    let pointer = format!("/{key}");
                    let json = value.json_of(&expr, &pointer)?;
                    map.insert(key, json);
                }
            }
        }
        match positional.len() {
            0 => {}
            1 => {
                if let Some((_, span)) = value.spans.iter().find(|(p, _)| p == "/rate/0").cloned() {
                    value.spans.push(("/rate".to_owned(), span));
                }
                map.insert("rate".to_owned(), positional.remove(0));
            }
            _ => {
                map.insert("rate".to_owned(), Value::Array(positional));
            }
        }
        value.json = Value::Object(map);
        Ok(value)
    }

    /// The JSON of a literal argument (a string, number, boolean or list of them), its span
    /// recorded under `pointer`.
    fn json_of(
        &mut self,
        expr: &syn::Expr,
        pointer: &str,
    ) -> syn::Result<specjet_generator::serde_json::Value> {
        use specjet_generator::serde_json::Value;
        self.spans.push((pointer.to_owned(), expr.span()));
        match expr {
            syn::Expr::Lit(syn::ExprLit { lit, .. }) => match lit {
                syn::Lit::Str(text) => Ok(Value::String(text.value())),
                syn::Lit::Bool(on) => Ok(Value::Bool(on.value)),
                syn::Lit::Int(number) => number
                    .base10_parse::<u64>()
                    .map(Value::from)
                    .map_err(|_| syn::Error::new(number.span(), "expected a whole number")),
                other => Err(syn::Error::new(
                    other.span(),
                    "expected a string, a whole number or a boolean",
                )),
            },
            syn::Expr::Array(list) => list
                .elems
                .iter()
                .enumerate()
                .map(|(index, element)| self.json_of(element, &format!("{pointer}/{index}")))
                .collect::<syn::Result<Vec<_>>>()
                .map(Value::Array),
            other => Err(syn::Error::new_spanned(
                other,
                "expected a literal (a string such as \"30s\", a number, a boolean) or a list of them",
            )),
        }
    }

    /// Where a problem at `pointer` is shown: the argument it is about (or the closest
    /// enclosing one), else the whole attribute.
    fn span_of(&self, pointer: &str) -> proc_macro2::Span {
        let mut pointer = pointer;
        loop {
            if let Some((_, span)) = self.spans.iter().find(|(p, _)| p == pointer) {
                return *span;
            }
            match pointer.rfind('/') {
                Some(cut) => pointer = &pointer[..cut],
                None => return self.whole,
            }
        }
    }
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
        if name == "policies" {
            continue; // the trait's provided policy hook, written by hand
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
