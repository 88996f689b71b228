//! The `Api` trait and the router.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::{doc_attrs, join_docs};
use crate::ir::{
    Api, CacheBackend, CacheScope, Method, OnBackendError, Operation, RateKey, RateLimitBackend,
    RateLimitPolicy,
};

pub fn module(api: &Api) -> TokenStream {
    let methods = api.operations.iter().map(trait_method);
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
    let mut routes = Vec::new();
    let mut handlers = Vec::new();
    for route in &api.routes {
        let path = &route.axum_path;
        let mut methods = Vec::new();
        for (method, ops) in &route.methods {
            let handler = format_ident!("handle_{}", api.operations[ops[0]].name);
            handlers.push(handler_fn(api, &handler, ops, route_has_params(api, ops)));
            methods.push(method_entry(api, *method, quote! { #handler::<A> }, ops));
        }
        routes.push(quote! {
            let methods = ::specjet::axum::routing::MethodRouter::<A>::new();
            #(#methods)*
            let router = router.route(#path, methods);
        });
    }
    let settings = settings_fn(api);
    // Prometheus metrics at /metrics, unless the API itself has that path.
    let metrics_route = (!api.routes.iter().any(|route| route.axum_path == "/metrics")).then(|| {
        quote! {
            let router = router.route("/metrics", ::specjet::axum::routing::get(::specjet::metrics::render));
        }
    });
    let operations_table = operations_table(api);
    let layers = shared_layers();
    quote! {
        #trait_docs
        pub trait Api: ::std::clone::Clone + ::std::marker::Send + ::std::marker::Sync + 'static {
            #(#methods)*

            /// Caching set in code on a handler (`#[cache(...)]` or `#[no_cache]` under
            /// `#[specjet::api]`), which wins over the spec's. Written by that macro.
            fn cache_override(_operation: &str) -> ::specjet::cache::PolicyOverride {
                ::specjet::cache::PolicyOverride::Spec
            }

            /// A rate limit set in code on a handler (`#[rate_limit(...)]` or
            /// `#[no_rate_limit]` under `#[specjet::api]`), which wins over the spec's.
            fn rate_limit_override(_operation: &str) -> ::specjet::rate_limit::PolicyOverride {
                ::specjet::rate_limit::PolicyOverride::Spec
            }

            /// Compression set in code on a handler (`#[no_compress]` under
            /// `#[specjet::api]`), which wins over the spec's `x-compress`.
            fn compress_override(_operation: &str) -> ::std::option::Option<bool> {
                ::std::option::Option::None
            }
        }

        #operations_table

        #settings

        /// The router serving every operation of `api`, with services configured from the
        /// environment (`REDIS_URL` enables the shared cache tier and shared rate-limit budgets).
        pub fn router<A: Api>(api: A) -> ::specjet::axum::Router {
            router_with(api, &::specjet::Services::from_env(settings()))
        }

        /// The router serving every operation of `api` with the given services, with
        /// problem+json answers for unknown paths (404) and methods (405).
        pub fn router_with<A: Api>(api: A, services: &::specjet::Services) -> ::specjet::axum::Router {
            let router = ::specjet::axum::Router::<A>::new();
            #(#routes)*
            #layers
            #metrics_route
            router
                .fallback(::specjet::problem::not_found)
                .method_not_allowed_fallback(::specjet::problem::method_not_allowed)
                .with_state(api)
        }

        #(#handlers)*
    }
}

/// `settings()`: the root `x-specjet` settings as runtime values.
fn settings_fn(api: &Api) -> TokenStream {
    let cache = &api.settings.cache;
    let backend = match cache.backend {
        CacheBackend::Memory => quote! { Memory },
        CacheBackend::Redis => quote! { Redis },
        CacheBackend::Tiered => quote! { Tiered },
    };
    let capacity = Literal::u64_unsuffixed(cache.capacity_bytes);
    let prefix = cache.key_prefix.clone().unwrap_or_else(|| {
        let name = crate::naming::field_name(&api.title);
        if name == "empty" {
            "specjet".to_owned()
        } else {
            name
        }
    });
    let limits = &api.settings.rate_limit;
    let limit_backend = match limits.backend {
        RateLimitBackend::Memory => quote! { Memory },
        RateLimitBackend::Redis => quote! { Redis },
    };
    let on_error = match limits.on_backend_error {
        OnBackendError::Local => quote! { Local },
        OnBackendError::Allow => quote! { Allow },
        OnBackendError::Deny => quote! { Deny },
    };
    let proxies = &limits.trusted_proxies;
    let client_ip_header = match &limits.client_ip_header {
        Some(name) => quote! { ::std::option::Option::Some(::std::string::String::from(#name)) },
        None => quote! { ::std::option::Option::None },
    };
    let compression = &api.settings.compression;
    let (br, zstd, gzip) = (compression.br, compression.zstd, compression.gzip);
    let min_size = Literal::u16_unsuffixed(compression.min_size);
    let max_request = Literal::u64_unsuffixed(compression.max_request_bytes);
    quote! {
        /// The service-wide settings the spec declares (`x-specjet`).
        pub fn settings() -> ::specjet::ServiceSettings {
            ::specjet::ServiceSettings {
                cache: ::specjet::cache::CacheSettings {
                    backend: ::specjet::cache::Backend::#backend,
                    capacity_bytes: #capacity,
                    key_prefix: ::std::string::String::from(#prefix),
                },
                rate_limit: ::specjet::rate_limit::RateLimitSettings {
                    backend: ::specjet::rate_limit::Backend::#limit_backend,
                    on_backend_error: ::specjet::rate_limit::OnBackendError::#on_error,
                    trusted_proxies: ::std::vec::Vec::from([#(::std::string::String::from(#proxies)),*]),
                    client_ip_header: #client_ip_header,
                    key_prefix: ::std::string::String::from(#prefix),
                },
                compression: ::specjet::compression::CompressionSettings {
                    br: #br,
                    zstd: #zstd,
                    gzip: #gzip,
                    min_size: #min_size,
                    max_request_size: #max_request,
                },
            }
        }
    }
}

/// `OPERATIONS`, and what the spec says of each operation's rate limit and compression.
fn operations_table(api: &Api) -> TokenStream {
    let entries = api.operations.iter().map(|op| {
        let id = &op.id;
        let method = format_ident!("{}", op.method.as_str().to_uppercase());
        let path = &api.routes[op.route].axum_path;
        let secured = op.secured;
        // Every parameter with the segment it is captured in (with its literal affixes, which
        // tell values apart just as well).
        let params = op.path_captures.iter().flat_map(|capture| {
            capture.pieces.iter().filter_map(move |piece| match piece {
                crate::ir::Piece::Param(name) => {
                    let key = &capture.key;
                    Some(quote! { (#name, #key) })
                }
                crate::ir::Piece::Literal(_) => None,
            })
        });
        quote! {
            ::specjet::OperationInfo {
                id: #id,
                method: ::specjet::http::Method::#method,
                path: #path,
                secured: #secured,
                params: &[#(#params),*],
            }
        }
    });
    let limited: Vec<TokenStream> = api
        .operations
        .iter()
        .filter_map(|op| {
            let policy = rate_limit_tokens(op.rate_limit.as_ref()?);
            let id = &op.id;
            Some(quote! { #id => ::std::option::Option::Some(#policy), })
        })
        .collect();
    let spec_rate_limit = if limited.is_empty() {
        quote! {
            fn spec_rate_limit(_operation: &str) -> ::std::option::Option<::specjet::rate_limit::RateLimitPolicy> {
                ::std::option::Option::None
            }
        }
    } else {
        quote! {
            fn spec_rate_limit(operation: &str) -> ::std::option::Option<::specjet::rate_limit::RateLimitPolicy> {
                match operation {
                    #(#limited)*
                    _ => ::std::option::Option::None,
                }
            }
        }
    };
    let uncompressed: Vec<&str> = api
        .operations
        .iter()
        .filter(|op| !op.compress)
        .map(|op| op.id.as_str())
        .collect();
    let spec_compress = if uncompressed.is_empty() {
        quote! {
            fn spec_compress(_operation: &str) -> bool {
                true
            }
        }
    } else {
        quote! {
            fn spec_compress(operation: &str) -> bool {
                !matches!(operation, #(#uncompressed)|*)
            }
        }
    };
    quote! {
        /// Every operation, for the layers that serve them all from one table.
        static OPERATIONS: &[::specjet::OperationInfo] = &[#(#entries),*];

        /// The rate limit the spec (`x-rate-limit`) gives an operation.
        #spec_rate_limit

        /// Whether the spec (`x-compress`) lets an operation's responses be compressed.
        #spec_compress
    }
}

/// The layers around every route: compression (inside) and rate limits (outside, so a
/// refused request costs nothing more), each with the code's choices over the spec's.
fn shared_layers() -> TokenStream {
    quote! {
        let compression = ::specjet::compression::layer(
            &services.settings().compression,
            ::specjet::compression::uncompressed(OPERATIONS, |operation| {
                A::compress_override(operation).unwrap_or_else(|| spec_compress(operation))
            }),
        );
        let router = if compression.is_active() {
            router.layer(compression)
        } else {
            router
        };
        let limits = services.rate_limiter().layer(::specjet::rate_limit::routes(OPERATIONS, |operation| {
            ::specjet::rate_limit::choose(A::rate_limit_override(operation), spec_rate_limit(operation))
        }));
        let router = if limits.is_empty() {
            router
        } else {
            router.layer(limits)
        };
    }
}

/// A `specjet::rate_limit::RateLimitPolicy` literal (also written by `#[rate_limit]` in the
/// macros).
pub fn rate_limit_tokens(policy: &RateLimitPolicy) -> TokenStream {
    let name = &policy.name;
    let windows = policy.windows.iter().map(|window| {
        let limit = Literal::u32_unsuffixed(window.limit);
        let period = Literal::u64_unsuffixed(window.period_ms);
        let burst = Literal::u32_unsuffixed(window.burst);
        quote! {
            ::specjet::rate_limit::Window {
                limit: #limit,
                period: ::std::time::Duration::from_millis(#period),
                burst: #burst,
            }
        }
    });
    let key = policy.key.iter().map(|part| match part {
        RateKey::Ip => quote! { ::specjet::rate_limit::KeyPart::Ip },
        RateKey::Principal => quote! { ::specjet::rate_limit::KeyPart::Principal },
        RateKey::Global => quote! { ::specjet::rate_limit::KeyPart::Global },
        RateKey::Header(name) => quote! { ::specjet::rate_limit::KeyPart::Header(#name) },
        RateKey::Path(name) => quote! { ::specjet::rate_limit::KeyPart::Path(#name) },
        RateKey::Query(name) => quote! { ::specjet::rate_limit::KeyPart::Query(#name) },
    });
    let cost = Literal::u32_unsuffixed(policy.cost);
    quote! {
        ::specjet::rate_limit::RateLimitPolicy {
            name: #name,
            windows: ::std::vec::Vec::from([#(#windows),*]),
            key: ::std::vec::Vec::from([#(#key),*]),
            cost: #cost,
        }
    }
}

/// Whether an operation's caching can be chosen at run time: a GET or HEAD operation with a
/// cache annotation, or any in a document that opts in (code may then cache it).
fn overridable(api: &Api, op: &Operation) -> bool {
    matches!(op.method, Method::Get | Method::Head) && (op.cache.is_some() || api.settings.opted_in)
}

/// One method of a route: the handler with the layers its operation's annotations (and the
/// code's cache attributes) ask for, added to `methods`.
fn method_entry(api: &Api, method: Method, handler: TokenStream, ops: &[usize]) -> TokenStream {
    let filter = method_filter(method);
    // Layers apply to a whole route method; only a method served by one operation gets them.
    let [index] = ops else {
        return quote! { let methods = methods.on(#filter, #handler); };
    };
    let op = &api.operations[*index];
    if overridable(api, op) {
        let operation = &op.id;
        let spec_policy = match &op.cache {
            Some(policy) => {
                let policy = policy_tokens(policy);
                quote! { ::std::option::Option::Some(#policy) }
            }
            None => quote! { ::std::option::Option::None },
        };
        let secured = op.secured;
        let params = capture_pairs(op, None);
        return quote! {
            let methods = match ::specjet::cache::choose(A::cache_override(#operation), #spec_policy) {
                ::std::option::Option::Some(policy) => methods.on(
                    #filter,
                    ::specjet::axum::handler::Handler::layer(
                        #handler,
                        services.cache().layer(::specjet::cache::CacheRoute {
                            operation: #operation,
                            policy,
                            secured: #secured,
                            params: &[#(#params),*],
                        }),
                    ),
                ),
                ::std::option::Option::None => methods.on(#filter, #handler),
            };
        };
    }
    if op.invalidates.is_empty() {
        return quote! { let methods = methods.on(#filter, #handler); };
    }
    let targets = op.invalidates.iter().map(|&target| {
        let target_op = &api.operations[target];
        let operation = &target_op.id;
        let shared = capture_pairs(op, Some(target_op));
        quote! {
            ::specjet::cache::InvalidationTarget {
                operation: #operation,
                shared: &[#(#shared),*],
            }
        }
    });
    quote! {
        let methods = methods.on(
            #filter,
            ::specjet::axum::handler::Handler::layer(
                #handler,
                services.cache().invalidation(::std::vec::Vec::from([#(#targets),*])),
            ),
        );
    }
}

/// A `specjet::cache::CachePolicy` literal (also written by `#[cache]` in the macros).
pub fn policy_tokens(policy: &crate::ir::CachePolicy) -> TokenStream {
    let ttl = Literal::u64_unsuffixed(policy.ttl_ms);
    let swr = Literal::u64_unsuffixed(policy.stale_while_revalidate_ms);
    let scope = match policy.scope {
        None => quote! { Auto },
        Some(CacheScope::Public) => quote! { Public },
        Some(CacheScope::Private) => quote! { Private },
    };
    let vary = &policy.vary;
    let statuses = policy.statuses.iter().map(|s| Literal::u16_unsuffixed(*s));
    quote! {
        ::specjet::cache::CachePolicy {
            ttl: ::std::time::Duration::from_millis(#ttl),
            stale_while_revalidate: ::std::time::Duration::from_millis(#swr),
            scope: ::specjet::cache::Scope::#scope,
            vary: ::std::vec::Vec::from([#(#vary),*]),
            statuses: ::std::vec::Vec::from([#(#statuses),*]),
        }
    }
}

/// `(parameter name, capture key)` for the whole-segment path parameters of `op`; with
/// `shared_with`, only those the other operation also has.
fn capture_pairs(op: &Operation, shared_with: Option<&Operation>) -> Vec<TokenStream> {
    let whole = |op: &Operation| -> Vec<(String, String)> {
        op.path_captures
            .iter()
            .filter_map(|capture| match capture.pieces.as_slice() {
                [crate::ir::Piece::Param(name)] => Some((name.clone(), capture.key.clone())),
                _ => None,
            })
            .collect()
    };
    let own = whole(op);
    let other = shared_with.map(whole);
    own.into_iter()
        .filter(|(name, _)| {
            other
                .as_ref()
                .is_none_or(|other| other.iter().any(|(n, _)| n == name))
        })
        .map(|(name, key)| quote! { (#name, #key) })
        .collect()
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
    quote! {
        #docs
        #deprecated
        fn #name(
            &self,
            request: super::operations::#module::Request,
        ) -> impl ::std::future::Future<Output = super::operations::#module::Response> + ::std::marker::Send;
    }
}

fn route_has_params(api: &Api, ops: &[usize]) -> bool {
    ops.iter()
        .any(|&op| !api.operations[op].path_captures.is_empty())
}

/// The handler of one method of one route: reads the path captures, picks the operation whose
/// literal affixes match (several only for paths that share a shape), extracts its request and
/// calls the trait method.
fn handler_fn(
    api: &Api,
    handler: &proc_macro2::Ident,
    ops: &[usize],
    has_params: bool,
) -> TokenStream {
    let path = if has_params {
        quote! {
            let path = match ::specjet::extract::PathParams::from_parts(&mut parts).await {
                ::std::result::Result::Ok(path) => path,
                ::std::result::Result::Err(problem) => {
                    return ::specjet::axum::response::IntoResponse::into_response(problem);
                }
            };
        }
    } else {
        quote! { let path = ::specjet::extract::PathParams::default(); }
    };
    let mut branches = Vec::new();
    let mut exhaustive = false;
    for &index in ops {
        let op = &api.operations[index];
        let call = call_operation(op);
        let conditions: Vec<TokenStream> = op
            .path_captures
            .iter()
            .filter(|capture| !capture.is_whole())
            .map(|capture| {
                let key = &capture.key;
                let pieces = capture.pieces.iter().map(|piece| match piece {
                    crate::ir::Piece::Literal(text) => {
                        quote! { ::specjet::extract::Piece::Literal(#text) }
                    }
                    crate::ir::Piece::Param(_) => quote! { ::specjet::extract::Piece::Param },
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
    let mutable = has_params.then(|| quote! { mut });
    let allow_deprecated = ops
        .iter()
        .any(|&op| api.operations[op].deprecated)
        .then(|| quote! { #[allow(deprecated)] });
    quote! {
        #allow_deprecated
        async fn #handler<A: Api>(
            ::specjet::axum::extract::State(api): ::specjet::axum::extract::State<A>,
            request: ::specjet::axum::extract::Request,
        ) -> ::specjet::axum::response::Response {
            let (#mutable parts, body) = request.into_parts();
            #path
            #(#branches)*
            #fallback
        }
    }
}

fn call_operation(op: &Operation) -> TokenStream {
    let name = format_ident!("{}", op.name);
    quote! {
        match super::operations::#name::Request::from_request(parts, &path, body).await {
            ::std::result::Result::Ok(request) => {
                ::specjet::axum::response::IntoResponse::into_response(A::#name(&api, request).await)
            }
            ::std::result::Result::Err(problem) => ::specjet::axum::response::IntoResponse::into_response(problem),
        }
    }
}

fn method_filter(method: Method) -> TokenStream {
    let name = format_ident!("{}", method.as_str().to_uppercase());
    quote! { ::specjet::axum::routing::MethodFilter::#name }
}
