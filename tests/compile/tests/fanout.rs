//! A composite operation (`x-fan-out`) of the service generated from
//! `tests/compile/specs/fanout.yaml`: its three parts (50, 80 and 120 ms) run at once, each
//! through its own policies (the cached user is not read twice), parameters pass by name,
//! a failing part fails the composite with its own answer, an optional one becomes `null`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use specjet::axum::body::{to_bytes, Body};
use specjet::http::{Request, StatusCode};
use specjet::serde_json::{self, json, Value};
use specjet_compile_tests::fanout;
use specjet_compile_tests::fanout::operations::{get_dashboard, get_stats, get_user, list_orders};
use specjet_compile_tests::fanout::{router_with, settings};
use specjet_compile_tests::fanout_parts::Parts;
use tower::ServiceExt;

async fn get(router: &specjet::axum::Router, path: &str) -> (StatusCode, Value, Duration) {
    let started = Instant::now();
    let request = Request::get(path).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body, started.elapsed())
}

fn service() -> (specjet::axum::Router, Arc<AtomicUsize>) {
    let parts = Parts::default();
    let reads = parts.user_reads.clone();
    let router = router_with(parts, &specjet::Services::new(settings(), None));
    (router, reads)
}

#[tokio::test]
async fn the_parts_run_at_once_through_their_own_policies() {
    let (router, reads) = service();
    let (status, body, took) = get(&router, "/dashboard/7?limit=2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"user": {"id": 7, "name": "user 7"}, "orders": [700, 701], "stats": {"orders": 3}})
    );
    assert!(
        took < Duration::from_millis(150),
        "50 + 80 + 120 ms of parts took {took:?}: not at once"
    );
    assert!(took >= Duration::from_millis(120), "{took:?}");
    // The user part is cached (`x-cache-ttl: 60s`): a second dashboard reads it from the cache.
    let (status, _, _) = get(&router, "/dashboard/7").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        reads.load(Ordering::SeqCst),
        1,
        "the cached part ran its handler once"
    );
}

#[tokio::test]
async fn a_failing_part_fails_the_composite_and_an_optional_one_is_null() {
    let (router, _) = service();
    let (status, _, _) = get(&router, "/dashboard/404").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the user part's own answer");
    let (status, body, _) = get(&router, "/dashboard/13").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stats"], Value::Null, "the optional part failed");
    assert_eq!(body["user"]["id"], 13);
    let (status, body, _) = get(&router, "/dashboard/abc").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the part that reads `userId` refuses it: {body}"
    );
}

#[tokio::test]
async fn a_failing_parts_retry_after_reaches_the_client() {
    // Found by scripts/soak: the dashboard answered a part's 503 without its Retry-After.
    let (router, _) = service();
    let request = Request::get("/dashboard/503").body(Body::empty()).unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

/// Code wins: an impl that writes the composite's method answers it by hand.
#[derive(Clone)]
struct ByHand;

#[specjet::api("specs/fanout.yaml")]
impl fanout::Api for ByHand {
    async fn get_user(&self, _request: get_user::Request) -> get_user::Response {
        get_user::Response::NotFound
    }

    async fn list_orders(&self, _request: list_orders::Request) -> list_orders::Response {
        list_orders::Response::Ok(Vec::new())
    }

    async fn get_stats(&self, _request: get_stats::Request) -> get_stats::Response {
        get_stats::Response::ServiceUnavailable
    }

    async fn get_dashboard(&self, request: get_dashboard::Request) -> get_dashboard::Response {
        get_dashboard::Response::Ok(get_dashboard::OkBody {
            user: None,
            orders: Some(vec![request.user_id]),
            stats: None,
        })
    }
}

#[tokio::test]
async fn a_composite_written_by_hand_is_answered_by_its_handler() {
    let router = router_with(ByHand, &specjet::Services::new(settings(), None));
    let (status, body, _) = get(&router, "/dashboard/5").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"orders": [5]}),
        "by hand, not from the parts (whose user is 404)"
    );
}

#[tokio::test]
async fn the_composite_times_each_part_in_server_timing() {
    let (router, _) = service();
    let request = Request::get("/dashboard/8?limit=1")
        .body(Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let timing = response
        .headers()
        .get("server-timing")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let ms = |name: &str| -> f64 {
        timing
            .split(", ")
            .find_map(|metric| metric.strip_prefix(&format!("{name};dur=")))
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(f64::NAN)
    };
    // The parts sleep 50, 80 and 120 ms, at once: each is timed, and the total covers the
    // slowest.
    assert!(ms("part-user") >= 50.0, "{timing}");
    assert!(ms("part-orders") >= 80.0, "{timing}");
    assert!(ms("part-stats") >= 120.0, "{timing}");
    assert!(ms("total") >= ms("part-stats"), "{timing}");
    assert!(ms("total") < 50.0 + 80.0 + 120.0, "{timing}");
}
