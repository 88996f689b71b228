//! A request's body, read whole before the operation's layers run: a client that stalls its
//! body is answered 408 (its own timeout, a client error) once it pauses longer than
//! `body-timeout`, and meanwhile holds no concurrency slot (`max-in-flight`), no pool
//! connection and no part of the operation's `x-timeout`, which all begin once the body is in.
//!
//! An operation whose request body has only binary media types reads it as a stream instead
//! ([`BodyStream`]): nothing is held whole, the limit (`x-specjet.server.max-upload-size`) is
//! applied as bytes arrive and a pause longer than `body-timeout` ends it in 408. Its
//! handler holds its concurrency slot while the body arrives; its `x-timeout` starts again
//! with each chunk ([`UploadDeadline`]), so that a large upload is not cut for taking long,
//! and the handler has the whole `x-timeout` once the body is in.
//!
//! The one home of body limits: the default, the service's (after decompression), the
//! streamed ones, and the reading itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http::{header, HeaderValue, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt;

use crate::request::problem::Problem;

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
    /// The problem: 413, 408 or 400; `what` names the body ("the request body", "the batch").
    fn problem(&self, what: &str, limit: usize) -> Problem {
        match self {
            BodyError::TooLarge => Problem::new(StatusCode::PAYLOAD_TOO_LARGE)
                .with_detail(format!("{what} is larger than {limit} bytes")),
            BodyError::Stalled(idle) => Problem::new(StatusCode::REQUEST_TIMEOUT).with_detail(
                format!("{what} paused for longer than {} ms", idle.as_millis()),
            ),
            BodyError::Broken(error) => Problem::new(StatusCode::BAD_REQUEST)
                .with_detail(format!("{what} could not be read: {error}")),
        }
    }

    /// The answer: the problem, and after a stall `Connection: close` (the rest of the body
    /// is not read).
    pub(crate) fn answer(&self, what: &str, limit: usize) -> Response {
        let mut response = self.problem(what, limit).into_response();
        if matches!(self, BodyError::Stalled(_)) {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
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
#[derive(Debug, Clone)]
pub(crate) struct Bounds {
    /// The most bytes a body read whole may have as sent (its content-coding still on).
    pub(crate) limit: usize,
    /// The longest pause between two of its frames.
    pub(crate) idle: Duration,
    /// The most bytes of a streamed body, after decompression.
    pub(crate) upload_limit: usize,
    /// The operations that read their body as a stream or have a limit of their own.
    pub(crate) routes: Arc<crate::serving::operation::ByRoute<RouteBody>>,
}

/// How one operation reads its body, when it is not the service's default.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteBody {
    /// Whether it reads its body as a stream.
    pub(crate) streamed: bool,
    /// Its own limit (`x-max-body-size`), in place of the service's.
    pub(crate) limit: Option<usize>,
}

/// The bounds of a streamed body, in its request's extensions for [`BodyStream::new`].
#[derive(Debug, Clone, Copy)]
struct StreamBounds {
    limit: usize,
    idle: Duration,
}

impl<S> tower::Layer<S> for Bounds {
    type Service = ReadFirst<S>;

    fn layer(&self, inner: S) -> ReadFirst<S> {
        ReadFirst {
            inner,
            bounds: self.clone(),
        }
    }
}

/// The service [`Bounds`] wraps a route in: the body read whole before the layers inside it
/// run, unless the operation reads it as a stream. A request without a body (most GETs) goes
/// straight through: nothing boxed, nothing cloned.
#[derive(Debug, Clone)]
pub(crate) struct ReadFirst<S> {
    inner: S,
    bounds: Bounds,
}

type Answer<T = Response> = Result<T, std::convert::Infallible>;

impl<S> tower::Service<Request> for ReadFirst<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future =
        futures_util::future::Either<S::Future, Pin<Box<dyn Future<Output = Answer> + Send>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Answer<()>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        use futures_util::future::Either;
        if request.body().is_end_stream() {
            return Either::Left(self.inner.call(request));
        }
        let bounds = &self.bounds;
        let route = bounds.routes.get(&request).copied();
        let own_limit = route.and_then(|route| route.limit);
        if route.is_some_and(|route| route.streamed) {
            request.extensions_mut().insert(StreamBounds {
                limit: own_limit.unwrap_or(bounds.upload_limit),
                idle: bounds.idle,
            });
            return Either::Left(self.inner.call(request));
        }
        let limit = own_limit.unwrap_or(bounds.limit);
        if let Some(own) = own_limit {
            // Decoded, the body is held to the operation's limit too (the compression layer
            // keeps a limit already set).
            request.extensions_mut().insert(BodyLimit(own));
        }
        // The service made ready is the one that answers; a clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let idle = bounds.idle;
        Either::Right(Box::pin(async move {
            let (parts, body) = request.into_parts();
            match read(body, limit, idle).await {
                Ok(bytes) => {
                    inner
                        .call(Request::from_parts(parts, Body::from(bytes)))
                        .await
                }
                Err(error) => Ok(error.answer("the request body", limit)),
            }
        }))
    }
}

/// A request body read as it arrives: a `Stream` of its chunks (backpressure: the client
/// sends as fast as the handler reads). The limit applies as bytes arrive (then the stream
/// ends with a 413 problem), a pause longer than `body-timeout` ends it with a 408 problem;
/// a handler passes either on with `?`. [`BodyStream::bytes`] reads the rest whole.
pub struct BodyStream {
    body: Body,
    limit: usize,
    idle: Duration,
    read: usize,
    /// The operation's `x-timeout`, moved on by each chunk.
    deadline: Option<UploadDeadline>,
    /// The pause so far, while the body has no chunk ready.
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
    done: bool,
}

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyStream")
            .field("read", &self.read)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl BodyStream {
    /// The body of the request whose head is `parts`, with the bounds the service put on it
    /// (outside a service: the service's limit for bodies read whole, and the default pause).
    pub fn new(parts: &http::request::Parts, body: Body) -> BodyStream {
        let bounds = parts
            .extensions
            .get::<StreamBounds>()
            .copied()
            .unwrap_or_else(|| StreamBounds {
                limit: body_limit(parts),
                idle: specjet_model::ServerSettings::default().body_timeout,
            });
        BodyStream {
            body,
            limit: bounds.limit,
            idle: bounds.idle,
            read: 0,
            deadline: parts.extensions.get::<UploadDeadline>().cloned(),
            pause: None,
            done: false,
        }
    }

    /// Bytes read so far.
    pub fn read(&self) -> usize {
        self.read
    }

    /// The rest of the body, whole (within the same limit).
    pub async fn bytes(mut self) -> Result<Bytes, Problem> {
        use futures_util::StreamExt;
        let mut whole = BytesMut::new();
        while let Some(chunk) = self.next().await {
            whole.extend_from_slice(&chunk?);
        }
        Ok(whole.freeze())
    }

    fn fail(&mut self, error: BodyError) -> Poll<Option<Result<Bytes, Problem>>> {
        self.done = true;
        Poll::Ready(Some(Err(error.problem("the request body", self.limit))))
    }
}

impl futures_util::Stream for BodyStream {
    type Item = Result<Bytes, Problem>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    this.pause = None;
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers
                    };
                    this.read = this.read.saturating_add(data.len());
                    if this.read > this.limit {
                        return this.fail(BodyError::TooLarge);
                    }
                    if let Some(deadline) = &this.deadline {
                        deadline.progressed();
                    }
                    return Poll::Ready(Some(Ok(data)));
                }
                Poll::Ready(Some(Err(error))) => {
                    return this.fail(BodyError::Broken(error.to_string()));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    let idle = this.idle;
                    let pause = this
                        .pause
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                    return match pause.as_mut().poll(cx) {
                        Poll::Ready(()) => this.fail(BodyError::Stalled(idle)),
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
    }
}

/// Bytes at hand as a stream (a handler's test, or a body that came whole).
impl From<Bytes> for BodyStream {
    fn from(bytes: Bytes) -> Self {
        BodyStream {
            body: Body::from(bytes),
            limit: usize::MAX,
            idle: specjet_model::ServerSettings::default().body_timeout,
            read: 0,
            deadline: None,
            pause: None,
            done: false,
        }
    }
}

impl From<Vec<u8>> for BodyStream {
    fn from(bytes: Vec<u8>) -> Self {
        BodyStream::from(Bytes::from(bytes))
    }
}

/// The `x-timeout` of an operation that reads its body as a stream, in its request's
/// extensions: each chunk that arrives starts it again, so the time a client takes to send
/// is bounded by `body-timeout` (between chunks) and `max-upload-size`, not by the
/// handler's timeout; once the body is in, the handler has the whole `x-timeout` to answer.
#[derive(Debug, Clone)]
pub(crate) struct UploadDeadline {
    inner: Arc<Progress>,
}

#[derive(Debug)]
struct Progress {
    start: std::time::Instant,
    /// Milliseconds from `start` to the last chunk.
    last: std::sync::atomic::AtomicU64,
}

impl UploadDeadline {
    pub(crate) fn new() -> UploadDeadline {
        UploadDeadline {
            inner: Arc::new(Progress {
                start: std::time::Instant::now(),
                last: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    fn progressed(&self) {
        let now = u64::try_from(self.inner.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.inner
            .last
            .store(now, std::sync::atomic::Ordering::Relaxed);
    }

    fn deadline(&self, limit: Duration) -> std::time::Instant {
        let last = self.inner.last.load(std::sync::atomic::Ordering::Relaxed);
        self.inner.start + Duration::from_millis(last) + limit
    }

    /// `future`'s output, or `None` when `limit` passed since the last chunk (or the start)
    /// with the future unfinished.
    pub(crate) async fn run<F: Future>(&self, limit: Duration, future: F) -> Option<F::Output> {
        let mut future = std::pin::pin!(future);
        loop {
            let deadline = self.deadline(limit);
            match tokio::time::timeout_at(deadline.into(), &mut future).await {
                Ok(output) => return Some(output),
                // A chunk came meanwhile: the deadline moved.
                Err(_) if self.deadline(limit) > deadline => continue,
                Err(_) => return None,
            }
        }
    }
}
