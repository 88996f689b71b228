//! The service generated from `tests/compile/specs/observability.yaml`: its objectives
//! (`x-slo`) are latency buckets, every metric the generated dashboard queries is exported
//! once traffic has flowed, and its adaptive rate limit engages while the service is loaded
//! and lifts after the load stops.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use specjet::axum::Router;
use specjet::http::StatusCode;
use specjet_compile_tests::observability::operations::{fail, get_item, slow};
use specjet_compile_tests::observability::Api;
use specjet_compile_tests::observability::{router_with, settings};
use support::get;

mod support;

#[derive(Clone)]
struct Service;

impl Api for Service {
    async fn get_item(&self, request: get_item::Request) -> get_item::Response {
        get_item::Response::Ok(get_item::OkBody { id: request.id })
    }

    async fn slow(&self, request: slow::Request) -> slow::Response {
        let ms = u64::try_from(request.ms).unwrap_or(0);
        specjet::tokio::time::sleep(Duration::from_millis(ms)).await;
        slow::Response::Ok("done".to_owned())
    }

    async fn fail(&self, _request: fail::Request) -> fail::Response {
        fail::Response::InternalServerError
    }
}

/// The tests that keep `slow` requests in flight take turns: the load is the process's.
static SLOW: specjet::tokio::sync::Mutex<()> = specjet::tokio::sync::Mutex::const_new(());

fn service() -> Router {
    router_with(Service, &specjet::Services::new(settings(), None))
}

/// The metric names a PromQL expression reads (`specjet_...`), histogram series by their
/// family's name.
fn metrics_in(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|word| word.starts_with("specjet_"))
        .map(|word| {
            word.trim_end_matches("_bucket")
                .trim_end_matches("_count")
                .trim_end_matches("_sum")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn every_metric_the_dashboard_queries_is_exported_with_the_objectives_as_buckets() {
    let router = service();
    for path in [
        "/items/1",
        "/items/1",
        "/items/2",
        "/fail",
        "/slow?ms=0",
        "/nowhere",
    ] {
        get(&router, path).await;
    }
    let scrape = get(&router, "/metrics").await;
    let text = String::from_utf8(scrape.body).unwrap();
    let exported: BTreeSet<&str> = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(|name| {
            name.trim_end_matches("_bucket")
                .trim_end_matches("_count")
                .trim_end_matches("_sum")
        })
        .collect();

    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/observability.yaml");
    let api = specjet_generator::analyze(&spec).unwrap().api;
    let board = specjet_generator::monitoring::dashboard(&api);
    let mut queried = BTreeSet::new();
    for panel in board["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            queried.extend(metrics_in(target["expr"].as_str().unwrap()));
        }
    }
    assert!(queried.len() >= 5, "{queried:?}");
    for metric in &queried {
        assert!(
            exported.contains(metric.as_str()),
            "{metric} is not exported:\n{text}"
        );
    }

    // The 40ms objective of getItem is a bucket boundary, so the share within it is exact.
    assert!(
        text.lines().any(
            |line| line.starts_with("specjet_http_request_duration_seconds_bucket{")
                && line.contains("operation=\"getItem\"")
                && line.contains("le=\"0.04\"")
        ),
        "{text}"
    );
    // Body sizes of known length: `{"id":1}` is 8 bytes, under the 64-byte bucket.
    assert!(
        text.lines().any(
            |line| line.starts_with("specjet_http_response_size_bytes_bucket{")
                && line.contains("operation=\"getItem\"")
                && line.contains("le=\"64\"")
                && !line.ends_with(" 0")
        ),
        "{text}"
    );
    // The recording rules read 5xx of `fail` by its status class.
    assert!(
        text.lines()
            .any(|line| line.starts_with("specjet_http_requests_total{")
                && line.contains("operation=\"fail\"")
                && line.contains("status=\"5xx\"")),
        "{text}"
    );
}

#[tokio::test]
async fn the_adaptive_limit_engages_under_load_and_lifts_after_it() {
    let _turn = SLOW.lock().await;
    let router = service();
    let normal = "\"slow\";q=1000;w=1";
    let tighter = "\"slow.adaptive\";q=2;w=1";
    let relaxed = get(&router, "/slow?ms=0").await;
    assert_eq!(relaxed.status, StatusCode::OK);
    assert_eq!(relaxed.header("ratelimit-policy"), Some(normal));

    // Eight requests of 2.5 s at once: four in flight is the threshold.
    let load: Vec<_> = (0..8)
        .map(|_| {
            let router = router.clone();
            specjet::tokio::spawn(async move { get(&router, "/slow?ms=2500").await.status })
        })
        .collect();
    // The watcher reads the load twice a second: within a second the tighter limit is in
    // force (2 a second, a burst of 2), and says so.
    let started = Instant::now();
    let mut refused = None;
    while started.elapsed() < Duration::from_millis(2000) {
        let answer = get(&router, "/slow?ms=0").await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some((started.elapsed(), answer));
            break;
        }
        specjet::tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (after, refused) = refused.expect("the adaptive limit never engaged");
    assert!(
        after < Duration::from_millis(1500),
        "engaged after {after:?}"
    );
    assert_eq!(refused.header("ratelimit-policy"), Some(tighter));
    assert!(
        refused.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("loaded"),
        "{}",
        refused.json()
    );
    for request in load {
        // The requests admitted before the limit engaged finish normally.
        assert_eq!(request.await.unwrap(), StatusCode::OK);
    }

    // The load is gone: after the 1 s hold (read every half second), the normal limit again.
    let stopped = Instant::now();
    loop {
        let answer = get(&router, "/slow?ms=0").await;
        if answer.status == StatusCode::OK && answer.header("ratelimit-policy") == Some(normal) {
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(4),
            "still tightened {:?} after the load stopped: {:?}",
            stopped.elapsed(),
            answer.headers
        );
        specjet::tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        stopped.elapsed() >= Duration::from_millis(900),
        "lifted before the hold"
    );
}

#[tokio::test]
async fn a_cancelled_request_leaves_the_in_flight_gauge() {
    let _turn = SLOW.lock().await;
    let router = service();
    let pending = {
        let router = router.clone();
        specjet::tokio::spawn(async move { get(&router, "/slow?ms=4000").await })
    };
    specjet::tokio::time::sleep(Duration::from_millis(200)).await;
    let in_flight = |text: &str| -> f64 {
        text.lines()
            .find(|line| {
                line.starts_with("specjet_http_requests_in_flight{")
                    && line.contains("operation=\"slow\"")
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let scrape = |router: Router| async move {
        String::from_utf8(get(&router, "/metrics").await.body).unwrap()
    };
    assert!(in_flight(&scrape(router.clone()).await) >= 1.0);
    // The client hangs up: the request's future is dropped mid-way.
    pending.abort();
    let _ = pending.await;
    assert_eq!(in_flight(&scrape(router).await), 0.0);
}

#[tokio::test]
async fn with_observability_off_answers_carry_no_id_or_timing() {
    let mut settings = settings();
    settings.observability = false;
    let router = router_with(Service, &specjet::Services::new(settings, None));
    let answer = get(&router, "/items/3").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("x-request-id"), None);
    assert_eq!(answer.header("server-timing"), None);
    // Problems still go through the `reject` hook (the default: problem+json).
    let refused = get(&router, "/items/three").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    let on = get(&service(), "/items/3").await;
    assert!(on.header("x-request-id").is_some());
    assert!(on
        .header("server-timing")
        .is_some_and(|timing| timing.contains("total;dur=")));
}

#[tokio::test]
async fn server_timing_tells_the_handler_time_and_the_cache_outcome() {
    let router = service();
    let miss = get(&router, "/items/77").await;
    let timing = miss.header("server-timing").unwrap_or_default();
    assert!(timing.starts_with("handler;dur="), "{timing}");
    assert!(
        timing.contains("cache;desc=\"miss\", total;dur="),
        "{timing}"
    );
    let hit = get(&router, "/items/77").await;
    let timing = hit.header("server-timing").unwrap_or_default();
    // Answered from memory: the handler did not run.
    assert!(
        timing.starts_with("cache;desc=\"hit memory\", total;dur="),
        "{timing}"
    );
}

/// With the `otlp` feature and `OTEL_EXPORTER_OTLP_ENDPOINT` set, each request's span and the
/// request metrics go to the collector over OTLP/HTTP: a collector stand-in on 127.0.0.1
/// records what it receives, by signal.
#[tokio::test]
async fn request_spans_and_metrics_reach_an_otlp_collector() {
    use specjet::axum::body::Bytes;
    use specjet::axum::http::HeaderMap;
    use std::sync::{Arc, Mutex};

    /// (signal, media type, body) of every export received.
    type Received = Arc<Mutex<Vec<(&'static str, String, Vec<u8>)>>>;
    let received: Received = Arc::default();
    let record = |signal: &'static str| {
        let received = received.clone();
        move |headers: HeaderMap, body: Bytes| async move {
            let media = headers
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            received
                .lock()
                .unwrap()
                .push((signal, media, body.to_vec()));
            StatusCode::OK
        }
    };
    let collector = Router::new()
        .route("/v1/traces", specjet::axum::routing::post(record("traces")))
        .route(
            "/v1/metrics",
            specjet::axum::routing::post(record("metrics")),
        );
    let listener = specjet::tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    specjet::tokio::spawn(async move { specjet::axum::serve(listener, collector).await });

    // Read once, when the subscriber is installed (no other test of this binary installs one).
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint);
    std::env::set_var("OTEL_SERVICE_NAME", "observability-test");
    specjet::logging::init();

    let router = service();
    let answer = get(&router, "/items/9").await;
    assert_eq!(answer.status, StatusCode::OK);
    let id = answer.header("x-request-id").unwrap().to_owned();
    specjet::tokio::task::spawn_blocking(specjet::logging::flush)
        .await
        .unwrap();

    let received = received.lock().unwrap();
    let contains = |body: &[u8], text: &str| body.windows(text.len()).any(|w| w == text.as_bytes());
    let exported = |signal: &str, texts: &[&str]| {
        received.iter().any(|(kind, media, body)| {
            *kind == signal
                && media == "application/x-protobuf"
                && texts.iter().all(|text| contains(body, text))
        })
    };
    assert!(
        exported("traces", &["observability-test", "getItem", &id]),
        "{} exports, none with the request's span",
        received.len()
    );
    // The counter, the in-flight gauge and the latency histogram, by operation, with the
    // status class of the answer.
    assert!(
        exported(
            "metrics",
            &[
                "observability-test",
                "specjet.http.requests",
                "specjet.http.requests.in_flight",
                "specjet.http.request.duration",
                "getItem",
                "2xx",
            ]
        ),
        "{} exports, none with the request metrics",
        received.len()
    );
}
