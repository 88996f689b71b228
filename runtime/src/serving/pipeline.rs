//! The policy layer: one middleware, driven by the operations table, that serves every
//! operation's security, rate limit, caching and invalidation in that order (limits and
//! private entries key on the verified caller; a refused request costs nothing more; a cached
//! answer still pays its rate limit), all of it bounded by the operation's timeout.
//!
//! It runs after routing (`Router::layer`), so it finds the request's operation by method and
//! matched path in one lookup, then runs only the steps that operation has.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::policy::cache::{self, CacheRoute, InvalidationTarget};
use crate::policy::rate_limit;
use crate::policy::rate_limit::streams::StreamSlots;
use crate::request::request_body::UploadDeadline;
use crate::serving::operation::{ByRoute, OperationInfo, Policies};
use crate::Services;

/// What one operation's steps need, prepared once when the router is built.
struct Steps {
    operation: &'static OperationInfo,
    /// Its `security` is checked first.
    secured: bool,
    limit: Option<rate_limit::Prepared>,
    cache: Option<Arc<cache::Prepared>>,
    invalidates: &'static [InvalidationTarget],
    invalidate_tags: &'static [cache::Tag],
    timeout: Option<Duration>,
    /// It answers with a stream, and each caller holds a bounded number of those at once.
    stream_slots: Option<StreamSlots>,
}

/// The layer's state: the services and the steps of every operation that has any, behind one
/// `Arc` (the middleware clones its state for every request).
#[derive(Clone)]
pub(crate) struct Pipeline {
    shared: Arc<Shared>,
}

struct Shared {
    services: Services,
    security: crate::policy::security::Security,
    steps: ByRoute<Steps>,
}

impl Pipeline {
    /// The pipeline of `operations` served with their (resolved) policies; `None` when no
    /// operation has a step, so the router needs no layer at all.
    pub(crate) fn new(
        services: &Services,
        operations: &[(&'static OperationInfo, Policies)],
        security: &crate::policy::security::Security,
    ) -> Option<Pipeline> {
        // Operations that share a route and method (told apart by literal affixes inside a
        // segment, after this layer has run) are not cached: an entry could not be told to
        // belong to one of them. Their route's limit is the first one's.
        let mut per_route: HashMap<(&http::Method, &str), usize> = HashMap::new();
        for (operation, _) in operations {
            *per_route
                .entry((&operation.method, operation.path))
                .or_default() += 1;
        }
        let shared_route =
            |operation: &OperationInfo| per_route[&(&operation.method, operation.path)] > 1;
        // One count of held streams per caller, shared by every streaming operation.
        let stream_slots = services
            .rate_limiter()
            .settings()
            .streams_per_caller
            .map(StreamSlots::new);
        let steps = operations.iter().filter_map(|&(operation, policies)| {
            let (cache, invalidates, invalidate_tags) = if shared_route(operation) {
                (None, &[][..], &[][..])
            } else {
                (
                    policies.cache,
                    policies.invalidates,
                    policies.invalidate_tags,
                )
            };
            let steps = Steps {
                operation,
                secured: !operation.security.is_empty(),
                timeout: policies.timeout,
                limit: policies.rate_limit.map(|policy| {
                    rate_limit::Prepared::new(services.rate_limiter(), operation, policy)
                }),
                cache: cache.map(|policy| {
                    Arc::new(cache::Prepared::new(CacheRoute {
                        operation: operation.id,
                        policy,
                        secured: operation.secured,
                        params: operation.params,
                        types: operation.param_types,
                        query_defaults: operation.query_defaults,
                        query_types: operation.query_types,
                    }))
                }),
                invalidates,
                invalidate_tags,
                stream_slots: stream_slots.clone().filter(|_| operation.streams),
            };
            let any = steps.secured
                || steps.stream_slots.is_some()
                || steps.limit.is_some()
                || steps.cache.is_some()
                || !steps.invalidates.is_empty()
                || !steps.invalidate_tags.is_empty()
                || steps.timeout.is_some();
            any.then_some((operation, steps))
        });
        let steps = ByRoute::new(steps);
        (!steps.is_empty()).then(|| Pipeline {
            shared: Arc::new(Shared {
                services: services.clone(),
                security: security.clone(),
                steps,
            }),
        })
    }
}

/// The middleware (`axum::middleware::from_fn_with_state`).
pub(crate) async fn run(
    State(pipeline): State<Pipeline>,
    request: Request,
    next: Next,
) -> Response {
    let Shared {
        services,
        security,
        steps,
    } = &*pipeline.shared;
    let Some(steps) = steps.get(&request) else {
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    if steps.secured {
        let client_ip = services.rate_limiter().client_ip();
        let checked = crate::policy::security::authenticate(
            services.gate(),
            security,
            client_ip,
            steps.operation,
            &mut parts,
        )
        .await;
        if let Err(refused) = checked {
            return refused;
        }
    }
    let decision = match &steps.limit {
        Some(limit) => match limit.admit(services.rate_limiter(), &mut parts).await {
            Ok(decision) => decision,
            Err(refused) => return refused,
        },
        None => None,
    };
    let stream_slot = match &steps.stream_slots {
        Some(slots) => match slots.take(services.rate_limiter().client_ip(), &parts) {
            Ok(slot) => Some(slot),
            Err(refused) => return refused.into_response(),
        },
        None => None,
    };
    // An upload's timeout starts again with each chunk of its body.
    let upload = (steps.operation.streamed_body && steps.timeout.is_some()).then(|| {
        let deadline = UploadDeadline::new();
        parts.extensions.insert(deadline.clone());
        deadline
    });
    let request = Request::from_parts(parts, body);
    let cache = services.cache();
    // With a `stale-if-error` window the cache step bounds the handler itself, so that a
    // stale entry can answer in place of the timeout.
    let cache_bounds_handler = steps
        .cache
        .as_ref()
        .is_some_and(|route| route.serves_stale_on_error());
    let served = async {
        match &steps.cache {
            Some(route) => {
                let timeout = steps.timeout.filter(|_| cache_bounds_handler);
                cache::serve(cache, route, request, next, timeout).await
            }
            None if !steps.invalidates.is_empty() || !steps.invalidate_tags.is_empty() => {
                let drops = cache::Drops {
                    operations: steps.invalidates,
                    tags: steps.invalidate_tags,
                };
                cache::invalidate_after(cache, steps.operation, drops, request, next).await
            }
            None => next.run(request).await,
        }
    };
    let mut response = match (steps.timeout.filter(|_| !cache_bounds_handler), upload) {
        (Some(limit), None) => match tokio::time::timeout(limit, served).await {
            Ok(response) => response,
            // The handler's future is dropped here: its work stops at its next await.
            Err(_) => timed_out(steps.operation.id, limit),
        },
        (Some(limit), Some(upload)) => match upload.run(limit, served).await {
            Some(response) => response,
            None => timed_out(steps.operation.id, limit),
        },
        (None, _) => served.await,
    };
    if let (Some(limit), Some(decision)) = (&steps.limit, &decision) {
        limit.annotate(decision, response.headers_mut());
    }
    match stream_slot {
        Some(slot) => slot.hold(response),
        None => response,
    }
}

/// 504 as problem+json: the operation took longer than its `x-timeout`.
pub(crate) fn timed_out(operation: &str, limit: Duration) -> Response {
    crate::request::problem::Problem::new(http::StatusCode::GATEWAY_TIMEOUT)
        .with_detail(format!(
            "`{operation}` took longer than its timeout of {} ms",
            limit.as_millis()
        ))
        .into_response()
}
