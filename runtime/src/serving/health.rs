//! `GET /healthz` (the process answers) and `GET /readyz` (it should get traffic: not
//! draining, and its database answers), outside caching and limits. A Redis that does not
//! answer does not make a replica unready (it serves without it); `/readyz` says so in its
//! body. Every probe answers within [`PROBE_BOUND`].

use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

use crate::request::problem::Problem;
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

/// How long `/readyz` may take: a database that does not answer within it is not ready.
pub const PROBE_BOUND: std::time::Duration = std::time::Duration::from_secs(1);

/// `GET /readyz`: 200 when the service should get traffic (`ready`, then what works less
/// well than configured, one per line); otherwise 503 problem+json with `Retry-After`, naming
/// what is not ready. Answers within [`PROBE_BOUND`].
pub async fn readyz(State(services): State<Services>) -> Response {
    let reason = if is_draining() {
        Some("shutting down: in-flight requests are draining".to_owned())
    } else {
        match tokio::time::timeout(PROBE_BOUND, services.unready()).await {
            Ok(reason) => reason,
            Err(_) => Some(format!(
                "the database does not answer within {} ms",
                PROBE_BOUND.as_millis()
            )),
        }
    };
    let response = match reason {
        None => {
            let mut body = String::from("ready");
            for degraded in services.degraded() {
                body.push('\n');
                body.push_str(degraded);
            }
            (StatusCode::OK, body).into_response()
        }
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
