//! What every answer tells about itself, from the first run and for every operation:
//!
//! - Prometheus metrics: `specjet_http_requests_total{operation,method,status}` (the status
//!   class, `2xx`...: bounded cardinality), `specjet_http_request_duration_seconds{operation}`
//!   (a histogram), `specjet_http_requests_in_flight{operation}`, and the body sizes whose
//!   length is known, `specjet_http_request_size_bytes` and `_response_size_bytes`. A path no operation serves
//!   is the one operation `unknown`, never its raw path.
//! - `X-Request-Id`: a valid incoming id is kept, else one is made; it is on the answer, in the
//!   request's extensions ([`RequestId`], for handlers and logs), and in problem bodies as
//!   their `instance` (`urn:request-id:<id>`).
//! - `Server-Timing: total;dur=<ms>`.
//! - A `tracing` span per request at debug level (operation, method, route, request id), and
//!   one debug event in it with the status and the latency when it is answered.
//! - The service's load (requests in flight, latency), which adaptive rate limits read.
//!
//! The same layer hands every problem an operation answers to the API's `reject` hook
//! ([`crate::request::reject`]), since it has found the request's operation anyway. It is one tower
//! service that calls the inner one directly and boxes one future per request: what it costs
//! is measured in BENCHMARKS.md ("Observability"), against the same layer with
//! [`ServiceSettings::observability`](crate::ServiceSettings::observability) off.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::response::Response;
use http::{HeaderName, HeaderValue};
use tracing::Instrument;

use crate::request::reject::RejectHook;
use crate::serving::operation::{ByRoute, OperationInfo};

/// `X-Request-Id`.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// `Server-Timing` (W3C Server Timing).
const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// The request's id, in its extensions: the client's `X-Request-Id` when valid (1 to 128
/// visible ASCII characters), else one made by the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub Arc<str>);

/// The metrics of one operation, registered once so a request pays no registry lookup.
struct OperationMetrics {
    /// `None` for the paths no operation serves.
    operation: Option<&'static OperationInfo>,
    id: &'static str,
    method: &'static str,
    tallies: Arc<crate::observability::tally::Tallies>,
    duration: Arc<crate::observability::histogram::Histogram>,
    request_size: Arc<crate::observability::histogram::Histogram>,
    response_size: Arc<crate::observability::histogram::Histogram>,
}

impl OperationMetrics {
    fn new(
        operation: Option<&'static OperationInfo>,
        id: &'static str,
        method: &'static str,
    ) -> OperationMetrics {
        OperationMetrics {
            operation,
            id,
            method,
            tallies: crate::observability::tally::Tallies::of(id, method),
            duration: crate::observability::metrics::latency_histogram(id),
            request_size: crate::observability::metrics::size_histogram(
                crate::observability::metrics::REQUEST_SIZE,
                id,
            ),
            response_size: crate::observability::metrics::size_histogram(
                crate::observability::metrics::RESPONSE_SIZE,
                id,
            ),
        }
    }
}

/// What the layer knows of every operation.
struct Shared {
    /// Per route, the index of its operation in `metrics`.
    by_route: ByRoute<usize>,
    /// One per operation, then `unknown` last.
    metrics: Vec<OperationMetrics>,
    reject: RejectHook,
    /// Metrics, request ids, `Server-Timing`, span and load; off, only the `reject` hook.
    on: bool,
}

impl Shared {
    /// The index of the request's operation in `metrics` (`unknown` when none).
    fn index_of(&self, request: &Request) -> usize {
        let unknown = self.metrics.len() - 1;
        self.by_route.get(request).copied().unwrap_or(unknown)
    }
}

/// The layer around every operation and the fallbacks of a generated router.
#[derive(Clone)]
pub(crate) struct ObserveLayer {
    shared: Arc<Shared>,
}

impl ObserveLayer {
    pub(crate) fn new(
        operations: &[(&'static OperationInfo, crate::Policies)],
        reject: RejectHook,
        on: bool,
    ) -> ObserveLayer {
        // The recorder first: the counters registered below are its.
        crate::observability::metrics::handle();
        let mut metrics: Vec<OperationMetrics> = operations
            .iter()
            .map(|&(operation, _)| {
                OperationMetrics::new(Some(operation), operation.id, operation.method.as_str())
            })
            .collect();
        let by_route = ByRoute::new(
            operations
                .iter()
                .enumerate()
                .map(|(index, &(operation, _))| (operation, index)),
        );
        metrics.push(OperationMetrics::new(None, "unknown", "any"));
        ObserveLayer {
            shared: Arc::new(Shared {
                by_route,
                metrics,
                reject,
                on,
            }),
        }
    }
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observed<S>;

    fn layer(&self, inner: S) -> Observed<S> {
        Observed {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// [`ObserveLayer`] around a service.
#[derive(Clone)]
pub(crate) struct Observed<S> {
    inner: S,
    shared: Arc<Shared>,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> tower::Service<Request> for Observed<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Answer {
        let shared = self.shared.clone();
        let index = shared.index_of(&request);
        if !shared.on {
            let answered = self.inner.call(request);
            return Box::pin(async move {
                let Ok(response) = answered.await;
                let operation = shared.metrics[index].operation;
                Ok(crate::request::reject::answer(
                    &shared.reject,
                    operation,
                    response,
                    None,
                ))
            });
        }
        let metrics = &shared.metrics[index];
        let id = request
            .headers()
            .get(&REQUEST_ID)
            .and_then(|value| value.to_str().ok())
            .filter(|id| valid_id(id))
            .map_or_else(new_id, Arc::from);
        request.extensions_mut().insert(RequestId(id.clone()));
        // At debug level: a span costs an allocation per request where it is recorded, so it is
        // there when `RUST_LOG` asks for it (its fields are only computed then).
        let span = tracing::debug_span!(
            "request",
            operation = metrics.id,
            method = metrics.method,
            route = request
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map_or("", |path| path.as_str()),
            request_id = &*id,
        );
        // Known when the client sent a length (a body sent in chunks is not counted).
        if let Some(size) = http_body::Body::size_hint(request.body()).exact() {
            metrics.request_size.record(size);
        }
        let answering = Answering::new(shared, index);
        let parts = Arc::new(crate::observability::timing::Parts::default());
        let answered = crate::observability::timing::scope(parts.clone(), self.inner.call(request))
            .instrument(span.clone());
        Box::pin(async move {
            let Ok(response) = answered.await;
            let elapsed = answering.started.elapsed();
            let shared = &answering.shared;
            let metrics = &shared.metrics[index];
            let mut response = crate::request::reject::answer(
                &shared.reject,
                metrics.operation,
                response,
                Some(&id),
            );
            let status = response.status().as_u16();
            let class = usize::from(status / 100).clamp(1, 5) - 1;
            metrics.tallies.by_class[class].fetch_add(1, Ordering::Relaxed);
            metrics
                .duration
                .record(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
            crate::observability::otlp::answered(metrics.id, metrics.method, elapsed);
            // Known for whole bodies; a streamed or compressed-on-the-fly body is not counted.
            if let Some(size) = http_body::Body::size_hint(response.body()).exact() {
                metrics.response_size.record(size);
            }
            span.in_scope(|| {
                tracing::debug!(
                    status,
                    latency_ms = elapsed.as_secs_f64() * 1000.0,
                    "answered"
                )
            });
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&id) {
                headers.insert(REQUEST_ID, value);
            }
            let cache = headers
                .get(crate::policy::cache::CACHE_STATUS)
                .and_then(|status| status.to_str().ok())
                .and_then(crate::policy::cache::timing_desc);
            let mut timing = parts.header(elapsed, cache);
            if let Some(earlier) = headers.get(SERVER_TIMING).and_then(|v| v.to_str().ok()) {
                timing.insert_str(0, &format!("{earlier}, "));
            }
            // The text becomes the header's bytes without a copy.
            if let Ok(value) = HeaderValue::from_maybe_shared(bytes::Bytes::from(timing)) {
                headers.insert(SERVER_TIMING, value);
            }
            Ok(response)
        })
    }
}

/// A request being answered: counted in its operation's gauge and in the service's load until
/// it is dropped, answered or not (a client that hangs up cancels the request mid-way).
struct Answering {
    shared: Arc<Shared>,
    index: usize,
    started: Instant,
    _load: crate::policy::load::InFlight,
}

impl Answering {
    fn new(shared: Arc<Shared>, index: usize) -> Answering {
        let started = Instant::now();
        shared.metrics[index]
            .tallies
            .in_flight
            .fetch_add(1, Ordering::Relaxed);
        Answering {
            _load: crate::policy::load::load().enter(started),
            shared,
            index,
            started,
        }
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.shared.metrics[self.index]
            .tallies
            .in_flight
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// 1 to 128 visible ASCII characters: what a log line and a header can carry as it is.
fn valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|byte| byte.is_ascii_graphic())
}

/// 32 hex digits, unique in the process and unpredictable across processes: a per-thread
/// counter (each thread its own block of 2^32, so that threads share no cache line) and the
/// process's random keys through SplitMix64's finalizer (a bijection, so the first half never
/// repeats within a process).
fn new_id() -> Arc<str> {
    static KEYS: OnceLock<(u64, u64)> = OnceLock::new();
    static BLOCKS: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        static NEXT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    let &(first, second) = KEYS.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let keys = std::collections::hash_map::RandomState::new();
        let key = |salt: u64| {
            let mut hasher = keys.build_hasher();
            hasher.write_u64(salt);
            hasher.finish()
        };
        (key(1), key(2))
    });
    let n = NEXT.with(|next| {
        let mut n = next.get();
        if n & 0xffff_ffff == 0 {
            // A fresh block: the thread's first id, or 2^32 ids later.
            n = BLOCKS.fetch_add(1, Ordering::Relaxed) << 32 | 1;
        }
        next.set(n + 1);
        n
    });
    let mut digits = [0u8; 32];
    for (half, value) in [mix(n ^ first), mix(n.wrapping_add(second))]
        .into_iter()
        .enumerate()
    {
        for (place, digit) in digits[half * 16..(half + 1) * 16].iter_mut().enumerate() {
            *digit = b"0123456789abcdef"[((value >> (60 - 4 * place)) & 0xf) as usize];
        }
    }
    Arc::from(std::str::from_utf8(&digits).unwrap_or_default())
}

/// SplitMix64's finalizer: a bijection of `u64` that spreads every bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_kept_when_valid_and_made_unique_otherwise() {
        assert!(valid_id("req-42"));
        assert!(!valid_id(""));
        assert!(!valid_id("has space"));
        assert!(!valid_id(&"x".repeat(129)));
        let ids: std::collections::HashSet<Arc<str>> = (0..10_000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids
            .iter()
            .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())));
    }
}
