//! Prometheus metrics: one process-wide recorder, rendered at `GET /metrics` by every
//! generated router.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::observability::histogram;

/// The recorder.
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The buckets of `specjet_http_request_duration_seconds`, in seconds (every SLO threshold
/// is added to them).
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The buckets of `specjet_http_request_size_bytes` and `specjet_http_response_size_bytes`:
/// 64 B to 16 MiB, by fours.
const SIZE_BUCKETS: [u64; 10] = [
    64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216,
];

/// The process's recorder, installed on first use with the default latency buckets. `None`
/// when another recorder was installed first (the application's own choice wins; its
/// metrics still get ours).
pub fn handle() -> Option<&'static PrometheusHandle> {
    install(&[])
}

/// Installs the Prometheus recorder once per process, with `thresholds` among the latency
/// buckets. The first call fixes the buckets: a later call's thresholds that are not among
/// them are logged, since the share of requests within them can then only be estimated.
pub(crate) fn install(thresholds: &[Duration]) -> Option<&'static PrometheusHandle> {
    let nanos: Vec<u64> = thresholds
        .iter()
        .map(|threshold| u64::try_from(threshold.as_nanos()).unwrap_or(u64::MAX))
        .collect();
    let buckets = LATENCY_BOUNDS.get_or_init(|| latency_bounds(&nanos));
    let missing: Vec<Duration> = thresholds
        .iter()
        .zip(&nanos)
        .filter(|(_, threshold)| !buckets.contains(threshold))
        .map(|(threshold, _)| *threshold)
        .collect();
    if !missing.is_empty() {
        tracing::warn!(?missing, "SLO thresholds that are not latency buckets (other services of this process were made first): their burn rates are estimates");
    }
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new().install_recorder().ok()?;
            start_upkeep(handle.clone());
            Some(handle)
        })
        .as_ref()
}

/// The latency buckets, in nanoseconds: fixed by the first services of the process.
static LATENCY_BOUNDS: OnceLock<Vec<u64>> = OnceLock::new();

/// `specjet_http_request_duration_seconds`.
pub(crate) const DURATION: histogram::Family = histogram::Family {
    name: "specjet_http_request_duration_seconds",
    units_per_value: 1e9,
};

/// `specjet_http_request_size_bytes`.
pub(crate) const REQUEST_SIZE: histogram::Family = histogram::Family {
    name: "specjet_http_request_size_bytes",
    units_per_value: 1.0,
};

/// `specjet_http_response_size_bytes`.
pub(crate) const RESPONSE_SIZE: histogram::Family = histogram::Family {
    name: "specjet_http_response_size_bytes",
    units_per_value: 1.0,
};

/// The latency histogram of `operation`, in nanoseconds.
pub(crate) fn latency_histogram(operation: &'static str) -> Arc<histogram::Histogram> {
    let bounds = LATENCY_BOUNDS.get_or_init(|| latency_bounds(&[]));
    histogram::series(DURATION, operation, bounds)
}

/// The latency buckets' upper bounds, in seconds (OTLP export uses the same).
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn latency_bounds_seconds() -> Vec<f64> {
    LATENCY_BOUNDS
        .get_or_init(|| latency_bounds(&[]))
        .iter()
        .map(|nanos| *nanos as f64 / 1e9)
        .collect()
}

/// A body-size histogram of `operation`, in bytes.
pub(crate) fn size_histogram(
    family: histogram::Family,
    operation: &'static str,
) -> Arc<histogram::Histogram> {
    histogram::series(family, operation, &SIZE_BUCKETS)
}

/// The default buckets and `thresholds`, in nanoseconds, ascending, each once.
fn latency_bounds(thresholds: &[u64]) -> Vec<u64> {
    let mut bounds: Vec<u64> = LATENCY_BUCKETS
        .iter()
        .map(|seconds| (seconds * 1e9).round() as u64)
        .chain(thresholds.iter().copied())
        .filter(|bound| *bound > 0)
        .collect();
    bounds.sort_unstable();
    bounds.dedup();
    bounds
}

/// Histogram samples wait in the recorder until upkeep folds them into the buckets: without
/// it, a service nobody scrapes grows with every request.
fn start_upkeep(handle: PrometheusHandle) {
    let upkeep =
        crate::serving::periodic::every("specjet-metrics-upkeep", UPKEEP_INTERVAL, move || {
            handle.run_upkeep();
        });
    if let Err(error) = upkeep {
        tracing::warn!(%error, "no metrics upkeep thread: histograms are folded only when /metrics is scraped");
    }
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

type Sampler = Box<dyn Fn() + Send + Sync>;

/// Gauges sampled at every scrape (pool sizes, counts kept outside the recorder), by name:
/// registering a name again replaces it.
static SAMPLERS: Mutex<Vec<(&'static str, Sampler)>> = Mutex::new(Vec::new());

/// Runs `sample` before every rendering of `/metrics`, to set gauges that describe a state
/// (a pool's size) and to publish counts kept outside the recorder.
pub(crate) fn on_render(name: &'static str, sample: impl Fn() + Send + Sync + 'static) {
    let mut samplers = SAMPLERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    samplers.retain(|(other, _)| *other != name);
    samplers.push((name, Box::new(sample)));
}

/// `GET /metrics`: the Prometheus text exposition of every metric of the process.
pub async fn render() -> Response {
    for (_, sample) in SAMPLERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
    {
        sample();
    }
    let mut body = handle().map(PrometheusHandle::render).unwrap_or_default();
    histogram::render(&mut body);
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

/// The counters of one cached operation, registered once so a hit pays no registry lookup.
/// `specjet_cache_requests_total` is labelled by `tier` (`memory`, `redis`, `none`) and
/// `result` (`hit`, `stale`, `miss`, `collapsed`, `not_modified`).
pub(crate) struct CacheCounters {
    pub hit_memory: metrics::Counter,
    pub hit_redis: metrics::Counter,
    pub stale_memory: metrics::Counter,
    pub stale_redis: metrics::Counter,
    pub not_modified_memory: metrics::Counter,
    pub not_modified_redis: metrics::Counter,
    pub miss: metrics::Counter,
    pub collapsed: metrics::Counter,
    pub stale_if_error: metrics::Counter,
    pub stored: metrics::Counter,
}

impl CacheCounters {
    pub(crate) fn new(operation: &'static str) -> CacheCounters {
        let requests = |tier: &'static str, result: &'static str| metrics::counter!("specjet_cache_requests_total", "operation" => operation, "tier" => tier, "result" => result);
        CacheCounters {
            hit_memory: requests("memory", "hit"),
            hit_redis: requests("redis", "hit"),
            stale_memory: requests("memory", "stale"),
            stale_redis: requests("redis", "stale"),
            not_modified_memory: requests("memory", "not_modified"),
            not_modified_redis: requests("redis", "not_modified"),
            miss: requests("none", "miss"),
            collapsed: requests("none", "collapsed"),
            stale_if_error: requests("any", "stale_if_error"),
            stored: metrics::counter!("specjet_cache_stored_total", "operation" => operation),
        }
    }
}

/// `specjet_redis_skipped`: 1 while the Redis circuit breaker is open (commands skip Redis).
pub(crate) fn redis_breaker(open: bool) {
    metrics::gauge!("specjet_redis_skipped").set(if open { 1.0 } else { 0.0 });
}

/// Counts an invalidation of an operation's entries.
pub(crate) fn cache_invalidated(operation: &'static str) {
    metrics::counter!("specjet_cache_invalidations_total", "operation" => operation).increment(1);
}
