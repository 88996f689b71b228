//! What every answer tells about itself, from the first run and for every operation:
//!
//! - Prometheus metrics: `specjet_http_requests_total{operation,method,status}` (the status
//!   class, `2xx`...: bounded cardinality), `specjet_http_request_duration_seconds{operation}`
//!   (a histogram), `specjet_http_requests_in_flight{operation}`. A path no operation serves
//!   is the one operation `unknown`, never its raw path.
//! - `X-Request-Id`: a valid incoming id is kept, else one is made; it is on the answer, in the
//!   request's extensions ([`RequestId`], for handlers and logs), and in problem bodies as
//!   their `instance` (`urn:request-id:<id>`).
//! - `Server-Timing: total;dur=<ms>`.
//! - A `tracing` span per request at debug level (operation, method, route, request id), and
//!   one debug event in it with the status and the latency when it is answered.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderName, HeaderValue};
use tracing::Instrument;

use crate::operation::{ByRoute, OperationInfo};

/// `X-Request-Id`.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// `Server-Timing` (W3C Server Timing).
const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// The request's id, in its extensions: the client's `X-Request-Id` when valid (1 to 128
/// visible ASCII characters), else one made by the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub Arc<str>);

/// The operation a request was routed to, in its extensions: found once here, read by the
/// layers inside (the `reject` hook).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Served(pub &'static OperationInfo);

/// The metrics of one operation, registered once so a request pays no registry lookup.
struct OperationMetrics {
    /// `None` for the paths no operation serves.
    operation: Option<&'static OperationInfo>,
    id: &'static str,
    method: &'static str,
    /// `1xx` to `5xx`.
    by_class: [metrics::Counter; 5],
    duration: metrics::Histogram,
    in_flight: metrics::Gauge,
}

impl OperationMetrics {
    fn new(
        operation: Option<&'static OperationInfo>,
        id: &'static str,
        method: &'static str,
    ) -> OperationMetrics {
        let class = |status: &'static str| metrics::counter!("specjet_http_requests_total", "operation" => id, "method" => method, "status" => status);
        OperationMetrics {
            operation,
            id,
            method,
            by_class: [
                class("1xx"),
                class("2xx"),
                class("3xx"),
                class("4xx"),
                class("5xx"),
            ],
            duration: metrics::histogram!("specjet_http_request_duration_seconds", "operation" => id),
            in_flight: metrics::gauge!("specjet_http_requests_in_flight", "operation" => id),
        }
    }
}

/// The layer's state: the metrics of every operation by route, and of `unknown`.
#[derive(Clone)]
pub(crate) struct Observe {
    shared: Arc<(ByRoute<OperationMetrics>, OperationMetrics)>,
}

impl Observe {
    pub(crate) fn new(operations: &[(&'static OperationInfo, crate::Policies)]) -> Observe {
        // Registered with the recorder first, so that the histogram gets its buckets.
        crate::metrics::handle();
        let by_route = ByRoute::new(operations.iter().map(|&(operation, _)| {
            (
                operation,
                OperationMetrics::new(Some(operation), operation.id, operation.method.as_str()),
            )
        }));
        Observe {
            shared: Arc::new((by_route, OperationMetrics::new(None, "unknown", "any"))),
        }
    }
}

/// The middleware (`axum::middleware::from_fn_with_state`).
pub(crate) async fn run(
    State(observe): State<Observe>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let (by_route, unknown) = &*observe.shared;
    let metrics = by_route.get(&request).unwrap_or(unknown);
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| valid_id(id))
        .map_or_else(new_id, Arc::from);
    request.extensions_mut().insert(RequestId(id.clone()));
    if let Some(operation) = metrics.operation {
        request.extensions_mut().insert(Served(operation));
    }
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
    let answering = Answering::new(&metrics.in_flight);
    let mut response = next.run(request).instrument(span.clone()).await;
    drop(answering);
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let class = usize::from(status / 100).clamp(1, 5) - 1;
    metrics.by_class[class].increment(1);
    metrics.duration.record(elapsed.as_secs_f64());
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
    let total = format!("total;dur={:.3}", elapsed.as_secs_f64() * 1000.0);
    let timing = match headers.get(SERVER_TIMING) {
        Some(earlier) => format!("{}, {total}", earlier.to_str().unwrap_or_default()),
        None => total,
    };
    if let Ok(value) = HeaderValue::from_str(&timing) {
        headers.insert(SERVER_TIMING, value);
    }
    response
}

/// A request being answered: counted in the operation's gauge and the service's load until
/// it is dropped, answered or not (a client that hangs up cancels the request mid-way).
struct Answering<'a> {
    gauge: &'a metrics::Gauge,
    _load: crate::load::InFlight,
}

impl<'a> Answering<'a> {
    fn new(gauge: &'a metrics::Gauge) -> Answering<'a> {
        gauge.increment(1.0);
        Answering {
            gauge,
            _load: crate::load::load().enter(),
        }
    }
}

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        self.gauge.decrement(1.0);
    }
}

/// 1 to 128 visible ASCII characters: what a log line and a header can carry as it is.
fn valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|byte| byte.is_ascii_graphic())
}

/// 32 hex digits, unique in the process and unpredictable across processes: a counter hashed
/// with the process's random keys.
fn new_id() -> Arc<str> {
    static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let keys = KEYS.get_or_init(Default::default);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let half = |salt: u64| {
        let mut hasher = keys.build_hasher();
        hasher.write_u64(n);
        hasher.write_u64(salt);
        hasher.finish()
    };
    format!("{:016x}{:016x}", half(0), half(1)).into()
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
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
    }
}
