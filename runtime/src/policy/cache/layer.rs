//! Serving a cached operation (lookup, single-flight, stale-while-revalidate, validators) and
//! an invalidating one, as steps of the policy layer (`crate::serving::pipeline`).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::middleware::Next;
use axum::response::Response;
use http::{header, HeaderName, HeaderValue, Method, Request, StatusCode};

use super::entry::{now_millis, Entry, Freshness, Windows};
use super::key::{own_tag, tag, CacheKey};
use super::{Cache, CacheRoute, Flight, Found, InvalidationTarget};
use crate::observability::metrics;
use crate::serving::operation::OperationInfo;

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

async fn captures(parts: &mut http::request::Parts) -> Vec<(String, String)> {
    match RawPathParams::from_request_parts(parts, &()).await {
        Ok(params) => params
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A cached operation with the header values every response of it shares, built once.
pub(crate) struct Prepared {
    route: CacheRoute,
    vary_public: HeaderValue,
    vary_private: HeaderValue,
    counters: metrics::CacheCounters,
}

impl Prepared {
    /// Whether a stale entry may answer in place of a failed handler.
    pub(crate) fn serves_stale_on_error(&self) -> bool {
        !self.route.policy.stale_if_error.is_zero()
    }

    pub(crate) fn new(route: CacheRoute) -> Prepared {
        let vary = |private: bool| {
            let mut names: Vec<&str> = route.policy.vary.to_vec();
            names.extend(["accept", "accept-encoding"]);
            if private {
                names.extend(["authorization", "cookie"]);
            }
            HeaderValue::try_from(names.join(", "))
                .unwrap_or_else(|_| HeaderValue::from_static("accept, accept-encoding"))
        };
        Prepared {
            vary_public: vary(false),
            vary_private: vary(true),
            counters: metrics::CacheCounters::new(route.operation),
            route,
        }
    }
}

/// `Cache-Status` (RFC 9211): what the cache did with the request.
pub(crate) const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// The cache's outcome as a `Server-Timing` description, from the `Cache-Status` this layer
/// wrote (`hit memory`, `stale redis`, `miss`, ...).
pub(crate) fn timing_desc(cache_status: &str) -> Option<&'static str> {
    Some(match cache_status {
        status::HIT_MEMORY => "hit memory",
        status::HIT_REDIS => "hit redis",
        status::STALE_MEMORY => "stale memory",
        status::STALE_REDIS => "stale redis",
        status::STALE_IF_ERROR => "stale-if-error",
        status::MISS_STORED | status::MISS => "miss",
        status::COLLAPSED => "collapsed",
        status::REQUEST_STORED | status::REQUEST => "bypassed",
        status::REFRESH_STORED | status::REFRESH => "revalidated",
        _ => return None,
    })
}

/// `Cache-Status` values (RFC 9211).
mod status {
    pub(super) const HIT_MEMORY: &str = "specjet; hit; detail=memory";
    pub(super) const HIT_REDIS: &str = "specjet; hit; detail=redis";
    pub(super) const STALE_MEMORY: &str = "specjet; hit; fwd=stale; detail=memory";
    pub(super) const STALE_REDIS: &str = "specjet; hit; fwd=stale; detail=redis";
    pub(super) const MISS_STORED: &str = "specjet; fwd=miss; stored";
    pub(super) const MISS: &str = "specjet; fwd=miss";
    pub(super) const COLLAPSED: &str = "specjet; fwd=miss; collapsed";
    pub(super) const REQUEST_STORED: &str = "specjet; fwd=request; stored";
    pub(super) const REQUEST: &str = "specjet; fwd=request";
    pub(super) const REFRESH_STORED: &str = "specjet; fwd=stale; stored";
    pub(super) const REFRESH: &str = "specjet; fwd=stale";
    /// The handler failed (5xx or its timeout) and a stale entry answered instead.
    pub(super) const STALE_IF_ERROR: &str = "specjet; hit; fwd=stale; detail=stale-if-error";
}

/// Request directives of `Cache-Control` (and `Pragma: no-cache`).
#[derive(Default)]
struct Directives {
    no_cache: bool,
    no_store: bool,
}

fn directives(headers: &http::HeaderMap) -> Directives {
    if !headers.contains_key(header::CACHE_CONTROL) && !headers.contains_key(header::PRAGMA) {
        return Directives::default();
    }
    // Read in place (no joined, lower-cased copy): directives are case-insensitive.
    let directives = || {
        headers
            .get_all(header::CACHE_CONTROL)
            .iter()
            .chain(headers.get_all(header::PRAGMA).iter())
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
    };
    let has = |directive: &str| directives().any(|d| d.eq_ignore_ascii_case(directive));
    Directives {
        no_cache: has("no-cache") || has("max-age=0"),
        no_store: has("no-store"),
    }
}

/// Answers a request of a cached operation: from the cache when it can, else from the
/// handler (`next`), storing what may be stored.
///
/// `timeout` bounds the handler here (it is the operation's, given when the policy has a
/// `stale-if-error` window), so that a handler past it can be answered by a stale entry.
pub(crate) async fn serve(
    cache: &Cache,
    route: &Arc<Prepared>,
    request: Request<Body>,
    next: Next,
    timeout: Option<Duration>,
) -> Response {
    let handler = Handler {
        next,
        timeout,
        operation: route.route.operation,
    };
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return handler.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let route_of = &route.route;
    let captured = crate::serving::operation::canonical_captures(
        route_of.params,
        route_of.types,
        captures(&mut parts).await,
    );
    let request = Request::from_parts(parts, body);
    let key = CacheKey::for_request(route_of, &request, &captured);
    let directives = directives(request.headers());
    let stats = cache.stats();
    // The validators the client holds: whatever answer this request gets from an entry (a
    // hit, a stale one, a fresh fetch), a match is a 304.
    let if_none_match = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let conditional = |response: Response, entry: Option<&Arc<Entry>>, status: &'static str| match (
        entry,
        if_none_match.as_deref(),
    ) {
        (Some(entry), Some(tags)) => match matching_validator(tags, &entry.etag) {
            Some(validator) => {
                stats.not_modified.fetch_add(1, Ordering::Relaxed);
                not_modified(entry, route, key.private, status, validator)
            }
            None => response,
        },
        _ => response,
    };

    if directives.no_cache {
        // The client asks for a fresh answer: skip the read, still store what comes back.
        let (response, entry) = fetch(
            cache,
            route,
            &key,
            handler,
            request,
            !directives.no_store,
            Forward::Request,
        )
        .await;
        return conditional(response, entry.as_ref(), Forward::Request.status(true));
    }

    // An expired entry inside its `stale-if-error` window answers if the handler fails.
    let mut fallback: Option<Arc<Entry>> = None;
    if let Some(found) = cache.lookup(&key.key, &key.tags).await {
        let (entry, in_memory) = match found {
            Found::Memory(entry) => (entry, true),
            Found::Redis(entry) => (entry, false),
        };
        match entry.freshness() {
            Freshness::Fresh => {
                let if_none_match = if_none_match.as_deref();
                return fresh_hit(cache, &entry, in_memory, route, key.private, if_none_match);
            }
            Freshness::Stale => {
                let status = stale_hit(cache, route, &key, handler, request, in_memory);
                let response = respond(&entry, route, key.private, status);
                return conditional(response, Some(&entry), status);
            }
            Freshness::Expired => {
                if entry.usable_on_error() {
                    fallback = Some(entry);
                }
            }
        }
    }
    let stale_if_error = |response: Response| match &fallback {
        Some(entry) if response.status().is_server_error() => {
            route.counters.stale_if_error.increment(1);
            respond(entry, route, key.private, status::STALE_IF_ERROR)
        }
        _ => response,
    };

    stats.misses.fetch_add(1, Ordering::Relaxed);
    route.counters.miss.increment(1);
    match cache.begin(&key.key) {
        Ok(guard) => {
            let (response, entry) = fetch(
                cache,
                route,
                &key,
                handler,
                request,
                !directives.no_store,
                Forward::Miss,
            )
            .await;
            let response = stale_if_error(response);
            let response = conditional(response, entry.as_ref(), Forward::Miss.status(true));
            guard.finish(entry);
            response
        }
        Err(waiting) => {
            // Another request computes this key: wait for its answer instead of running the
            // handler again.
            match flight_answer(waiting).await {
                Some(entry) => {
                    stats.collapsed.fetch_add(1, Ordering::Relaxed);
                    route.counters.collapsed.increment(1);
                    let response = respond(&entry, route, key.private, status::COLLAPSED);
                    conditional(response, Some(&entry), status::COLLAPSED)
                }
                None => stale_if_error(handler.run(request).await),
            }
        }
    }
}

/// A fresh entry's answer: 304 when the client holds its validator, else the entry; counted
/// per tier.
fn fresh_hit(
    cache: &Cache,
    entry: &Arc<Entry>,
    in_memory: bool,
    route: &Arc<Prepared>,
    private: bool,
    if_none_match: Option<&str>,
) -> Response {
    let stats = cache.stats();
    let counters = &route.counters;
    let (status, hits, not_modified_here, hit_here) = if in_memory {
        let (ours, theirs) = (&counters.not_modified_memory, &counters.hit_memory);
        (status::HIT_MEMORY, &stats.memory_hits, ours, theirs)
    } else {
        let (ours, theirs) = (&counters.not_modified_redis, &counters.hit_redis);
        (status::HIT_REDIS, &stats.redis_hits, ours, theirs)
    };
    hits.fetch_add(1, Ordering::Relaxed);
    if let Some(validator) = if_none_match.and_then(|tags| matching_validator(tags, &entry.etag)) {
        stats.not_modified.fetch_add(1, Ordering::Relaxed);
        not_modified_here.increment(1);
        return not_modified(entry, route, private, status, validator);
    }
    hit_here.increment(1);
    respond(entry, route, private, status)
}

/// A stale entry found: counted, and one background request refreshes it (unless another
/// already does). The status to answer the stale entry with.
fn stale_hit(
    cache: &Cache,
    route: &Arc<Prepared>,
    key: &CacheKey,
    handler: Handler,
    request: Request<Body>,
    in_memory: bool,
) -> &'static str {
    cache.stats().stale_hits.fetch_add(1, Ordering::Relaxed);
    let counter = if in_memory {
        &route.counters.stale_memory
    } else {
        &route.counters.stale_redis
    };
    counter.increment(1);
    if let Ok(guard) = cache.begin(&key.key) {
        let (cache, route, key) = (cache.clone(), route.clone(), key.clone());
        tokio::spawn(async move {
            let (_, entry) =
                fetch(&cache, &route, &key, handler, request, true, Forward::Stale).await;
            guard.finish(entry);
        });
    }
    if in_memory {
        status::STALE_MEMORY
    } else {
        status::STALE_REDIS
    }
}

/// The entry another request computing the same key stores (`None` when it stores none).
async fn flight_answer(mut waiting: tokio::sync::watch::Receiver<Flight>) -> Option<Arc<Entry>> {
    loop {
        if let Flight::Done(entry) = &*waiting.borrow() {
            return entry.clone();
        }
        if waiting.changed().await.is_err() {
            return None;
        }
    }
}

/// The rest of the stack (the handler), bounded by the operation's timeout when the cache
/// step owns it.
#[derive(Clone)]
struct Handler {
    next: Next,
    timeout: Option<Duration>,
    operation: &'static str,
}

impl Handler {
    async fn run(self, request: Request<Body>) -> Response {
        match self.timeout {
            Some(limit) => match tokio::time::timeout(limit, self.next.run(request)).await {
                Ok(response) => response,
                // The handler's future is dropped here: its work stops at its next await.
                Err(_) => crate::serving::pipeline::timed_out(self.operation, limit),
            },
            None => self.next.run(request).await,
        }
    }
}

/// Why the handler was asked.
#[derive(Clone, Copy)]
enum Forward {
    Miss,
    Request,
    Stale,
}

impl Forward {
    fn status(self, stored: bool) -> &'static str {
        match (self, stored) {
            (Forward::Miss, true) => status::MISS_STORED,
            (Forward::Miss, false) => status::MISS,
            (Forward::Request, true) => status::REQUEST_STORED,
            (Forward::Request, false) => status::REQUEST,
            (Forward::Stale, true) => status::REFRESH_STORED,
            (Forward::Stale, false) => status::REFRESH,
        }
    }
}

/// Runs the handler and stores its response when it may be cached.
async fn fetch(
    cache: &Cache,
    route: &Prepared,
    key: &CacheKey,
    handler: Handler,
    request: Request<Body>,
    may_store: bool,
    forward: Forward,
) -> (Response, Option<Arc<Entry>>) {
    // Before the handler reads anything: a write that invalidates meanwhile kills this answer.
    let began = cache.begin_read(&key.tags);
    let response = handler.run(request).await;
    let status = response.status().as_u16();
    let response_forbids = response
        .headers()
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("no-store") || v.contains("private") && !key.private);
    // An answer the handler encoded itself was encoded for this client: entries are shared
    // by clients of every `Accept-Encoding`.
    if !may_store
        || !route.route.policy.statuses.contains(&status)
        || response_forbids
        || response.headers().contains_key(header::SET_COOKIE)
        || response.headers().contains_key(header::CONTENT_ENCODING)
    {
        let mut response = response;
        set_cache_status(&mut response, forward.status(false));
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
    let policy = &route.route.policy;
    let entry = Arc::new(Entry::new(
        status,
        headers,
        body,
        now_millis(),
        Windows::from(policy),
        key.tags.clone(),
    ));
    let stored = cache.store(&key.key, entry.clone(), began);
    if stored {
        route.counters.stored.increment(1);
    }
    let response = respond(&entry, route, key.private, forward.status(stored));
    (response, Some(entry))
}

/// The validator of `If-None-Match` that names the entry with `etag` (weak comparison, as
/// `If-None-Match` asks), as the client wrote it; `*` names the entry's own.
fn matching_validator(if_none_match: &str, etag: &str) -> Option<HeaderValue> {
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let wanted = opaque(etag);
    if_none_match.split(',').find_map(|candidate| {
        let candidate = candidate.trim();
        if candidate == "*" {
            HeaderValue::from_str(etag).ok()
        } else if opaque(candidate) == wanted {
            HeaderValue::from_str(candidate).ok()
        } else {
            None
        }
    })
}

fn cache_headers(
    headers: &mut http::HeaderMap,
    entry: &Entry,
    route: &Prepared,
    private: bool,
    status: &'static str,
) {
    let policy = &route.route.policy;
    let age = entry.age();
    // Whole seconds, consistent with `Age`: max-age + Age = the ttl.
    let remaining = policy.ttl.as_secs().saturating_sub(age.as_secs());
    // Written on the stack and copied once into the header (a `String` turned into a header
    // value costs more allocations than the text itself). 96 bytes hold the longest value,
    // both numbers at `u64::MAX` (82 bytes).
    let mut control = StackText::<96>::new();
    let scope = if private { "private" } else { "public" };
    let _ = write!(control, "{scope}, max-age={remaining}");
    if !policy.stale_while_revalidate.is_zero() {
        let swr = policy.stale_while_revalidate.as_secs();
        let _ = write!(control, ", stale-while-revalidate={swr}");
    }
    headers.insert(header::ETAG, entry.etag_header.clone());
    if let Ok(value) = HeaderValue::from_bytes(control.as_bytes()) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    headers.insert(header::AGE, HeaderValue::from(age.as_secs()));
    headers.insert(
        header::VARY,
        if private {
            route.vary_private.clone()
        } else {
            route.vary_public.clone()
        },
    );
    headers.insert(CACHE_STATUS, HeaderValue::from_static(status));
}

/// Text written into a fixed buffer on the stack; what does not fit is an error of `write!`.
struct StackText<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    fn new() -> Self {
        StackText {
            bytes: [0; N],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl<const N: usize> std::fmt::Write for StackText<N> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let end = self.len + text.len();
        let room = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        room.copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

fn set_cache_status(response: &mut Response, status: &'static str) {
    response
        .headers_mut()
        .insert(CACHE_STATUS, HeaderValue::from_static(status));
}

fn respond(entry: &Entry, route: &Prepared, private: bool, status: &'static str) -> Response {
    let mut response = Response::new(Body::from(entry.body.clone()));
    *response.status_mut() = StatusCode::from_u16(entry.status).unwrap_or(StatusCode::OK);
    *response.headers_mut() = entry.header_map.clone();
    cache_headers(response.headers_mut(), entry, route, private, status);
    response
}

/// 304: the validators and caching headers, `Vary` included, and no body.
/// 304 for an entry the client holds, with the validator it holds: `W/"..."` when its 200
/// came through a content-coding, else the strong one, exactly as the 200 carried it.
fn not_modified(
    entry: &Entry,
    route: &Prepared,
    private: bool,
    status: &'static str,
    validator: HeaderValue,
) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    cache_headers(response.headers_mut(), entry, route, private, status);
    response.headers_mut().insert(header::ETAG, validator);
    response
}

/// What a mutating operation drops when it succeeds: the entries of operations (those that
/// share its path values), and those under its tags (filled from its path values and its
/// answer).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Drops {
    pub(crate) operations: &'static [InvalidationTarget],
    pub(crate) tags: &'static [super::Tag],
}

/// Runs the handler of a mutating operation and, when it succeeds, drops the entries of
/// `drops` (in both tiers and, through Redis, on every replica).
pub(crate) async fn invalidate_after(
    cache: &Cache,
    operation: &OperationInfo,
    drops: Drops,
    request: Request<Body>,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    // The values as the handler read them: `DELETE /pets/05` drops the entries of pet 5.
    let captures = operation.canonical(captures(&mut parts).await);
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if response.status().is_success() {
        // Tags filled from the answer (`{$response.body#/user_id}`) read its JSON.
        let mut answer = None;
        if drops
            .tags
            .iter()
            .any(|tag| specjet_model::tag::names_answer(tag))
        {
            let (parts, body) = response.into_parts();
            let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
                // The answer broke off: nothing to send, and nothing known to drop by it.
                let mut broken = Response::from_parts(parts, Body::empty());
                *broken.status_mut() = StatusCode::BAD_GATEWAY;
                return broken;
            };
            answer = serde_json::from_slice::<serde_json::Value>(&body).ok();
            response = Response::from_parts(parts, Body::from(body));
        }
        let mut dropped: Vec<String> = Vec::with_capacity(drops.tags.len());
        for &template in drops.tags {
            match own_tag(template, operation.params, &captures, answer.as_ref()) {
                Some(tag) => dropped.push(tag),
                None => tracing::warn!(
                    operation = operation.id,
                    tag = %specjet_model::tag::Template(template),
                    "a tag to invalidate names a value the answer does not hold; \
                     its entries stay until their ttl"
                ),
            }
        }
        for target in drops.operations {
            let value = target.shared.first().and_then(|(name, key)| {
                captures
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| tag(target.operation, name, v))
            });
            metrics::cache_invalidated(target.operation);
            // No shared parameter (or none captured): every entry of the operation.
            dropped.push(value.unwrap_or_else(|| target.operation.to_owned()));
        }
        // All at once: one round trip to Redis whatever their number.
        cache.invalidate_all(&dropped).await;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn request_directives_are_read_case_insensitively_across_values() {
        let read = |pairs| {
            let found = directives(&headers(pairs));
            (found.no_cache, found.no_store)
        };
        assert_eq!(read(&[]), (false, false));
        assert_eq!(read(&[("cache-control", "No-Cache")]), (true, false));
        assert_eq!(
            read(&[("cache-control", "max-age=10, MAX-AGE=0")]),
            (true, false)
        );
        assert_eq!(read(&[("pragma", "no-cache")]), (true, false));
        assert_eq!(
            read(&[("cache-control", "public"), ("cache-control", " no-store ")]),
            (false, true)
        );
        // A directive is a whole item, not a part of one.
        assert_eq!(
            read(&[("cache-control", "x-no-cache, max-age=00")]),
            (false, false)
        );
    }

    #[test]
    fn stack_text_holds_the_longest_cache_control_and_refuses_more() {
        let mut text = StackText::<96>::new();
        let max = u64::MAX;
        write!(text, "private, max-age={max}, stale-while-revalidate={max}").unwrap();
        assert_eq!(text.as_bytes().len(), 82);
        let mut small = StackText::<4>::new();
        assert!(write!(small, "12345").is_err());
    }
}
