//! `max-in-flight`: above the bound, 503 with `Retry-After` at once; below it, served.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{header, Request, StatusCode};
use specjet::compression::CompressionSettings;
use specjet::{ServiceSettings, Services};
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_above_the_bound_are_shed_at_once() {
    let settings = ServiceSettings {
        compression: CompressionSettings::off(),
        max_in_flight: Some(2),
        ..ServiceSettings::default()
    };
    let services = Services::new(settings, None);
    let slow = || async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        "done"
    };
    let app = services.apply(Router::new().route("/slow", get(slow)), &[]);
    let send = |app: Router| async move {
        let started = Instant::now();
        let response = app
            .oneshot(Request::get("/slow").body(Body::empty()).unwrap())
            .await
            .unwrap();
        (response, started.elapsed())
    };
    let first = tokio::spawn(send(app.clone()));
    let second = tokio::spawn(send(app.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (third, waited) = send(app.clone()).await;
    assert_eq!(third.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(third.headers()[header::RETRY_AFTER], "1");
    assert!(waited < Duration::from_millis(100), "shed after {waited:?}");
    for handle in [first, second] {
        assert_eq!(handle.await.unwrap().0.status(), StatusCode::OK);
    }
    // The bound frees as requests finish.
    assert_eq!(send(app).await.0.status(), StatusCode::OK);
}
