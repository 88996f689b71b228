//! A request's body, read whole before the operation's layers run: a client that stalls its
//! body is answered 408 (its own timeout, a client error) once it pauses longer than
//! `body-timeout`, and meanwhile holds no concurrency slot (`max-in-flight`), no pool
//! connection and no part of the operation's `x-timeout`, which all begin once the body is in.
//!
//! The one home of body limits: the default, the service's (after decompression), and the
//! reading itself.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http::{header, HeaderValue, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt;

use crate::problem::Problem;

/// Requests bodies larger than this are refused with 413 unless the service sets its own limit.
pub use specjet_model::compression::DEFAULT_BODY_LIMIT;

/// The service's limit on request bodies after decompression, which the compression layer
/// puts in each request's extensions for [`body_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyLimit(pub(crate) usize);

/// The request body limit: the service's (counted after decompression), else
/// [`DEFAULT_BODY_LIMIT`].
pub fn body_limit(parts: &http::request::Parts) -> usize {
    parts
        .extensions
        .get::<BodyLimit>()
        .map_or(DEFAULT_BODY_LIMIT, |limit| limit.0)
}

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// More than the limit.
    TooLarge,
    /// No byte for longer than the body timeout.
    Stalled(Duration),
    /// Cut off, or otherwise unreadable.
    Broken(String),
}

impl BodyError {
    /// The answer: 413, 408 (with `Connection: close`: the rest of the body is not read) or 400;
    /// `what` names the body ("the request body", "the batch").
    pub(crate) fn answer(&self, what: &str, limit: usize) -> Response {
        match self {
            BodyError::TooLarge => Problem::new(StatusCode::PAYLOAD_TOO_LARGE)
                .with_detail(format!("{what} is larger than {limit} bytes"))
                .into_response(),
            BodyError::Stalled(idle) => {
                let mut response = Problem::new(StatusCode::REQUEST_TIMEOUT)
                    .with_detail(format!(
                        "{what} paused for longer than {} ms",
                        idle.as_millis()
                    ))
                    .into_response();
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                response
            }
            BodyError::Broken(error) => Problem::new(StatusCode::BAD_REQUEST)
                .with_detail(format!("{what} could not be read: {error}"))
                .into_response(),
        }
    }
}

/// Reads `body` whole: at most `limit` bytes, with no pause between two frames longer than
/// `idle`.
pub(crate) async fn read(body: Body, limit: usize, idle: Duration) -> Result<Bytes, BodyError> {
    let mut body = body;
    let mut first: Option<Bytes> = None;
    let mut rest: Option<BytesMut> = None;
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(BodyError::Stalled(idle)),
            Ok(None) => break,
            Ok(Some(Err(error))) => return Err(BodyError::Broken(error.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let read = first.as_ref().map_or(0, Bytes::len) + rest.as_ref().map_or(0, BytesMut::len);
        if read + data.len() > limit {
            return Err(BodyError::TooLarge);
        }
        // One frame (the common case) is kept as it came; more are joined.
        match (&mut first, &mut rest) {
            (None, _) => first = Some(data),
            (Some(_), Some(rest)) => rest.extend_from_slice(&data),
            (Some(head), None) => {
                let mut joined = BytesMut::with_capacity(head.len() + data.len());
                joined.extend_from_slice(head);
                joined.extend_from_slice(&data);
                rest = Some(joined);
            }
        }
    }
    Ok(match (first, rest) {
        (_, Some(rest)) => rest.freeze(),
        (Some(first), None) => first,
        (None, None) => Bytes::new(),
    })
}

/// The bounds of [`read_first`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    /// The most bytes a body may have as sent (its content-coding still on).
    pub(crate) limit: usize,
    /// The longest pause between two of its frames.
    pub(crate) idle: Duration,
}

/// The middleware (`axum::middleware::from_fn_with_state`): the body read whole before the
/// layers inside it run.
pub(crate) async fn read_first(
    State(bounds): State<Bounds>,
    request: Request,
    next: Next,
) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    match read(body, bounds.limit, bounds.idle).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(error) => error.answer("the request body", bounds.limit),
    }
}
