//! Prometheus metrics: one process-wide recorder, rendered at `GET /metrics` by every
//! generated router.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The recorder and the latency buckets it was installed with.
static HANDLE: OnceLock<Option<(PrometheusHandle, Vec<f64>)>> = OnceLock::new();

/// The buckets of `specjet_http_request_duration_seconds`, in seconds (every SLO threshold
/// is added to them).
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
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
    let seconds: Vec<f64> = thresholds.iter().map(Duration::as_secs_f64).collect();
    let (handle, buckets) = HANDLE
        .get_or_init(|| {
            let buckets = latency_buckets(&seconds);
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("specjet_http_request_duration_seconds".to_owned()),
                    &buckets,
                )
                .ok()?
                .install_recorder()
                .ok()?;
            start_upkeep(handle.clone());
            Some((handle, buckets))
        })
        .as_ref()?;
    let missing: Vec<f64> = seconds
        .into_iter()
        .filter(|threshold| !buckets.contains(threshold))
        .collect();
    if !missing.is_empty() {
        tracing::warn!(?missing, "SLO thresholds that are not latency buckets (the metrics recorder was installed before these services were made): their burn rates are estimates");
    }
    Some(handle)
}

/// The default buckets and `thresholds`, ascending, each once.
fn latency_buckets(thresholds: &[f64]) -> Vec<f64> {
    let mut buckets: Vec<f64> = LATENCY_BUCKETS
        .iter()
        .chain(thresholds)
        .copied()
        .filter(|bucket| bucket.is_finite() && *bucket > 0.0)
        .collect();
    buckets.sort_by(f64::total_cmp);
    buckets.dedup();
    buckets
}

/// Histogram samples wait in the recorder until upkeep folds them into the buckets: without
/// it, a service nobody scrapes grows with every request.
fn start_upkeep(handle: PrometheusHandle) {
    let upkeep = std::thread::Builder::new()
        .name("specjet-metrics-upkeep".to_owned())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_INTERVAL);
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
    let body = handle().map(PrometheusHandle::render).unwrap_or_default();
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
