//! `server.rs`: the `Api` trait, the `OperationId` enum, the operations table (each
//! operation's route and policies, named policies once) and the router that serves it.

mod connections;
mod security;
mod serving;

pub(crate) use serving::{document_module, document_text};

use std::collections::BTreeSet;
use std::time::Duration;

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

use super::{doc_attrs, join_docs};
use crate::ir::{
    Api, CacheBackend, CachePolicy, CacheScope, DefaultValue, OnBackendError, Operation,
    ParamLocation, ParamStyle, Piece, RateKey, RateLimitBackend, RateLimitPolicy, RateWindow,
    TypeRef,
};

pub(crate) fn module(api: &Api) -> TokenStream {
    let methods: Vec<TokenStream> = api
        .operations
        .iter()
        .map(trait_method)
        .chain(security::verifier_methods(api))
        .collect();
    let trait_docs = doc_attrs(
        join_docs(&[
            Some(&format!(
                "The operations of {}: implement each, then serve [`router`].",
                api.title
            )),
            api.description.as_deref(),
        ])
        .as_deref(),
    );
    let mut modules: Vec<Ident> = api
        .operations
        .iter()
        .map(|op| format_ident!("{}", op.name))
        .collect();
    modules.sort_unstable();
    let operation_modules = match modules.as_slice() {
        [] => quote! {},
        [module] => quote! { use super::operations::#module; },
        modules => quote! { use super::operations::{#(#modules),*}; },
    };
    let operation_ids = operation_ids(api);
    let routes = routes(api);
    let handlers = handlers(api);
    // The runtime's own endpoints (`/metrics`, `/healthz`, `/readyz`, the docs) that the API
    // serves itself, and which the runtime leaves to it.
    let taken = api.settings.paths_taken_by(&api.routes);
    let batch_docs = batch_docs(api);
    let fan_out_statics = fan_out_statics(api);
    let composed = !fan_out_statics.is_empty();
    let by_hand_hook = composed.then(|| {
        quote! {
            /// Whether a handler answers `operation`, which the spec composes with
            /// `x-fan-out`, by hand (code wins). `#[specjet::api]` writes this method from
            /// the composite methods the impl writes.
            fn composed_by_hand(_operation: OperationId) -> bool {
                false
            }
        }
    });
    let slot = composed.then(|| quote! { let fan_out = ::specjet::fan_out::Slot::default(); });
    // What differs from `Finish::new`, by name: the paths the API serves itself, the slot
    // through which composites call their parts (through the finished router, layers and
    // all), the verifiers of the security schemes.
    let mut finish_fields = Vec::new();
    if !taken.is_empty() {
        finish_fields.push(quote! { taken: &[#(#taken),*], });
    }
    if composed {
        finish_fields.push(quote! { fan_out: ::std::option::Option::Some(&fan_out), });
    }
    let secured = !api.security_schemes.is_empty();
    if secured {
        finish_fields.push(quote! { security: ::std::option::Option::Some(&verifiers(api)), });
    }
    let finish_new = quote! {
        ::specjet::__private::Finish::new(&OperationId::ALL, OperationId::info, A::policies, A::reject)
    };
    let finish_arg = if finish_fields.is_empty() {
        finish_new
    } else {
        quote! { ::specjet::__private::Finish { #(#finish_fields)* ..#finish_new } }
    };
    // One shared `api`: a request clones an `Arc`, not the handlers' state.
    let finish = if secured {
        quote! {
            let api = ::std::sync::Arc::new(api);
            ::specjet::__private::finish(router.with_state(::std::sync::Arc::clone(&api)), services, #finish_arg)
        }
    } else {
        quote! {
            ::specjet::__private::finish(router.with_state(::std::sync::Arc::new(api)), services, #finish_arg)
        }
    };
    let verifiers = security::verifiers(api);
    quote! {
        #operation_modules

        #trait_docs
        pub trait Api: ::std::clone::Clone + ::std::marker::Send + ::std::marker::Sync + 'static {
            #(#methods)*

            /// The policies `operation` is served with: the spec's (`spec`) unless code sets
            /// its own, as `#[specjet::api]` writes it from the handlers' attributes.
            fn policies(_operation: OperationId, spec: ::specjet::Policies) -> ::specjet::Policies {
                spec
            }

            /// The answer to a problem with a request to `operation` (400-422 before the
            /// handler, 429/503/504 instead of it, or a handler's `Problem`): by default
            /// `application/problem+json`; write it to answer in the spec's own error shape.
            fn reject(
                _operation: OperationId,
                problem: ::specjet::Problem,
            ) -> ::specjet::axum::response::Response {
                ::specjet::reject::problem_json_response(problem)
            }

            #by_hand_hook
        }

        #operation_ids

        /// The router serving every operation of `api`, with services configured from the
        /// environment (`REDIS_URL` enables the shared cache tier and shared rate-limit budgets).
        pub fn router<A: Api>(api: A) -> ::specjet::axum::Router {
            router_with(api, &::specjet::Services::from_env(super::policies::settings()))
        }

        /// The router serving every operation of `api` with the given services: each
        /// operation's policies, `/metrics`, `/healthz`, `/readyz`, and problem+json answers
        /// for unknown paths (404) and methods (405). Send it a request without a socket with
        /// `tower::ServiceExt::oneshot`: every layer applies.
        #batch_docs
        pub fn router_with<A: Api>(api: A, services: &::specjet::Services) -> ::specjet::axum::Router {
            #slot
            let router = ::specjet::axum::Router::new()
                #(#routes)*;
            #finish
        }

        #verifiers

        #(#fan_out_statics)*

        #(#handlers)*
    }
}

/// `policies.rs`: what the spec says of how the API is served, as data: one constant per
/// named rate-limit policy, the operations table, the security schemes, and the service-wide
/// settings with `services()`, which starts what they declare.
pub(crate) fn policies_module(api: &Api) -> TokenStream {
    let table = operations_table(api);
    let schemes = security::schemes(api);
    let settings = settings_fn(api);
    quote! {
        #table

        #schemes

        #settings
    }
}

/// The variant of `OperationId` naming an operation.
fn variant(op: &Operation) -> Ident {
    format_ident!("{}", op.id_variant())
}

/// `OperationId`: every operation as a value, for the policy hook and for code that names an
/// operation (a typed call, a metric) without a string.
fn operation_ids(api: &Api) -> TokenStream {
    let count = Literal::usize_unsuffixed(api.operations.len());
    let variants = api.operations.iter().map(|op| {
        let variant = variant(op);
        let docs = doc_attrs(Some(&format!(
            "`{}` (`{} {}`)",
            op.id,
            op.method.as_str().to_uppercase(),
            op.path
        )));
        quote! { #docs #variant, }
    });
    let all = api.operations.iter().map(variant);
    // Variants are numbered in table order; an enum without variants has no value at all
    // (indexing with `match self {}` would be an unreachable expression).
    let info = if api.operations.is_empty() {
        quote! { match self {} }
    } else {
        quote! { &super::policies::OPERATIONS[self as usize] }
    };
    quote! {
        /// Every operation of the API, by its `operationId`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum OperationId {
            #(#variants)*
        }

        impl OperationId {
            /// Every operation, in the spec's order.
            pub const ALL: [OperationId; #count] = [#(Self::#all),*];

            /// The operation's entry in the operations table: its route and the spec's policies.
            pub fn info(self) -> &'static ::specjet::OperationInfo {
                #info
            }

            /// The spec's `operationId`.
            pub fn as_str(self) -> &'static str {
                self.info().id
            }
        }
    }
}

/// `OPERATIONS`, and one constant per named rate-limit policy that operations use.
fn operations_table(api: &Api) -> TokenStream {
    let count = Literal::usize_unsuffixed(api.operations.len());
    let mut named = Vec::new();
    let used: BTreeSet<&str> = api
        .operations
        .iter()
        .filter_map(|op| named_policy(api, op.policies.rate_limit.as_ref()?))
        .map(|(name, _)| name)
        .collect();
    for name in used {
        if let Some(policy) = api.settings.rate_limit_policies.get(name) {
            let constant = policy_constant(name);
            let literal = rate_limit_literal(policy);
            let docs = doc_attrs(Some(&format!(
                "The rate-limit policy `{name}` (`x-specjet.rate-limit.policies`); operations that use it share its budget."
            )));
            let ty = quote! { ::specjet::rate_limit::RateLimitPolicy };
            named.push(quote! { #docs const #constant: #ty = #literal; });
        }
    }
    let entries: Vec<TokenStream> = api
        .operations
        .iter()
        .map(|op| operation_entry(api, op))
        .collect();
    quote! {
        #(#named)*

        /// Every operation: its route and what the spec says of how it is served.
        pub(super) static OPERATIONS: [::specjet::OperationInfo; #count] = [#(#entries),*];
    }
}

/// The root policy a rate limit is (its name and its own cost), when it is one: every field
/// but the cost is the named policy's.
fn named_policy<'a>(api: &'a Api, policy: &RateLimitPolicy) -> Option<(&'a str, u32)> {
    let (name, named) = api
        .settings
        .rate_limit_policies
        .get_key_value(&policy.name)?;
    let same = RateLimitPolicy {
        cost: named.cost,
        ..policy.clone()
    };
    (same == *named).then_some((name.as_str(), named.cost))
}

fn policy_constant(name: &str) -> Ident {
    let mut constant: String = crate::naming::field_name(name).to_ascii_uppercase();
    constant.insert_str(0, "POLICY_");
    format_ident!("{}", constant)
}

fn operation_entry(api: &Api, op: &Operation) -> TokenStream {
    let id = &op.id;
    let method = format_ident!("{}", op.method.as_str().to_uppercase());
    let path = &api.routes[op.route].axum_path;
    // Every parameter with the segment it is captured in (with its literal affixes, which
    // tell values apart just as well).
    let params = op.path_captures.iter().flat_map(|capture| {
        capture.pieces.iter().filter_map(move |piece| match piece {
            Piece::Param(name) => {
                let key = &capture.key;
                Some(quote! { (#name, #key) })
            }
            Piece::Literal(_) => None,
        })
    });
    // How each of those values is read, so that the cache takes `+5`, `05` and `5` for one
    // value as the handler does (a segment with affixes is kept as written).
    let types: Vec<TokenStream> = op
        .path_captures
        .iter()
        .flat_map(|capture| {
            let whole = capture.is_whole();
            capture.pieces.iter().filter_map(move |piece| match piece {
                Piece::Param(name) => Some(if whole {
                    param_type(op, name)
                } else {
                    quote! { Text }
                }),
                Piece::Literal(_) => None,
            })
        })
        .collect();
    let policies = &op.policies;
    let mut fields = Vec::new();
    if let Some(cache) = &policies.cache {
        let literal = cache_literal(cache);
        fields.push(quote! { cache: Some(#literal), });
    }
    if !policies.invalidates.is_empty() {
        let target_type = quote! { ::specjet::cache::InvalidationTarget };
        let targets = policies.invalidates.iter().map(|target| {
            let operation = &target.operation;
            let shared = target
                .shared
                .iter()
                .map(|(name, key)| quote! { (#name, #key) });
            quote! { #target_type::new(#operation, &[#(#shared),*]) }
        });
        fields.push(quote! { invalidates: &[#(#targets),*], });
    }
    if !policies.invalidate_tags.is_empty() {
        let tags = tag_templates(&policies.invalidate_tags);
        fields.push(quote! { invalidate_tags: #tags, });
    }
    if let Some(policy) = &policies.rate_limit {
        match named_policy(api, policy) {
            Some((name, own_cost)) => {
                let constant = policy_constant(name);
                if own_cost == policy.cost {
                    fields.push(quote! { rate_limit: Some(#constant), });
                } else {
                    let cost = Literal::u32_unsuffixed(policy.cost);
                    fields.push(quote! { rate_limit: Some(#constant.costing(#cost)), });
                }
            }
            None => {
                let literal = rate_limit_literal(policy);
                fields.push(quote! { rate_limit: Some(#literal), });
            }
        }
    }
    if !policies.compress {
        fields.push(quote! { compress: false, });
    }
    if policies.timeout != crate::ir::Policies::default().timeout {
        let timeout = match policies.timeout {
            Some(timeout) => {
                let timeout = duration(timeout);
                quote! { Some(#timeout) }
            }
            None => quote! { None },
        };
        fields.push(quote! { timeout: #timeout, });
    }
    if let Some(group) = &policies.batch_group {
        fields.push(quote! { batch_group: Some(#group), });
    }
    if let Some(bytes) = policies.max_body_size {
        let bytes = Literal::u64_unsuffixed(bytes);
        fields.push(quote! { max_body_size: Some(#bytes), });
    }
    let mut entry =
        quote! { ::specjet::OperationInfo::new(#id, ::specjet::http::Method::#method, #path) };
    let params: Vec<TokenStream> = params.collect();
    if !params.is_empty() {
        entry = quote! { #entry.with_params(&[#(#params),*]) };
    }
    if types.iter().any(|ty| ty.to_string() != "Text") {
        let types = types.iter().map(|ty| quote! { ::specjet::ParamType::#ty });
        entry = quote! { #entry.with_param_types(&[#(#types),*]) };
    }
    let defaults = query_defaults(op);
    if policies.cache.is_some() && !defaults.is_empty() {
        let defaults = defaults
            .iter()
            .map(|(name, value)| quote! { (#name, #value) });
        entry = quote! { #entry.with_query_defaults(&[#(#defaults),*]) };
    }
    let query_types = query_types(op);
    if policies.cache.is_some() && !query_types.is_empty() {
        let query_types = query_types
            .iter()
            .map(|(name, ty)| quote! { (#name, ::specjet::ParamType::#ty) });
        entry = quote! { #entry.with_query_types(&[#(#query_types),*]) };
    }
    if let Some(requirements) = security::requirements(op) {
        entry = quote! { #entry #requirements };
    }
    if op
        .body
        .as_ref()
        .is_some_and(super::operations::streams_body)
    {
        entry = quote! { #entry.with_streamed_body() };
    }
    if crate::ir::answers_with_stream(&op.responses) {
        entry = quote! { #entry.with_streamed_answer() };
    }
    if fields.is_empty() {
        entry
    } else {
        quote! { #entry.with_policies(::specjet::Policies { #(#fields)* ..::specjet::Policies::DEFAULT }) }
    }
}

/// Tag templates as the runtime holds them: parsed, a slice of pieces each.
fn tag_templates(tags: &[crate::ir::TagTemplate]) -> TokenStream {
    use specjet_model::tag::TagPiece;
    let piece_type = quote! { ::specjet::cache::TagPiece };
    let tags = tags.iter().map(|pieces| {
        let pieces = pieces.iter().map(|piece| match piece {
            TagPiece::Text(text) => quote! { #piece_type::Text(#text) },
            TagPiece::Param(name) => quote! { #piece_type::Param(#name) },
            TagPiece::Answer(pointer) => quote! { #piece_type::Answer(#pointer) },
        });
        quote! { &[#(#pieces),*] }
    });
    quote! { &[#(#tags),*] }
}

/// The query parameters of `op` with a default, as (name, the default as a query writes it),
/// for the cache to key an absent one as its default.
fn query_defaults(op: &Operation) -> Vec<(String, String)> {
    op.params
        .iter()
        .filter(|param| param.location == ParamLocation::Query)
        .filter_map(|param| {
            let value = match param.default.as_ref()? {
                DefaultValue::Bool(b) => b.to_string(),
                DefaultValue::Int(i) => i.to_string(),
                DefaultValue::Float(f) => f.to_string(),
                DefaultValue::Str(s) | DefaultValue::Variant { wire: s, .. } => s.clone(),
            };
            Some((param.wire.clone(), value))
        })
        .collect()
}

/// How the path parameter `name` of `op` is read: `Integer`, `Number`, `Boolean` or `Text`.
fn param_type(op: &Operation, name: &str) -> TokenStream {
    let ty = op
        .params
        .iter()
        .find(|param| param.location == ParamLocation::Path && param.wire == name)
        .map(|param| &param.ty);
    scalar_type(ty).unwrap_or_else(|| quote! { Text })
}

/// The scalar query parameters of `op` that are not text, as (name, `Integer`, `Number` or
/// `Boolean`), for the cache to key their values as they are read.
fn query_types(op: &Operation) -> Vec<(String, TokenStream)> {
    op.params
        .iter()
        .filter(|param| {
            param.location == ParamLocation::Query
                && !matches!(param.style, ParamStyle::Exploded | ParamStyle::Delimited(_))
        })
        .filter_map(|param| Some((param.wire.clone(), scalar_type(Some(&param.ty))?)))
        .collect()
}

/// The cache's name for how a value of `ty` is read, when it is not text.
fn scalar_type(ty: Option<&TypeRef>) -> Option<TokenStream> {
    match ty? {
        TypeRef::I32 | TypeRef::I64 | TypeRef::U32 | TypeRef::U64 => Some(quote! { Integer }),
        TypeRef::F32 | TypeRef::F64 => Some(quote! { Number }),
        TypeRef::Bool => Some(quote! { Boolean }),
        _ => None,
    }
}

/// A `Duration` expression, in the largest whole unit.
fn duration(duration: Duration) -> TokenStream {
    let ty = quote! { ::std::time::Duration };
    let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        quote! { #ty::ZERO }
    } else if ms.is_multiple_of(1000) {
        let secs = Literal::u64_unsuffixed(ms / 1000);
        quote! { #ty::from_secs(#secs) }
    } else {
        let ms = Literal::u64_unsuffixed(ms);
        quote! { #ty::from_millis(#ms) }
    }
}

/// A `CachePolicy` expression, naming only what differs from `CachePolicy::new(ttl)`.
fn cache_literal(policy: &CachePolicy) -> TokenStream {
    let ty = quote! { ::specjet::cache::CachePolicy };
    let ttl = duration(policy.ttl);
    let mut fields = Vec::new();
    if !policy.stale_while_revalidate.is_zero() {
        let swr = duration(policy.stale_while_revalidate);
        fields.push(quote! { stale_while_revalidate: #swr, });
    }
    if !policy.stale_if_error.is_zero() {
        let sie = duration(policy.stale_if_error);
        fields.push(quote! { stale_if_error: #sie, });
    }
    let scope = match policy.scope {
        CacheScope::Public => Some(quote! { Public }),
        CacheScope::Private => Some(quote! { Private }),
        CacheScope::Auto => None,
    };
    if let Some(scope) = scope {
        let scope_type = quote! { ::specjet::cache::Scope };
        fields.push(quote! { scope: #scope_type::#scope, });
    }
    if !policy.vary.is_empty() {
        let vary = &policy.vary;
        fields.push(quote! { vary: &[#(#vary),*], });
    }
    if policy.statuses != specjet_model::cache::DEFAULT_STATUSES {
        let statuses = policy.statuses.iter().map(|s| Literal::u16_unsuffixed(*s));
        fields.push(quote! { statuses: &[#(#statuses),*], });
    }
    if !policy.tags.is_empty() {
        let tags = tag_templates(&policy.tags);
        fields.push(quote! { tags: #tags, });
    }
    if fields.is_empty() {
        quote! { #ty::new(#ttl) }
    } else {
        quote! { #ty { #(#fields)* ..#ty::new(#ttl) } }
    }
}

/// A `RateLimitPolicy` expression.
/// `Window::new(100, Duration::from_secs(60))` for each window.
fn window_literals(windows: &[RateWindow]) -> Vec<TokenStream> {
    windows
        .iter()
        .map(|window| {
            let window_type = quote! { ::specjet::rate_limit::Window };
            let limit = Literal::u32_unsuffixed(window.limit);
            let period = duration(window.period);
            if window.burst == window.limit {
                quote! { #window_type::new(#limit, #period) }
            } else {
                let burst = Literal::u32_unsuffixed(window.burst);
                quote! { #window_type::new(#limit, #period).with_burst(#burst) }
            }
        })
        .collect()
}

fn rate_limit_literal(policy: &RateLimitPolicy) -> TokenStream {
    let ty = quote! { ::specjet::rate_limit::RateLimitPolicy };
    let name = &policy.name;
    let windows = window_literals(&policy.windows);
    let key: Vec<TokenStream> = policy
        .key
        .iter()
        .map(|part| {
            let key = quote! { ::specjet::rate_limit::KeyPart };
            match part {
                RateKey::Ip => quote! { #key::Ip },
                RateKey::Principal => quote! { #key::Principal },
                RateKey::Global => quote! { #key::Global },
                RateKey::Header(name) => quote! { #key::Header(#name) },
                RateKey::Path(name) => quote! { #key::Path(#name) },
                RateKey::Query(name) => quote! { #key::Query(#name) },
            }
        })
        .collect();
    let mut policy_tokens = quote! { #ty::new(#name, &[#(#windows),*]) };
    if !key.is_empty() {
        policy_tokens = quote! { #policy_tokens.keyed_by(&[#(#key),*]) };
    }
    if policy.cost != 1 {
        let cost = Literal::u32_unsuffixed(policy.cost);
        policy_tokens = quote! { #policy_tokens.costing(#cost) };
    }
    if let Some(adaptive) = &policy.adaptive {
        let ty = quote! { ::specjet::rate_limit::AdaptiveLimit };
        let windows = window_literals(&adaptive.windows);
        let mut tokens = quote! { #ty::new(&[#(#windows),*]) };
        if let Some(in_flight) = adaptive.in_flight {
            let in_flight = Literal::u32_unsuffixed(in_flight);
            tokens = quote! { #tokens.when_in_flight(#in_flight) };
        }
        if let Some(latency) = adaptive.p95_above {
            let latency = duration(latency);
            tokens = quote! { #tokens.when_p95_above(#latency) };
        }
        if adaptive.hold != specjet_model::rate_limit::DEFAULT_ADAPTIVE_HOLD {
            let hold = duration(adaptive.hold);
            tokens = quote! { #tokens.holding(#hold) };
        }
        policy_tokens = quote! { #policy_tokens.adapting(#tokens) };
    }
    policy_tokens
}

/// The policy field (`field`, as the registry names it: `Policies::cache`) an attribute
/// macro sets in the `policies` hook, with its value in `policies`, as a full-path expression
/// (the user's crate imports nothing of ours).
pub(crate) fn override_field(field: &str, policies: &crate::ir::Policies) -> TokenStream {
    let none = quote! { ::std::option::Option::None };
    let name = field.trim_start_matches("Policies::");
    // Policies are built in a `const`, where slices of `const fn` results live for the whole
    // program.
    let value = match name {
        "cache" => match &policies.cache {
            Some(policy) => {
                let literal = cache_literal(policy);
                quote! { ::std::option::Option::Some({ const POLICY: ::specjet::cache::CachePolicy = #literal; POLICY }) }
            }
            None => none,
        },
        "rate_limit" => match &policies.rate_limit {
            Some(policy) => {
                let literal = rate_limit_literal(policy);
                quote! { ::std::option::Option::Some({ const POLICY: ::specjet::rate_limit::RateLimitPolicy = #literal; POLICY }) }
            }
            None => none,
        },
        "compress" => {
            let on = policies.compress;
            quote! { #on }
        }
        "timeout" => match policies.timeout {
            Some(timeout) => {
                let limit = duration(timeout);
                quote! { ::std::option::Option::Some(#limit) }
            }
            None => none,
        },
        "batch_group" => match &policies.batch_group {
            Some(group) => quote! { ::std::option::Option::Some(#group) },
            None => none,
        },
        "max_body_size" => match policies.max_body_size {
            Some(bytes) => {
                let bytes = Literal::u64_unsuffixed(bytes);
                quote! { ::std::option::Option::Some(#bytes) }
            }
            None => none,
        },
        other => {
            let message = format!("specjet: no attribute sets `Policies::{other}`");
            return quote! { ::std::compile_error!(#message) };
        }
    };
    let field = format_ident!("{}", name);
    quote! { #field: #value }
}

/// `.route(path, get(handler).post(handler))`, one per route.
fn routes(api: &Api) -> Vec<TokenStream> {
    api.routes
        .iter()
        .map(|route| {
            let path = &route.axum_path;
            let mut chain = Vec::new();
            for (index, (method, ops)) in route.methods.iter().enumerate() {
                let verb = method.as_str();
                let verb_ident = format_ident!("{}", verb);
                if let Some(op) = direct(api, ops).filter(|op| op.fan_out.is_some()) {
                    // Decided once, when the router is built: by hand, or composed.
                    let parts = fan_out_static(op);
                    let name = format_ident!("{}", op.name);
                    let variant = format_ident!("{}", op.id_variant());
                    let either = quote! {
                        if A::composed_by_hand(OperationId::#variant) {
                            ::specjet::axum::routing::#verb_ident(::specjet::__operation_handler!(#name))
                        } else {
                            ::specjet::axum::routing::#verb_ident(fan_out.handler(&#parts))
                        }
                    };
                    chain.push(if index == 0 {
                        either
                    } else {
                        quote! { .merge(#either) }
                    });
                    continue;
                }
                let handler = match direct(api, ops) {
                    Some(op) => {
                        let name = format_ident!("{}", op.name);
                        quote! { ::specjet::__operation_handler!(#name) }
                    }
                    None => {
                        let name = handler_name(api, ops);
                        quote! { #name::<A> }
                    }
                };
                if index == 0 {
                    chain.push(quote! { ::specjet::axum::routing::#verb_ident(#handler) });
                } else {
                    chain.push(quote! { .#verb_ident(#handler) });
                }
            }
            quote! { .route(#path, #(#chain)*) }
        })
        .collect()
}

/// The docs of the batch endpoint on `router_with`, when some operation is in a batch group:
/// its path, its groups and an example request.
fn batch_docs(api: &Api) -> TokenStream {
    let mut groups: std::collections::BTreeMap<&str, Vec<&Operation>> = Default::default();
    for op in &api.operations {
        if let Some(group) = &op.policies.batch_group {
            groups.entry(group).or_default().push(op);
        }
    }
    let Some(example) = groups.values().flatten().next() else {
        return TokenStream::new();
    };
    let batch = &api.settings.batch;
    let mut lines = vec![
        String::new(),
        format!(
            "`POST {}` calls operations of these batch groups together (at most {} per batch, {} at once), each through every layer:",
            batch.path, batch.max_requests, batch.concurrency
        ),
        String::new(),
    ];
    for (group, ops) in &groups {
        let ids: Vec<String> = ops.iter().map(|op| format!("`{}`", op.id)).collect();
        lines.push(format!("- `{group}`: {}", ids.join(", ")));
    }
    let url = example.path.replace('"', "\\\"");
    lines.extend([
        String::new(),
        "```json".to_owned(),
        format!(
            "{{\"requests\": [{{\"id\": \"1\", \"method\": \"{}\", \"url\": \"{url}\"}}]}}",
            example.method.as_str().to_uppercase()
        ),
        "```".to_owned(),
    ]);
    let lines = lines.iter().map(|line| {
        let line = if line.is_empty() {
            String::new()
        } else {
            format!(" {}", crate::source_text::comment_line(line))
        };
        quote! { #[doc = #line] }
    });
    quote! { #(#lines)* }
}

/// The static of a composite operation's parts.
fn fan_out_static(op: &Operation) -> Ident {
    format_ident!("FAN_OUT_{}", op.name.to_uppercase())
}

/// The parts of every composite operation (`x-fan-out`), as statics the fan-out handler
/// serves from.
fn fan_out_statics(api: &Api) -> Vec<TokenStream> {
    api.operations
        .iter()
        .filter_map(|op| {
            let fan_out = op.fan_out.as_ref()?;
            let name = fan_out_static(op);
            let count = Literal::usize_unsuffixed(fan_out.parts.len());
            let parts = fan_out.parts.iter().map(|part| {
                let field = &part.field;
                let target = &api.operations[part.operation];
                let path = &target.path;
                let optional = part.optional;
                let args = part.args.iter().map(|arg| {
                    let name = &arg.name;
                    let in_path = arg.in_path;
                    let from = match &arg.from {
                        crate::ir::ArgSource::Path(key) => {
                            quote! { ::specjet::fan_out::Source::Path(#key) }
                        }
                        crate::ir::ArgSource::Query(name) => {
                            quote! { ::specjet::fan_out::Source::Query(#name) }
                        }
                    };
                    quote! { ::specjet::fan_out::Arg { name: #name, in_path: #in_path, from: #from } }
                });
                quote! {
                    ::specjet::fan_out::Part {
                        field: #field,
                        path: #path,
                        args: &[#(#args),*],
                        optional: #optional,
                    }
                }
            });
            let doc = doc_attrs(Some(&format!(
                "The parts of `{}` (`x-fan-out`), called at once.",
                op.id
            )));
            Some(quote! {
                #doc
                static #name: [::specjet::fan_out::Part; #count] = [#(#parts),*];
            })
        })
        .collect()
}

fn handler_name(api: &Api, ops: &[usize]) -> Ident {
    format_ident!("handle_{}", api.operations[ops[0]].name)
}

/// The one operation a route method serves whatever the path holds, when it has one: every
/// templated segment is a whole parameter. Others check their segments' literal affixes.
fn direct<'a>(api: &'a Api, ops: &[usize]) -> Option<&'a Operation> {
    match ops {
        [single] => {
            let op = &api.operations[*single];
            op.path_captures.iter().all(|c| c.is_whole()).then_some(op)
        }
        _ => None,
    }
}

/// The handlers of route methods whose operation depends on literal affixes in a segment
/// (`{id}.json`, `{range}:append`); every other operation is served by
/// `specjet::__operation_handler!`.
fn handlers(api: &Api) -> Vec<TokenStream> {
    let mut out = Vec::new();
    for route in &api.routes {
        for (_, ops) in &route.methods {
            if direct(api, ops).is_none() {
                out.push(affix_handler(api, &handler_name(api, ops), ops));
            }
        }
    }
    out
}

/// The handler of a route method with literal affixes in its segments: reads the path
/// captures and calls the first operation whose affixes match (404 when none does).
fn affix_handler(api: &Api, handler: &Ident, ops: &[usize]) -> TokenStream {
    let mut branches = Vec::new();
    let mut exhaustive = false;
    for &index in ops {
        let op = &api.operations[index];
        let name = format_ident!("{}", op.name);
        let call = quote! {
            match #name::Request::read(parts, path, body).await {
                ::std::result::Result::Ok(request) => {
                    ::specjet::axum::response::IntoResponse::into_response(A::#name(&api, request).await)
                }
                ::std::result::Result::Err(problem) => ::specjet::axum::response::IntoResponse::into_response(problem),
            }
        };
        let conditions: Vec<TokenStream> = op
            .path_captures
            .iter()
            .filter(|capture| !capture.is_whole())
            .map(|capture| {
                let key = &capture.key;
                let pieces = capture.pieces.iter().map(|piece| match piece {
                    Piece::Literal(text) => quote! { ::specjet::extract::Piece::Literal(#text) },
                    Piece::Param(name) => quote! { ::specjet::extract::Piece::Param(#name) },
                });
                quote! { path.segment(#key, &[#(#pieces),*]).is_some() }
            })
            .collect();
        if conditions.is_empty() {
            branches.push(call);
            exhaustive = true;
            break;
        }
        branches.push(quote! {
            if #(#conditions)&&* {
                return #call;
            }
        });
    }
    let fallback = (!exhaustive).then(|| {
        quote! {
            ::specjet::axum::response::IntoResponse::into_response(::specjet::problem::not_found(parts.uri).await)
        }
    });
    let has_params = ops
        .iter()
        .any(|&op| !api.operations[op].path_captures.is_empty());
    quote! {
        async fn #handler<A: Api>(
            ::specjet::axum::extract::State(api): ::specjet::axum::extract::State<::std::sync::Arc<A>>,
            request: ::specjet::axum::extract::Request,
        ) -> ::specjet::axum::response::Response {
            let (parts, path, body) = match ::specjet::__private::split(request, #has_params).await {
                ::std::result::Result::Ok(split) => split,
                ::std::result::Result::Err(problem) => {
                    return ::specjet::axum::response::IntoResponse::into_response(problem);
                }
            };
            #(#branches)*
            #fallback
        }
    }
}

/// `settings()`: the root `x-specjet` settings as runtime values, naming only what differs
/// from the defaults.
fn settings_fn(api: &Api) -> TokenStream {
    let settings = &api.settings;
    let prefix = settings.cache.key_prefix.as_str();
    let mut changes = Vec::new();
    changes.extend(cache_changes(&settings.cache));
    changes.extend(rate_limit_changes(&settings.rate_limit));
    changes.extend(compression_changes(&settings.compression));
    changes.extend(batch_changes(&settings.batch));
    if let Some(limit) = settings.max_in_flight {
        let limit = Literal::u64_unsuffixed(limit);
        changes.push(quote! { settings.max_in_flight = ::std::option::Option::Some(#limit); });
    }
    let thresholds: BTreeSet<u64> = api
        .operations
        .iter()
        .filter_map(|op| op.slo.as_ref())
        .flat_map(|slo| slo.latency.iter().map(|objective| objective.threshold_ms))
        .collect();
    if !thresholds.is_empty() {
        let thresholds = thresholds
            .into_iter()
            .map(|ms| duration(Duration::from_millis(ms)));
        changes
            .push(quote! { settings.slo_thresholds = ::std::vec::Vec::from([#(#thresholds),*]); });
    }
    changes.extend(serving::settings(api));
    changes.extend(security::settings(api));
    let mut items = TokenStream::new();
    if let Some(database) = &settings.database {
        let (change, needs) = connections::database(database, prefix);
        changes.push(change);
        items.extend(needs);
    }
    if let Some(client) = &settings.http_client {
        let (change, needs) = connections::http_client(client, prefix);
        changes.push(change);
        items.extend(needs);
    }
    let body = if changes.is_empty() {
        quote! { ::specjet::ServiceSettings::named(#prefix) }
    } else {
        quote! {
            let mut settings = ::specjet::ServiceSettings::named(#prefix);
            #(#changes)*
            settings
        }
    };
    quote! {
        #items

        /// The service-wide settings the spec declares (`x-specjet`).
        pub fn settings() -> ::specjet::ServiceSettings {
            #body
        }

        /// The services the settings declare, configured from the environment and started:
        /// `REDIS_URL` enables the shared cache tier and shared rate-limit budgets, a
        /// declared database is connected (`DATABASE_URL`, else an embedded SQLite file),
        /// warmed and migrated, and a declared HTTP client is built. The error says what
        /// could not start.
        pub async fn services() -> ::std::result::Result<::specjet::Services, ::specjet::StartError> {
            ::specjet::Services::start(settings()).await
        }
    }
}

/// `settings.cache.* = ..` for what `x-specjet.cache` sets apart from the defaults.
fn cache_changes(cache: &specjet_model::CacheSettings) -> Vec<TokenStream> {
    let defaults = specjet_model::CacheSettings::default();
    let mut changes = Vec::new();
    if cache.backend != defaults.backend {
        let backend = match cache.backend {
            CacheBackend::Memory => quote! { Memory },
            CacheBackend::Redis => quote! { Redis },
            CacheBackend::Tiered => quote! { Tiered },
        };
        changes.push(quote! { settings.cache.backend = ::specjet::cache::Backend::#backend; });
    }
    if cache.capacity_bytes != defaults.capacity_bytes {
        let capacity = Literal::u64_unsuffixed(cache.capacity_bytes);
        changes.push(quote! { settings.cache.capacity_bytes = #capacity; });
    }
    changes
}

/// `settings.rate_limit.* = ..` for what `x-specjet.rate-limit` sets apart from the defaults.
fn rate_limit_changes(limits: &specjet_model::RateLimitSettings) -> Vec<TokenStream> {
    let defaults = specjet_model::RateLimitSettings::default();
    let mut changes = Vec::new();
    if limits.backend != defaults.backend {
        let backend = match limits.backend {
            RateLimitBackend::Memory => quote! { Memory },
            RateLimitBackend::Redis => quote! { Redis },
        };
        changes.push(
            quote! { settings.rate_limit.backend = ::specjet::rate_limit::Backend::#backend; },
        );
    }
    if limits.on_backend_error != defaults.on_backend_error {
        let on_error = match limits.on_backend_error {
            OnBackendError::Local => quote! { Local },
            OnBackendError::Allow => quote! { Allow },
            OnBackendError::Deny => quote! { Deny },
        };
        changes.push(quote! { settings.rate_limit.on_backend_error = ::specjet::rate_limit::OnBackendError::#on_error; });
    }
    if !limits.trusted_proxies.is_empty() {
        let proxies = &limits.trusted_proxies;
        changes.push(quote! {
            settings.rate_limit.trusted_proxies = [#(#proxies),*].map(::std::string::String::from).to_vec();
        });
    }
    if let Some(count) = limits.streams_per_caller {
        let count = Literal::u32_unsuffixed(count);
        changes.push(quote! { settings.rate_limit.streams_per_caller = ::std::option::Option::Some(#count); });
    }
    if let Some(name) = &limits.client_ip_header {
        changes.push(quote! { settings.rate_limit.client_ip_header = ::std::option::Option::Some(::std::string::String::from(#name)); });
    }
    changes
}

/// `settings.compression.* = ..` for what `x-specjet.compression` sets apart from the
/// defaults.
fn compression_changes(compression: &specjet_model::CompressionSettings) -> Vec<TokenStream> {
    let defaults = specjet_model::CompressionSettings::default();
    let mut changes = Vec::new();
    for (on, default, name) in [
        (compression.br, defaults.br, "br"),
        (compression.zstd, defaults.zstd, "zstd"),
        (compression.gzip, defaults.gzip, "gzip"),
    ] {
        if on != default {
            let field = format_ident!("{}", name);
            changes.push(quote! { settings.compression.#field = #on; });
        }
    }
    if compression.min_size != defaults.min_size {
        let min_size = Literal::u16_unsuffixed(compression.min_size);
        changes.push(quote! { settings.compression.min_size = #min_size; });
    }
    if compression.max_request_size != defaults.max_request_size {
        let max_request = Literal::usize_unsuffixed(compression.max_request_size);
        changes.push(quote! { settings.compression.max_request_size = #max_request; });
    }
    changes
}

/// `settings.batch.* = ..` for what `x-specjet.batch` sets apart from the defaults.
fn batch_changes(batch: &specjet_model::BatchSettings) -> Vec<TokenStream> {
    let defaults = specjet_model::BatchSettings::default();
    let mut changes = Vec::new();
    if batch.path != defaults.path {
        let path = &batch.path;
        changes.push(quote! { settings.batch.path = ::std::string::String::from(#path); });
    }
    for (value, default, field) in [
        (
            batch.max_requests,
            defaults.max_requests,
            quote! { max_requests },
        ),
        (
            batch.concurrency,
            defaults.concurrency,
            quote! { concurrency },
        ),
        (
            batch.max_body_size,
            defaults.max_body_size,
            quote! { max_body_size },
        ),
    ] {
        if value != default {
            let value = Literal::usize_unsuffixed(value);
            changes.push(quote! { settings.batch.#field = #value; });
        }
    }
    changes
}

fn trait_method(op: &Operation) -> TokenStream {
    let name = format_ident!("{}", op.name);
    let module = format_ident!("{}", op.name);
    let heading = format!(
        "`{} {}` (`{}`)",
        op.method.as_str().to_uppercase(),
        op.path,
        op.id
    );
    let docs = doc_attrs(
        join_docs(&[
            op.summary.as_deref(),
            op.description.as_deref(),
            Some(&heading),
        ])
        .as_deref(),
    );
    let deprecated = op.deprecated.then(|| quote! { #[deprecated] });
    if op.fan_out.is_some() {
        // Composed from its parts by the router; a handler that writes this method (and says
        // so in `composed_by_hand`) answers it instead: code wins.
        let id = &op.id;
        let composed = " Composed by `x-fan-out`: the router calls its parts at once. Write this \
            method to answer it by hand instead (`#[specjet::api]` then returns `true` from \
            `composed_by_hand` for it).";
        return quote! {
            #docs
            ///
            #[doc = #composed]
            #deprecated
            fn #name(&self, request: #module::Request) -> impl ::std::future::Future<Output = #module::Response> + ::std::marker::Send {
                let _ = request;
                async { #module::Response::Problem(::specjet::Problem::not_implemented(#id)) }
            }
        };
    }
    quote! {
        #docs
        #deprecated
        fn #name(&self, request: #module::Request) -> impl ::std::future::Future<Output = #module::Response> + ::std::marker::Send;
    }
}

#[cfg(test)]
mod tests {
    const SPEC: &str = r#"
openapi: 3.0.3
info: {title: Defaults, version: '1'}
paths:
  /orders:
    get:
      operationId: listOrders
      parameters:
        - {name: limit, in: query, schema: {type: integer, default: 10}}
        - {name: sort, in: query, schema: {type: string, enum: [newest-first, oldest-first], default: newest-first}}
        - {name: paid, in: query, schema: {type: boolean, default: false}}
        - {name: q, in: query, schema: {type: string}}
        - {name: X-Page, in: header, schema: {type: integer, default: 1}}
      responses:
        '200': {description: ok}
"#;

    #[test]
    fn query_defaults_are_written_as_a_query_writes_them() {
        let api = crate::analyze_text("defaults.yaml", SPEC).unwrap().api;
        let defaults = super::query_defaults(&api.operations[0]);
        let pairs: Vec<(&str, &str)> = defaults
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        // The enum's wire value, not its Rust variant; headers and parameters with no
        // default are not the query's.
        assert_eq!(
            pairs,
            [("limit", "10"), ("sort", "newest-first"), ("paid", "false")]
        );
    }

    #[test]
    fn a_parameters_default_is_documented_as_the_spec_writes_it() {
        let generated = crate::generate_text("defaults.yaml", SPEC).unwrap();
        let code: String = generated
            .files
            .iter()
            .map(|f| f.contents.as_str())
            .collect();
        // The enum's value in the spec, not the Rust variant (`NewestFirst`).
        assert!(
            code.contains("/// `\"newest-first\"` when absent."),
            "{code}"
        );
        assert!(code.contains("/// `10` when absent."), "{code}");
        assert!(code.contains("Sort::NewestFirst"), "{code}");
    }
}
