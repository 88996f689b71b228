//! `/healthz` and `/readyz` on a generated-style router: alive regardless, ready while not
//! draining whatever Redis does (it says when Redis does not answer). One test: draining is
//! process-wide.

use axum::body::{to_bytes, Body};
use axum::Router;
use http::{header, Request, StatusCode};
use specjet::{ServiceSettings, Services};
use tower::ServiceExt;

mod support;
use std::time::{Duration, Instant};
use support::{free_port, redis_url, PrivateRedis};

async fn get(app: &Router, path: &str) -> (StatusCode, http::HeaderMap, String) {
    let response = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn app(services: &Services) -> Router {
    specjet::__private::finish(
        Router::new(),
        services,
        specjet::__private::Finish::of(
            Vec::new(),
            std::sync::Arc::new(specjet::reject::problem_json),
        ),
    )
}

#[tokio::test]
async fn readiness_holds_through_redis_faults_and_ends_with_draining_while_health_stays() {
    // No Redis configured: nothing to wait for.
    let in_process = app(&Services::new(ServiceSettings::default(), None));
    let (status, headers, body) = get(&in_process, "/readyz").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ready"));
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");

    // A Redis that never answered (nothing listens on the port): a replica started while its
    // Redis is down serves, so it is ready, and says what it runs without.
    let dead = format!("redis://127.0.0.1:{}", free_port());
    let unreachable = app(&Services::new(ServiceSettings::default(), Some(&dead)));
    assert_eq!(get(&unreachable, "/healthz").await.0, StatusCode::OK);
    let (status, _, body) = get(&unreachable, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Redis tier does not answer"), "{body}");
    assert!(
        body.contains("rate limiter's Redis does not answer"),
        "{body}"
    );

    // A Redis that answered, then stopped answering (paused): still ready, and it says so
    // once the breaker is open; back to plain `ready` when Redis answers again.
    let port = free_port();
    if let Some(redis) = PrivateRedis::start(port) {
        let services = Services::new(ServiceSettings::default(), Some(&redis.url()));
        let paused = app(&services);
        let deadline = Instant::now() + Duration::from_secs(5);
        while get(&paused, "/readyz").await.2 != "ready" {
            assert!(Instant::now() < deadline, "never connected");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        redis.signal("STOP");
        let cache = services.cache().clone();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !cache.redis_skipped() {
            assert!(Instant::now() < deadline, "the breaker never opened");
            // A read through the tier meets the timeouts that open the breaker.
            cache.invalidate("nothing").await;
        }
        let started = Instant::now();
        let (status, _, body) = get(&paused, "/readyz").await;
        assert!(started.elapsed() < specjet::health::PROBE_BOUND);
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("Redis tier does not answer"), "{body}");
        redis.signal("CONT");
        let deadline = Instant::now() + Duration::from_secs(5);
        while get(&paused, "/readyz").await.2 != "ready" {
            assert!(Instant::now() < deadline, "never said ready again");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Draining: not ready, still alive.
    specjet::health::start_draining();
    let (status, _, body) = get(&in_process, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("draining"), "{body}");
    assert_eq!(get(&in_process, "/healthz").await.0, StatusCode::OK);
}

#[tokio::test]
async fn handlers_reach_the_shared_redis() {
    assert!(Services::new(ServiceSettings::default(), None)
        .redis()
        .is_none());
    let Some(url) = redis_url() else {
        eprintln!("skipped: REDIS_URL is not set");
        return;
    };
    let services = Services::new(ServiceSettings::default(), Some(&url));
    let redis = services.redis().expect("a Redis was configured");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !redis.is_connected() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let key = format!("specjet-test:handler:{}", std::process::id());
    let stored: Option<String> = redis
        .run(|mut connection| {
            let key = key.clone();
            async move {
                redis::cmd("SET")
                    .arg(&key)
                    .arg("hello")
                    .arg("EX")
                    .arg(60)
                    .query_async::<()>(&mut connection)
                    .await?;
                redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut connection)
                    .await
            }
        })
        .await;
    assert_eq!(stored.as_deref(), Some("hello"));
}
