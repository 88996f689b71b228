//! `x-timeout`: a handler past its operation's timeout is dropped and the answer is a 504
//! problem; a quick one is not touched.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::routing::get;
use axum::Router;
use http::{header, Method, Request, StatusCode};
use specjet::{OperationInfo, Policies};
use tower::ServiceExt;

mod support;
use support::services;

static SLOW: OperationInfo = OperationInfo::new("slow", Method::GET, "/slow");
static QUICK: OperationInfo = OperationInfo::new("quick", Method::GET, "/quick");

/// Set when the slow handler's future is dropped before it finished.
struct DroppedEarly(Arc<AtomicBool>, bool);

impl Drop for DroppedEarly {
    fn drop(&mut self) {
        if !self.1 {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

#[tokio::test]
async fn a_handler_past_its_timeout_is_dropped_and_answered_504() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let slow = move || {
        let flag = flag.clone();
        async move {
            let mut guard = DroppedEarly(flag, false);
            tokio::time::sleep(Duration::from_secs(5)).await;
            guard.1 = true;
            "late"
        }
    };
    let services = services(None, None);
    let bounded = |ms| Policies {
        timeout: Some(Duration::from_millis(ms)),
        ..Policies::NONE
    };
    let app = services.apply(
        Router::new()
            .route("/slow", get(slow))
            .route("/quick", get(|| async { "quick" })),
        &[(&SLOW, bounded(100)), (&QUICK, bounded(100))],
    );

    let started = Instant::now();
    let response = app
        .clone()
        .oneshot(Request::get("/slow").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["status"], 504);
    assert_eq!(
        problem["detail"],
        "`slow` took longer than its timeout of 100 ms"
    );
    assert!(dropped.load(Ordering::SeqCst), "the handler kept running");

    let quick = app
        .oneshot(Request::get("/quick").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(quick.status(), StatusCode::OK);
}
