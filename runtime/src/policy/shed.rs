//! Load shedding (`x-specjet.max-in-flight`): above the bound a request is answered 503 with
//! `Retry-After` at once, rather than waiting in a queue that only grows under overload.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use tokio::sync::Semaphore;

use crate::request::problem::Problem;

/// The requests in flight, bounded.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl InFlight {
    pub(crate) fn new(limit: usize) -> InFlight {
        InFlight {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }
}

/// The middleware (`axum::middleware::from_fn_with_state`).
pub(crate) async fn shed(
    State(in_flight): State<InFlight>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(_permit) = in_flight.permits.clone().try_acquire_owned() else {
        return Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail(format!(
                "the service is handling its limit of {} requests; retry shortly",
                in_flight.limit
            ))
            .with_retry_after(1)
            .into_response();
    };
    next.run(request).await
}
