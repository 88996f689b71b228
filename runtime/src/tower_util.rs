//! Calling the inner service of a layer.

use std::convert::Infallible;

use axum::body::Body;
use axum::response::Response;
use http::Request;
use tower::Service;

/// Waits until `inner` is ready and lets it answer `request` (axum routes never fail).
pub(crate) async fn call<S>(mut inner: S, request: Request<Body>) -> Response
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
{
    match std::future::poll_fn(|cx| inner.poll_ready(cx)).await {
        Ok(()) => match inner.call(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        },
        Err(never) => match never {},
    }
}
