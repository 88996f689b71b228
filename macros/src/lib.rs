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
            let by_hand = composed_by_hand(&analysis.api, &implementation);
            implementation.items.extend(by_hand);
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
                let ours = specjet_generator::attributes::attribute_names()
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
    let mut errors = Vec::new();
    // Per operation (in spec order), the fields its attributes set.
    let mut fields: std::collections::BTreeMap<usize, Vec<TokenStream2>> = Default::default();
    let mut seen = std::collections::HashSet::new();
    for attribute in attributes {
        let Some(index) = api
            .operations
            .iter()
            .position(|op| op.name == attribute.method)
        else {
            continue; // reported by the signature check
        };
        let op = &api.operations[index];
        let spanned = &attribute.attribute;
        let Some((annotation, _)) = annotation_of(spanned) else {
            continue; // only the registry's attributes are taken
        };
        let what = annotation
            .attribute
            .map_or(annotation.name, |form| form.what);
        if !seen.insert((attribute.method.clone(), what)) {
            errors.push(syn::Error::new_spanned(
                spanned,
                format!("`{}` already has its {what} set; one attribute per concern (several rates go in one `#[rate_limit]`)", attribute.method),
            ));
            continue;
        }
        match attribute_field(api, op, spanned) {
            Ok(field) => fields.entry(index).or_default().push(field),
            Err(problems) => errors.extend(problems),
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

/// The `composed_by_hand` method of `Api` when the impl writes the method of an operation the
/// spec composes with `x-fan-out` (code wins over the spec).
fn composed_by_hand(api: &specjet_generator::ir::Api, implementation: &ItemImpl) -> Vec<ImplItem> {
    let written = |name: &str| {
        implementation.items.iter().any(|item| match item {
            ImplItem::Fn(method) => method.sig.ident == name,
            _ => false,
        })
    };
    if written("composed_by_hand") {
        return Vec::new(); // written by hand
    }
    let variants: Vec<_> = api
        .operations
        .iter()
        .filter(|op| op.fan_out.is_some() && written(&op.name))
        .map(|op| quote::format_ident!("{}", op.id_variant()))
        .collect();
    if variants.is_empty() {
        return Vec::new();
    }
    let id_type = operation_id_path(implementation);
    vec![syn::parse_quote! {
        fn composed_by_hand(operation: #id_type) -> bool {
            matches!(operation, #(#id_type::#variants)|*)
        }
    }]
}

/// The annotation a policy attribute sets, and whether it turns the policy off (`#[no_...]`).
fn annotation_of(
    attribute: &syn::Attribute,
) -> Option<(&'static specjet_generator::attributes::Annotation, bool)> {
    let name = attribute.path().get_ident()?.to_string();
    specjet_generator::attributes::by_attribute(&name)
}

/// The field of the `policies` hook one attribute on `op`'s handler sets, or its errors: its
/// arguments turned into the spec annotation's value and parsed by the spec's own parser.
fn attribute_field(
    api: &specjet_generator::ir::Api,
    op: &specjet_generator::ir::Operation,
    attribute: &syn::Attribute,
) -> Result<TokenStream2, Vec<syn::Error>> {
    let Some((annotation, off)) = annotation_of(attribute) else {
        return Err(vec![syn::Error::new_spanned(
            attribute,
            "not a policy attribute",
        )]);
    };
    let value = if off {
        match &attribute.meta {
            syn::Meta::Path(_) => AttributeValue::off(attribute),
            _ => {
                let name = attribute
                    .path()
                    .get_ident()
                    .map(|i| i.to_string())
                    .unwrap_or_default();
                return Err(vec![syn::Error::new_spanned(
                    attribute,
                    format!("`#[{name}]` takes no arguments"),
                )]);
            }
        }
    } else {
        AttributeValue::parse(attribute, annotation).map_err(|e| vec![e])?
    };
    specjet_generator::attributes::policy_field(api, op, annotation, &value.json).map_err(
        |problems| {
            problems
                .into_iter()
                .map(|problem| value.error_at(&problem.pointer, problem.message))
                .collect()
        },
    )
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
    whole: syn::Attribute,
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
            whole: attribute.clone(),
            spans: Vec::new(),
        }
    }

    /// Positional arguments are rates for a rate limit (`#[rate_limit("10/s", "1000/h")]`,
    /// the spec's `rate`), and the whole value for a timeout (`#[timeout("5s")]`).
    fn parse(
        attribute: &syn::Attribute,
        annotation: &specjet_generator::attributes::Annotation,
    ) -> syn::Result<AttributeValue> {
        use specjet_generator::attributes::Positional;
        let positional_form = annotation
            .attribute
            .map_or(Positional::No, |form| form.positional);
        let rates = positional_form == Positional::Rates;
        let whole = positional_form == Positional::Whole;
        use specjet_generator::serde_json::{Map, Value};
        let mut value = AttributeValue {
            json: Value::Null,
            whole: attribute.clone(),
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
                Argument::Positional(expr) if rates || whole => {
                    // A timeout's value is the whole annotation: its problems are at the root.
                    let pointer = if rates {
                        format!("/rate/{}", positional.len())
                    } else {
                        String::new()
                    };
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
        if whole {
            return match (positional.as_slice(), map.is_empty()) {
                ([single], true) => {
                    value.json = single.clone();
                    Ok(value)
                }
                _ => {
                    let (name, example) = annotation
                        .attribute
                        .map(|form| (form.set.unwrap_or_default(), form.example))
                        .unwrap_or_default();
                    Err(syn::Error::new_spanned(
                        attribute,
                        format!("`#[{name}]` takes one value, e.g. `{example}`"),
                    ))
                }
            };
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

    /// The error for a problem at `pointer`, shown on the argument it is about (or the
    /// closest enclosing one), else on the whole attribute.
    fn error_at(&self, pointer: &str, message: String) -> syn::Error {
        let mut pointer = pointer;
        loop {
            if let Some((_, span)) = self.spans.iter().find(|(p, _)| p == pointer) {
                return syn::Error::new(*span, message);
            }
            match pointer.rfind('/') {
                Some(cut) => pointer = &pointer[..cut],
                None => return syn::Error::new_spanned(&self.whole, message),
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
    // Every file the code is made from is read through `include_bytes!`, so cargo rebuilds on change.
    let tracked = analysis.sources().into_iter().map(|path| {
        let file = path.canonicalize().unwrap_or(path).display().to_string();
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
        if specjet_generator::ir::PROVIDED_HOOKS.contains(&name.as_str()) {
            continue; // the trait's provided hooks, written by hand
        }
        if api
            .security_schemes
            .iter()
            .any(|scheme| scheme.method == name)
        {
            continue; // a scheme's verifier
        }
        let Some(op) = api.operations.iter().find(|op| op.name == name) else {
            let known: Vec<&str> = api
                .handled_operations()
                .map(|op| op.name.as_str())
                .collect();
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
        .handled_operations()
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

/// Parity: every problem the spec's annotation reports, the handler attribute with the same
/// arguments reports too, with the same message (one parser serves both).
#[cfg(test)]
mod parity {
    use super::attribute_field;

    /// A small API whose `getPet` and `createPet` carry `annotation` (on `getPet` unless the
    /// annotation targets `createPet`), with a named rate-limit policy `writes`.
    fn spec(get_pet: &str, create_pet: &str) -> String {
        format!(
            r#"
openapi: 3.0.3
info: {{title: Parity, version: "1"}}
x-specjet:
  rate-limit:
    policies:
      writes: {{limit: 10, per: 1m}}
paths:
  /pets:
    post:
      operationId: createPet
      {create_pet}
      responses: {{"201": {{description: created}}}}
  /pets/{{petId}}:
    get:
      operationId: getPet
      {get_pet}
      parameters:
        - {{name: petId, in: path, required: true, schema: {{type: integer}}}}
      responses: {{"200": {{description: ok}}}}
"#
        )
    }

    /// The messages of the errors `analyze` reports for a document.
    fn spec_errors(text: &str) -> Vec<String> {
        let analysis = match specjet_generator::analyze_text("parity.yaml", text) {
            Ok(analysis) => analysis.diagnostics,
            Err(diagnostics) => diagnostics,
        };
        let mut messages: Vec<String> = analysis
            .items()
            .iter()
            .filter(|d| d.severity >= specjet_generator::diag::Severity::Error)
            .map(|d| d.message.clone())
            .collect();
        messages.sort();
        messages
    }

    /// The messages of the errors an attribute on `operation`'s handler gives.
    fn attribute_errors(operation: &str, attribute: syn::Attribute) -> Vec<String> {
        let analysis = specjet_generator::analyze_text("parity.yaml", &spec("", ""))
            .unwrap_or_else(|_| panic!("the base document loads"));
        assert!(
            !analysis.diagnostics.has_errors(),
            "{:?}",
            analysis.diagnostics
        );
        let op = analysis
            .api
            .operations
            .iter()
            .find(|op| op.id == operation)
            .unwrap_or_else(|| panic!("no operation {operation}"));
        let mut messages: Vec<String> = match attribute_field(&analysis.api, op, &attribute) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        };
        messages.sort();
        messages
    }

    /// Each case: the operation, the spec annotation (YAML), the attribute.
    fn cases() -> Vec<(&'static str, &'static str, syn::Attribute)> {
        use syn::parse_quote;
        vec![
            (
                "getPet",
                "x-cache: {ttl: '5'}",
                parse_quote!(#[cache(ttl = "5")]),
            ),
            (
                "getPet",
                "x-cache: {ttl: 0s}",
                parse_quote!(#[cache(ttl = "0s")]),
            ),
            (
                "getPet",
                "x-cache: {ttl: 3 weeks}",
                parse_quote!(#[cache(ttl = "3 weeks")]),
            ),
            (
                "getPet",
                "x-cache: {ttl: 5s, stale-if-error: soon}",
                parse_quote!(#[cache(ttl = "5s", stale_if_error = "soon")]),
            ),
            (
                "getPet",
                "x-cache: {ttl: 5s, colour: blue}",
                parse_quote!(#[cache(ttl = "5s", colour = "blue")]),
            ),
            (
                "getPet",
                "x-cache: {ttl: 5s, scope: shared}",
                parse_quote!(#[cache(ttl = "5s", scope = "shared")]),
            ),
            (
                "getPet",
                "x-cache: {ttl: 5s, vary: [bad header]}",
                parse_quote!(#[cache(ttl = "5s", vary = ["bad header"])]),
            ),
            (
                "getPet",
                "x-cache: {ttl: 5s, status: [99]}",
                parse_quote!(#[cache(ttl = "5s", status = [99])]),
            ),
            (
                "getPet",
                "x-cache: {ttl: 5s, stale-while-revalidate: '10'}",
                parse_quote!(#[cache(ttl = "5s", stale_while_revalidate = "10")]),
            ),
            (
                "getPet",
                "x-cache: {scope: public}",
                parse_quote!(#[cache(scope = "public")]),
            ),
            (
                "createPet",
                "x-cache: {ttl: 5s}",
                parse_quote!(#[cache(ttl = "5s")]),
            ),
            (
                "getPet",
                "x-rate-limit: {rate: 10/fortnight}",
                parse_quote!(#[rate_limit("10/fortnight")]),
            ),
            (
                "getPet",
                "x-rate-limit: {rate: 0/s}",
                parse_quote!(#[rate_limit("0/s")]),
            ),
            (
                "getPet",
                "x-rate-limit: {rate: 10/s, key: user}",
                parse_quote!(#[rate_limit("10/s", key = "user")]),
            ),
            (
                "getPet",
                "x-rate-limit: {rate: 10/s, key: 'header:'}",
                parse_quote!(#[rate_limit("10/s", key = "header:")]),
            ),
            (
                "createPet",
                "x-rate-limit: {rate: 10/s, key: 'path:petId'}",
                parse_quote!(#[rate_limit("10/s", key = "path:petId")]),
            ),
            (
                "getPet",
                "x-rate-limit: {use: premium}",
                parse_quote!(#[rate_limit(policy = "premium")]),
            ),
            (
                "getPet",
                "x-rate-limit: {use: writes, burst: 3}",
                parse_quote!(#[rate_limit(policy = "writes", burst = 3)]),
            ),
            (
                "getPet",
                "x-rate-limit: {rate: 10/s, burst: 2, cost: 3}",
                parse_quote!(#[rate_limit("10/s", burst = 2, cost = 3)]),
            ),
            (
                "getPet",
                "x-rate-limit: {rate: [10/s, 100/min], burst: 5}",
                parse_quote!(#[rate_limit("10/s", "100/min", burst = 5)]),
            ),
            (
                "getPet",
                "x-rate-limit: {rate: 2/s, colour: blue}",
                parse_quote!(#[rate_limit("2/s", colour = "blue")]),
            ),
            (
                "getPet",
                "x-rate-limit: {key: ip}",
                parse_quote!(#[rate_limit(key = "ip")]),
            ),
            (
                "getPet",
                "x-rate-limit: {rate: 2/s, cost: 0}",
                parse_quote!(#[rate_limit("2/s", cost = 0)]),
            ),
            ("getPet", "x-timeout: '5'", parse_quote!(#[timeout("5")])),
            (
                "createPet",
                "x-max-body-size: 0B",
                parse_quote!(#[max_body_size("0B")]),
            ),
            (
                "createPet",
                "x-max-body-size: '10'",
                parse_quote!(#[max_body_size("10")]),
            ),
            ("getPet", "x-timeout: 0s", parse_quote!(#[timeout("0s")])),
            (
                "getPet",
                "x-timeout: soon",
                parse_quote!(#[timeout("soon")]),
            ),
        ]
    }

    #[test]
    fn every_spec_error_has_an_attribute_twin_with_the_same_message() {
        for (operation, annotation, attribute) in cases() {
            let text = if operation == "getPet" {
                spec(annotation, "")
            } else {
                spec("", annotation)
            };
            let from_spec = spec_errors(&text);
            assert!(
                !from_spec.is_empty(),
                "`{annotation}` is accepted by the spec"
            );
            assert_eq!(
                from_spec,
                attribute_errors(operation, attribute),
                "`{annotation}` on {operation}"
            );
        }
    }

    #[test]
    fn what_the_spec_accepts_the_attribute_accepts() {
        use syn::parse_quote;
        let accepted: Vec<(&str, &str, syn::Attribute)> = vec![
            (
                "getPet",
                "x-cache: {ttl: 5s, scope: private, vary: [Accept-Language], status: [200, 404]}",
                parse_quote!(#[cache(ttl = "5s", scope = "private", vary = ["Accept-Language"], status = [200, 404])]),
            ),
            (
                "getPet",
                "x-rate-limit: {rate: 10/s, burst: 20, key: [principal, 'path:petId'], cost: 2}",
                parse_quote!(#[rate_limit("10/s", burst = 20, key = ["principal", "path:petId"], cost = 2)]),
            ),
            (
                "createPet",
                "x-rate-limit: {use: writes, cost: 2}",
                parse_quote!(#[rate_limit(policy = "writes", cost = 2)]),
            ),
            ("getPet", "x-cache: false", parse_quote!(#[no_cache])),
            (
                "getPet",
                "x-rate-limit: false",
                parse_quote!(#[no_rate_limit]),
            ),
            ("getPet", "x-compress: false", parse_quote!(#[no_compress])),
            ("getPet", "x-timeout: 2s", parse_quote!(#[timeout("2s")])),
            (
                "createPet",
                "x-max-body-size: 10MiB",
                parse_quote!(#[max_body_size("10MiB")]),
            ),
        ];
        for (operation, annotation, attribute) in accepted {
            let text = if operation == "getPet" {
                spec(annotation, "")
            } else {
                spec("", annotation)
            };
            assert_eq!(spec_errors(&text), Vec::<String>::new(), "{annotation}");
            assert_eq!(
                attribute_errors(operation, attribute),
                Vec::<String>::new(),
                "{annotation}"
            );
        }
    }
}
