//! The tower layers the generated router puts on cached and on invalidating operations.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::response::Response;
use http::{header, HeaderName, HeaderValue, Method, Request, StatusCode};
use tower::{Layer, Service};

use super::entry::{etag_for, now_millis, Entry, Freshness};
use super::key::{tag, CacheKey};
use super::{Cache, CacheRoute, Flight, Found, InvalidationTarget};

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// Response headers that describe a connection or the cache itself, never stored.
const NOT_STORED: [&str; 8] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "cache-control",
    "etag",
    "age",
    "cache-status",
    "vary",
];

async fn call<S>(mut inner: S, request: Request<Body>) -> Response
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
{
    match std::future::poll_fn(|cx| inner.poll_ready(cx)).await {
        Ok(()) => match inner.call(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        Err(never) => match never {},
    }
}

async fn captures(parts: &mut http::request::Parts) -> Vec<(String, String)> {
    match RawPathParams::from_request_parts(parts, &()).await {
        Ok(params) => params
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Caches one operation's responses; see [`Cache::layer`].
#[derive(Clone)]
pub struct CacheLayer {
    cache: Cache,
    route: Arc<CacheRoute>,
}

impl CacheLayer {
    pub(crate) fn new(cache: Cache, route: CacheRoute) -> Self {
        CacheLayer {
            cache,
            route: Arc::new(route),
        }
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = CacheService<S>;

    fn layer(&self, inner: S) -> CacheService<S> {
        CacheService {
            inner,
            cache: self.cache.clone(),
            route: self.route.clone(),
        }
    }
}

#[derive(Clone)]
pub struct CacheService<S> {
    inner: S,
    cache: Cache,
    route: Arc<CacheRoute>,
}

impl<S> Service<Request<Body>> for CacheService<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> BoxFuture {
        let inner = self.inner.clone();
        let cache = self.cache.clone();
        let route = self.route.clone();
        Box::pin(async move { Ok(serve(cache, route, inner, request).await) })
    }
}

/// Request directives of `Cache-Control` (and `Pragma: no-cache`).
struct Directives {
    no_cache: bool,
    no_store: bool,
}

fn directives(headers: &http::HeaderMap) -> Directives {
    let text: String = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .chain(headers.get_all(header::PRAGMA).iter())
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
        .to_ascii_lowercase();
    let has = |directive: &str| text.split(',').any(|d| d.trim() == directive);
    Directives {
        no_cache: has("no-cache") || text.split(',').any(|d| d.trim() == "max-age=0"),
        no_store: has("no-store"),
    }
}

async fn serve<S>(
    cache: Cache,
    route: Arc<CacheRoute>,
    inner: S,
    request: Request<Body>,
) -> Response
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return call(inner, request).await;
    }
    let (mut parts, body) = request.into_parts();
    let captured = captures(&mut parts).await;
    let key = CacheKey::for_request(&route, &parts, &captured);
    let directives = directives(&parts.headers);
    let if_none_match = parts
        .headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let request = Request::from_parts(parts, body);
    let stats = cache.stats();

    if directives.no_cache {
        // The client asks for a fresh answer: skip the read, still store what comes back.
        let (response, _) = fetch(
            &cache,
            &route,
            &key,
            inner,
            request,
            !directives.no_store,
            "fwd=request",
        )
        .await;
        return response;
    }

    if let Some(found) = cache.lookup(&key.key).await {
        let (entry, tier) = match found {
            Found::Memory(entry) => (entry, "memory"),
            Found::Redis(entry) => (entry, "redis"),
        };
        match entry.freshness() {
            Freshness::Fresh => {
                let counter = if tier == "memory" {
                    &stats.memory_hits
                } else {
                    &stats.redis_hits
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if if_none_match
                    .as_deref()
                    .is_some_and(|tags| etag_matches(tags, &entry.etag))
                {
                    stats.not_modified.fetch_add(1, Ordering::Relaxed);
                    return not_modified(
                        &entry,
                        &route,
                        key.private,
                        &format!("hit; detail={tier}"),
                    );
                }
                return respond(&entry, &route, key.private, &format!("hit; detail={tier}"));
            }
            Freshness::Stale => {
                stats.stale_hits.fetch_add(1, Ordering::Relaxed);
                // Serve the stale answer now; one background request refreshes it.
                if let Ok(guard) = cache.begin(&key.key) {
                    let (cache, route, key) = (cache.clone(), route.clone(), key.clone());
                    tokio::spawn(async move {
                        let (_, entry) =
                            fetch(&cache, &route, &key, inner, request, true, "fwd=stale").await;
                        guard.finish(entry);
                    });
                }
                return respond(
                    &entry,
                    &route,
                    key.private,
                    &format!("hit; fwd=stale; detail={tier}"),
                );
            }
            Freshness::Expired => {}
        }
    }

    stats.misses.fetch_add(1, Ordering::Relaxed);
    match cache.begin(&key.key) {
        Ok(guard) => {
            let (response, entry) = fetch(
                &cache,
                &route,
                &key,
                inner,
                request,
                !directives.no_store,
                "fwd=miss",
            )
            .await;
            guard.finish(entry);
            response
        }
        Err(mut waiting) => {
            // Another request computes this key: wait for its answer instead of running the
            // handler again.
            let entry = loop {
                if let Flight::Done(entry) = &*waiting.borrow() {
                    break entry.clone();
                }
                if waiting.changed().await.is_err() {
                    break None;
                }
            };
            match entry {
                Some(entry) => {
                    stats.collapsed.fetch_add(1, Ordering::Relaxed);
                    respond(&entry, &route, key.private, "fwd=miss; collapsed")
                }
                None => call(inner, request).await,
            }
        }
    }
}

/// Runs the handler and stores its response when it may be cached.
async fn fetch<S>(
    cache: &Cache,
    route: &CacheRoute,
    key: &CacheKey,
    inner: S,
    request: Request<Body>,
    may_store: bool,
    forward: &str,
) -> (Response, Option<Arc<Entry>>)
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
{
    let response = call(inner, request).await;
    let status = response.status().as_u16();
    let response_forbids = response
        .headers()
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("no-store") || v.contains("private") && !key.private);
    if !may_store
        || !route.policy.statuses.contains(&status)
        || response_forbids
        || response.headers().contains_key(header::SET_COOKIE)
    {
        let mut response = response;
        set_cache_status(&mut response, forward);
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(_) => {
            let mut response = Response::from_parts(parts, Body::empty());
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            return (response, None);
        }
    };
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| !NOT_STORED.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let entry = Arc::new(Entry {
        status,
        headers,
        etag: etag_for(&body),
        body,
        stored_at: now_millis(),
        ttl: route.policy.ttl,
        stale_while_revalidate: route.policy.stale_while_revalidate,
        tags: key.tags.clone(),
    });
    cache.store(&key.key, entry.clone()).await;
    let response = respond(&entry, route, key.private, &format!("{forward}; stored"));
    (response, Some(entry))
}

fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let weak = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    if_none_match
        .split(',')
        .any(|candidate| candidate.trim() == "*" || weak(candidate) == weak(etag))
}

fn cache_headers(response: &mut Response, entry: &Entry, route: &CacheRoute, private: bool) {
    let headers = response.headers_mut();
    let encoded = entry.headers.iter().any(|(k, _)| k == "content-encoding");
    // A strong validator does not survive a content-coding.
    let etag = if encoded {
        format!("W/{}", entry.etag)
    } else {
        entry.etag.clone()
    };
    let remaining = route.policy.ttl.saturating_sub(entry.age()).as_secs();
    let mut control = format!(
        "{}, max-age={remaining}",
        if private { "private" } else { "public" }
    );
    if !route.policy.stale_while_revalidate.is_zero() {
        control.push_str(&format!(
            ", stale-while-revalidate={}",
            route.policy.stale_while_revalidate.as_secs()
        ));
    }
    let mut vary: Vec<&str> = route.policy.vary.clone();
    vary.extend(["accept", "accept-encoding"]);
    if private {
        vary.extend(["authorization", "cookie"]);
    }
    let values = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, control),
        (header::AGE, entry.age().as_secs().to_string()),
        (header::VARY, vary.join(", ")),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(name, value);
        }
    }
}

fn set_cache_status(response: &mut Response, status: &str) {
    if let Ok(value) = HeaderValue::try_from(format!("specjet; {status}")) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("cache-status"), value);
    }
}

fn respond(entry: &Entry, route: &CacheRoute, private: bool, status: &str) -> Response {
    let mut response = Response::new(Body::from(entry.body.clone()));
    *response.status_mut() = StatusCode::from_u16(entry.status).unwrap_or(StatusCode::OK);
    for (name, value) in &entry.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    cache_headers(&mut response, entry, route, private);
    set_cache_status(&mut response, status);
    response
}

/// 304: the validators and caching headers, `Vary` included, and no body.
fn not_modified(entry: &Entry, route: &CacheRoute, private: bool, status: &str) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    cache_headers(&mut response, entry, route, private);
    set_cache_status(&mut response, status);
    response
}

/// Drops the entries of other operations after a successful response; see
/// [`Cache::invalidation`].
#[derive(Clone)]
pub struct InvalidationLayer {
    cache: Cache,
    targets: Arc<Vec<InvalidationTarget>>,
}

impl InvalidationLayer {
    pub(crate) fn new(cache: Cache, targets: Vec<InvalidationTarget>) -> Self {
        InvalidationLayer {
            cache,
            targets: Arc::new(targets),
        }
    }
}

impl<S> Layer<S> for InvalidationLayer {
    type Service = InvalidationService<S>;

    fn layer(&self, inner: S) -> InvalidationService<S> {
        InvalidationService {
            inner,
            cache: self.cache.clone(),
            targets: self.targets.clone(),
        }
    }
}

#[derive(Clone)]
pub struct InvalidationService<S> {
    inner: S,
    cache: Cache,
    targets: Arc<Vec<InvalidationTarget>>,
}

impl<S> Service<Request<Body>> for InvalidationService<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> BoxFuture {
        let inner = self.inner.clone();
        let cache = self.cache.clone();
        let targets = self.targets.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let captures = captures(&mut parts).await;
            let response = call(inner, Request::from_parts(parts, body)).await;
            if response.status().is_success() {
                for target in targets.iter() {
                    let value = target.shared.first().and_then(|(name, key)| {
                        captures
                            .iter()
                            .find(|(k, _)| k == key)
                            .map(|(_, v)| tag(target.operation, name, v))
                    });
                    // No shared parameter (or none captured): every entry of the operation.
                    cache
                        .invalidate(&value.unwrap_or_else(|| target.operation.to_owned()))
                        .await;
                }
            }
            Ok(response)
        })
    }
}
