//! `GET /healthz` (the process answers) and `GET /readyz` (it should get traffic: not
//! draining, and the Redis it was configured with answers), outside caching and limits.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

use crate::problem::Problem;
use crate::Services;

/// Set once a shutdown signal arrived: readiness turns false while in-flight requests drain.
static DRAINING: AtomicBool = AtomicBool::new(false);

/// Marks the process as draining (`specjet::serve` does so on Ctrl-C or SIGTERM).
pub fn start_draining() {
    DRAINING.store(true, Ordering::SeqCst);
}

/// Whether the process is draining.
pub fn is_draining() -> bool {
    DRAINING.load(Ordering::SeqCst)
}

/// `GET /healthz`: 200 while the process can answer at all.
pub async fn healthz() -> Response {
    no_store((StatusCode::OK, "ok").into_response())
}

/// `GET /readyz`: 200 when the service should get traffic; otherwise 503 problem+json with
/// `Retry-After`, naming what is not ready.
pub async fn readyz(State(services): State<Services>) -> Response {
    let reason = if is_draining() {
        Some("shutting down: in-flight requests are draining".to_owned())
    } else {
        services.unready().await
    };
    let response = match reason {
        None => (StatusCode::OK, "ready").into_response(),
        Some(reason) => Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail(reason)
            .with_retry_after(1)
            .into_response(),
    };
    no_store(response)
}

/// Probes are about now: no cache in between may answer them.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
