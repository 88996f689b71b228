//! The glue of a generated server: handlers, the router's end, requests built in code.

use std::collections::HashMap;

use axum::body::Body;

/// The axum handler of one operation inside a generated `router_with<A: Api>`: the extracted
/// `Request` (its rejection is a problem answer) handed to the operation's `Api` method.
#[macro_export]
#[doc(hidden)]
macro_rules! __operation_handler {
    ($operation:ident) => {
        |$crate::axum::extract::State(api): $crate::axum::extract::State<::std::sync::Arc<A>>,
         request: $operation::Request| async move {
            $crate::__private::timed(A::$operation(&api, request)).await
        }
    };
}

/// The verified caller of a request to an operation that requires one; 401 when the
/// request did not pass the operation's security (read outside the generated router).
pub fn principal(
    parts: &http::request::Parts,
) -> Result<crate::policy::security::Principal, crate::Problem> {
    parts
        .extensions
        .get::<crate::policy::security::Principal>()
        .cloned()
        .ok_or_else(|| {
            crate::Problem::new(http::StatusCode::UNAUTHORIZED)
                .with_detail("the operation requires a verified caller")
        })
}

/// Runs an operation's handler, counting its time in the answer's `Server-Timing`.
pub use crate::observability::timing::handler as timed;

use specjet_model::paths::BUILTIN_PATHS;

/// What a generated `router_with` hands [`finish`] beside its routes, by name.
#[derive(Clone)]
pub struct Finish<'a> {
    /// Every operation and the policies it is served with.
    pub operations: Vec<(&'static crate::OperationInfo, crate::Policies)>,
    /// The service's own paths (`/metrics`, the docs, ...) that the API serves itself.
    pub taken: &'a [&'a str],
    /// Where the composites of `x-fan-out` find the finished router.
    pub fan_out: Option<&'a crate::compose::fan_out::Slot>,
    /// The verifiers of the spec's security schemes (`None`: an API without any).
    pub security: Option<&'a crate::policy::security::Security>,
    /// The `reject` hook every problem of an operation goes through.
    pub reject: crate::request::reject::RejectHook,
}

impl std::fmt::Debug for Finish<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finish")
            .field("operations", &self.operations.len())
            .field("taken", &self.taken)
            .field("fan_out", &self.fan_out.is_some())
            .field("security", &self.security.is_some())
            .finish_non_exhaustive()
    }
}

impl Finish<'_> {
    /// `operations`, answering problems through `reject`; nothing taken, no composites, no
    /// security schemes.
    pub fn of(
        operations: Vec<(&'static crate::OperationInfo, crate::Policies)>,
        reject: crate::request::reject::RejectHook,
    ) -> Self {
        Finish {
            operations,
            taken: &[],
            fan_out: None,
            security: None,
            reject,
        }
    }

    /// The operations `ids` of a generated API (their entries found with `info`), each
    /// served with the policies the `policies` hook makes of the spec's and answering
    /// problems through the `reject` hook.
    pub fn new<O: Copy + Send + Sync + 'static>(
        ids: &[O],
        info: fn(O) -> &'static crate::OperationInfo,
        policies: fn(O, crate::Policies) -> crate::Policies,
        reject: fn(O, crate::Problem) -> axum::response::Response,
    ) -> Self {
        let operations = ids
            .iter()
            .map(|&id| (info(id), policies(id, info(id).policies)))
            .collect();
        let by_id: Vec<(&'static str, O)> = ids.iter().map(|&id| (info(id).id, id)).collect();
        // An entry that is not one of `ids` (none a generated router serves) answers in
        // problem+json.
        let reject = move |operation: &'static crate::OperationInfo, problem| match by_id
            .iter()
            .find(|(id, _)| *id == operation.id)
        {
            Some(&(_, id)) => reject(id, problem),
            None => crate::request::reject::problem_json(operation, problem),
        };
        Finish::of(operations, std::sync::Arc::new(reject))
    }
}

/// How bodies are read first (`request_body::ReadFirst`): the service's limits, and the operations that read their
/// body as a stream or have a limit of their own (`x-max-body-size`).
fn body_bounds(
    settings: &crate::ServiceSettings,
    operations: &[(&'static crate::OperationInfo, crate::Policies)],
) -> crate::request::request_body::Bounds {
    crate::request::request_body::Bounds {
        limit: settings.compression.max_request_size,
        idle: settings.server.body_timeout,
        upload_limit: settings.server.max_upload_size,
        routes: std::sync::Arc::new(crate::serving::operation::ByRoute::new(
            operations.iter().filter_map(|(operation, policies)| {
                let limit = policies
                    .max_body_size
                    .map(|bytes| usize::try_from(bytes).unwrap_or(usize::MAX));
                (operation.streamed_body || limit.is_some()).then_some((
                    *operation,
                    crate::request::request_body::RouteBody {
                        streamed: operation.streamed_body,
                        limit,
                    },
                ))
            }),
        )),
    }
}

/// The end of every generated `router_with`: the operations' policies served
/// ([`crate::Services::apply`]), problem+json answers for unknown paths (404) and methods
/// (405), the batch endpoint, the document and the docs, CORS around all of them, the whole
/// served under the base path; and the service's own endpoints at the root (`/metrics`,
/// `/healthz`, `/readyz`, except those in `taken`, which the API serves itself). The
/// composites of `fan_out` call their parts through the operations' router. Each operation's
/// `security` is checked with the verifiers of `security`. Every problem an operation answers
/// goes through `reject` ([`crate::request::reject`]).
pub fn finish(
    router: axum::Router,
    services: &crate::Services,
    finish: Finish<'_>,
) -> axum::Router {
    let Finish {
        operations,
        taken,
        fan_out,
        security,
        reject,
    } = finish;
    let operations = operations.as_slice();
    let none = crate::policy::security::Security::none();
    let security = security.unwrap_or(&none);
    let settings = services.settings();
    crate::serving::serve::configure(&settings.server);
    let api = services
        .apply_secured(router, operations, security)
        .fallback(crate::request::problem::not_found)
        .method_not_allowed_fallback(crate::request::problem::method_not_allowed)
        // Around every operation and the fallbacks, in one layer (one boxed route clone per
        // request): metrics, request ids, Server-Timing and the `reject` hook for the
        // problems of operations; inside it, the body read whole before any slot, connection
        // or timeout is taken for it (a stalled body is the client's 408).
        .layer(
            tower::ServiceBuilder::new()
                .layer(crate::observability::observe::ObserveLayer::new(
                    operations,
                    reject,
                    settings.observability,
                ))
                .layer(body_bounds(settings, operations)),
        );
    // The batch endpoint sends its items through everything above (so they meet every
    // layer), and is itself outside the operations' layers.
    let batch_path = settings.batch.path.as_str();
    let mut methods_by_path: HashMap<String, Vec<http::Method>> = HashMap::new();
    for (operation, _) in operations {
        methods_by_path
            .entry(operation.path.to_owned())
            .or_default()
            .push(operation.method.clone());
    }
    let mut api =
        match crate::compose::batch::Batch::new(api.clone(), operations, settings, security) {
            Some(batch) if !taken.contains(&batch_path) => {
                methods_by_path.insert(batch_path.to_owned(), vec![http::Method::POST]);
                api.route(
                    batch_path,
                    axum::routing::post(crate::compose::batch::handle).with_state(batch),
                )
            }
            _ => api,
        };
    if let Some(slot) = fan_out {
        slot.fill(&api);
    }
    let base_path = settings.base_path.as_str();
    if let Some((docs, paths)) =
        crate::serving::docs::routes(&settings.docs, settings.document, base_path, taken)
    {
        for path in paths {
            methods_by_path.insert(path, vec![http::Method::GET]);
        }
        api = api.merge(docs);
    }
    if let Some(cors) = &settings.cors {
        match crate::serving::cors::layer(cors, methods_by_path) {
            Ok(cors) => api = api.layer(cors),
            Err(error) => tracing::error!("CORS is off: {error}"),
        }
    }
    let mut root = if base_path.is_empty() {
        api
    } else {
        axum::Router::new().fallback_service(mounted(base_path, api))
    };
    for path in BUILTIN_PATHS {
        // Under a base path the API's own paths cannot meet the root's.
        if base_path.is_empty() && taken.contains(&path) {
            continue;
        }
        root = match path {
            "/metrics" => root.route(
                path,
                axum::routing::get(crate::observability::metrics::render),
            ),
            "/healthz" => root.route(path, axum::routing::get(crate::serving::health::healthz)),
            _ => root.route_service(
                path,
                axum::routing::get(crate::serving::health::readyz).with_state(services.clone()),
            ),
        };
    }
    root
}

/// `api` served under `base_path`: a request below it reaches `api` with the base path taken
/// off its URI (so routes, policies and cache keys see the spec's paths); any other is 404.
fn mounted(
    base_path: &str,
    api: axum::Router,
) -> impl tower::Service<
    axum::extract::Request,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
       + Send
       + Sync
       + 'static {
    use axum::response::IntoResponse;
    use tower::ServiceExt;
    let base_path: std::sync::Arc<str> = base_path.into();
    tower::service_fn(move |mut request: axum::extract::Request| {
        let api = api.clone();
        let inner = crate::compose::dispatch::below(request.uri(), &base_path);
        async move {
            match inner {
                Some(uri) => {
                    *request.uri_mut() = uri;
                    api.oneshot(request).await
                }
                None => Ok(crate::request::problem::not_found(request.uri().clone())
                    .await
                    .into_response()),
            }
        }
    })
}

/// A request as generated `Request::read` takes it: its parts, the path captures of the
/// matched route (none when `has_params` is false) and its body.
pub async fn split(
    request: axum::extract::Request,
    has_params: bool,
) -> Result<
    (
        http::request::Parts,
        crate::request::extract::PathParams,
        Body,
    ),
    crate::Problem,
> {
    let (mut parts, body) = request.into_parts();
    let path = if has_params {
        crate::request::extract::PathParams::from_parts(&mut parts).await?
    } else {
        crate::request::extract::PathParams::default()
    };
    Ok((parts, path, body))
}

/// A generated `Request`'s `FromRequest`: the request split as `read` takes it, then read.
/// One generic function instead of an `async` body per operation keeps generated crates
/// quick to check.
pub async fn from_request<T, F, Fut>(
    request: axum::extract::Request,
    has_params: bool,
    read: F,
) -> Result<T, crate::Problem>
where
    F: FnOnce(http::request::Parts, crate::request::extract::PathParams, Body) -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::Problem>>,
{
    let (parts, path, body) = split(request, has_params).await?;
    read(parts, path, body).await
}

/// The HTTP parts of a request built in code (`Request::new`): its method, the URI `/`, no
/// headers and no extensions; `with_parts` replaces them when a handler needs more.
pub fn synthetic_parts(method: http::Method) -> http::request::Parts {
    let mut request = http::Request::new(());
    *request.method_mut() = method;
    request.into_parts().0
}

/// What a generated module whose spec declares `x-specjet.database` invokes: nothing with the
/// `database` feature, a compile error that says what to do without it.
#[cfg(feature = "database")]
#[doc(hidden)]
#[macro_export]
macro_rules! __requires_database {
    () => {};
}

/// See the other definition.
#[cfg(not(feature = "database"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __requires_database {
    () => {
        ::core::compile_error!(
            "this spec declares `x-specjet.database`: enable specjet's `database` feature \
             (`specjet = { version = \"...\", features = [\"database\"] }`)"
        );
    };
}

/// What a generated module whose spec declares `x-specjet.http-client` invokes: nothing with
/// the `http-client` feature, a compile error that says what to do without it.
#[cfg(feature = "http-client")]
#[doc(hidden)]
#[macro_export]
macro_rules! __requires_http_client {
    () => {};
}

/// See the other definition.
#[cfg(not(feature = "http-client"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __requires_http_client {
    () => {
        ::core::compile_error!(
            "this spec declares `x-specjet.http-client`: enable specjet's `http-client` feature \
             (`specjet = { version = \"...\", features = [\"http-client\"] }`)"
        );
    };
}

/// What a generated module whose spec configures a `jwt` verifier in `x-specjet.security`
/// invokes: nothing with the `jwt` feature, a compile error that says what to do without it.
#[cfg(feature = "jwt")]
#[doc(hidden)]
#[macro_export]
macro_rules! __requires_jwt {
    () => {};
}

/// See the other definition.
#[cfg(not(feature = "jwt"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __requires_jwt {
    () => {
        ::core::compile_error!(
            "this spec verifies JWTs (`jwt` in `x-specjet.security`): enable specjet's `jwt` \
             feature (`specjet = { version = \"...\", features = [\"jwt\"] }`)"
        );
    };
}
