//! `/healthz` and `/readyz` on a generated-style router: alive regardless, ready only with the
//! configured Redis answering and while not draining. One test: draining is process-wide.

use axum::body::{to_bytes, Body};
use axum::Router;
use http::{header, Request, StatusCode};
use specjet::{ServiceSettings, Services};
use tower::ServiceExt;

mod support;
use support::{free_port, redis_url};

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
        &[],
        &[],
        None,
        std::sync::Arc::new(specjet::reject::problem_json),
    )
}

#[tokio::test]
async fn readiness_follows_redis_and_draining_while_health_stays() {
    // No Redis configured: nothing to wait for.
    let in_process = app(&Services::new(ServiceSettings::default(), None));
    let (status, headers, _) = get(&in_process, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");

    // A Redis that does not answer (nothing listens on the port): alive, not ready.
    let dead = format!("redis://127.0.0.1:{}", free_port());
    let unreachable = app(&Services::new(ServiceSettings::default(), Some(&dead)));
    assert_eq!(get(&unreachable, "/healthz").await.0, StatusCode::OK);
    let (status, headers, body) = get(&unreachable, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    assert!(body.contains("Redis tier has no connection"), "{body}");

    // The local Redis answers: ready once connected.
    if let Some(url) = redis_url() {
        let services = Services::new(ServiceSettings::default(), Some(&url));
        let connected = app(&services);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while services.unready().await.is_some() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(get(&connected, "/readyz").await.0, StatusCode::OK);
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
