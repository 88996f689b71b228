//! Response compression (br, zstd, gzip by `Accept-Encoding`, above a minimum size) and
//! request decompression whose output is bounded, from the spec's `x-specjet.compression`
//! settings and per-operation `x-compress: false`.
//!
//! [`layer`] gives the one layer the generated router puts around every route. Operations
//! that opt out are answered as if the client accepted no content-coding. A strong `ETag`
//! never survives a content-coding: it is sent weak.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures_util::future::{Either, FutureExt, Map};
use http::{header, HeaderValue, Request};
use tower::{Layer, Service};
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::{Compression, CompressionLayer};
use tower_http::decompression::{RequestDecompression, RequestDecompressionLayer};

use crate::serving::operation::ByRoute;
use crate::OperationInfo;

pub use specjet_model::compression::CompressionSettings;

/// The operations among `operations` whose responses are sent uncompressed: those for which
/// `compress` says no (the generated router passes the code's choice, else the spec's).
pub fn uncompressed(
    operations: &'static [OperationInfo],
    compress: impl Fn(&str) -> bool,
) -> Vec<&'static OperationInfo> {
    operations
        .iter()
        .filter(|operation| !compress(operation.id))
        .collect()
}

type Chosen = tower_http::compression::predicate::And<
    tower_http::compression::predicate::And<
        tower_http::compression::predicate::And<
            tower_http::compression::predicate::And<SizeAbove, NotForContentType>,
            NotForContentType,
        >,
        NotForContentType,
    >,
    NotForContentType,
>;

/// The compression layer with these settings, leaving `uncompressed` operations alone.
pub fn layer(
    settings: &CompressionSettings,
    uncompressed: Vec<&'static OperationInfo>,
) -> CompressLayer {
    // Already compressed or streamed media gain nothing.
    let predicate: Chosen = SizeAbove::new(settings.min_size)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
        .and(NotForContentType::const_new("application/zip"));
    CompressLayer {
        compression: CompressionLayer::new()
            .br(settings.br)
            .zstd(settings.zstd)
            .gzip(settings.gzip)
            .compress_when(predicate),
        decompression: RequestDecompressionLayer::new()
            .br(settings.br)
            .zstd(settings.zstd)
            .gzip(settings.gzip),
        limit: crate::request::request_body::BodyLimit(settings.max_request_size),
        codings: [
            (settings.br, "br"),
            (settings.zstd, "zstd"),
            (settings.gzip, "gzip"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect(),
        active: settings.br
            || settings.zstd
            || settings.gzip
            || settings.max_request_size != crate::request::request_body::DEFAULT_BODY_LIMIT,
        compresses: settings.br || settings.zstd || settings.gzip,
        uncompressed: Arc::new(ByRoute::new(
            uncompressed.into_iter().map(|operation| (operation, ())),
        )),
    }
}

/// See [`layer`].
#[derive(Clone)]
pub struct CompressLayer {
    compression: CompressionLayer<Chosen>,
    decompression: RequestDecompressionLayer,
    limit: crate::request::request_body::BodyLimit,
    uncompressed: Arc<ByRoute<()>>,
    active: bool,
    compresses: bool,
    /// The request codings understood, e.g. `["br", "gzip"]`.
    codings: Arc<[&'static str]>,
}

impl std::fmt::Debug for CompressLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompressLayer")
            .field("codings", &self.codings)
            .field("limit", &self.limit)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl CompressLayer {
    /// Whether the layer does anything: some algorithm is on, or the body limit differs
    /// from the default.
    pub fn is_active(&self) -> bool {
        self.active
    }
}

impl<S: Clone> Layer<S> for CompressLayer {
    type Service = CompressService<S>;

    fn layer(&self, inner: S) -> CompressService<S> {
        CompressService {
            plain: inner.clone(),
            inner: self
                .compression
                .layer(self.decompression.layer(AxumBody { inner })),
            limit: self.limit,
            uncompressed: self.uncompressed.clone(),
            codings: self.codings.clone(),
            compresses: self.compresses,
        }
    }
}

type Inner<S> = Compression<RequestDecompression<AxumBody<S>>, Chosen>;

/// The service [`CompressLayer`] wraps a route in: refuses request bodies in unknown codings,
/// bounds decompressed bodies, compresses responses and weakens their `ETag`.
#[derive(Clone)]
pub struct CompressService<S> {
    inner: Inner<S>,
    /// The route itself, for requests with nothing to negotiate or decode: no
    /// `Accept-Encoding` and no `Content-Encoding` (most API clients), which skip
    /// tower-http's body wrappers.
    plain: S,
    limit: crate::request::request_body::BodyLimit,
    uncompressed: Arc<ByRoute<()>>,
    codings: Arc<[&'static str]>,
    /// Whether any algorithm is on (then answers vary by `Accept-Encoding`).
    compresses: bool,
}

impl<S> std::fmt::Debug for CompressService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompressService")
            .field("codings", &self.codings)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// What a response of the route itself goes through: nothing, or `Vary: Accept-Encoding`.
type Finish = fn(Result<Response, Infallible>) -> Result<Response, Infallible>;

/// The future of [`CompressService`]: the route's own (nothing to negotiate or decode), or
/// tower-http's compression and decompression around it.
pub type CompressFuture<F> = Either<Map<F, Finish>, BoxFuture>;

impl<S> Service<Request<Body>> for CompressService<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = CompressFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        match Service::<Request<Body>>::poll_ready(&mut self.inner, cx) {
            Poll::Ready(Ok(())) => self.plain.poll_ready(cx),
            pending_or_error => pending_or_error,
        }
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        if let Some(problem) = self.check_coding(&mut request) {
            return Either::Right(Box::pin(async move { Ok(problem) }));
        }
        let uncompressed = self.is_uncompressed(&request);
        if uncompressed {
            request.headers_mut().remove(header::ACCEPT_ENCODING);
        }
        // An operation's own limit, set as its body was read, stands; a request without a
        // body has nothing to bound (and is spared an extension's allocation).
        if !http_body::Body::is_end_stream(request.body())
            && request
                .extensions()
                .get::<crate::request::request_body::BodyLimit>()
                .is_none()
        {
            request.extensions_mut().insert(self.limit);
        }
        let headers = request.headers();
        if !headers.contains_key(header::ACCEPT_ENCODING)
            && !headers.contains_key(header::CONTENT_ENCODING)
        {
            // Identity both ways: the route answers as it is. The answer still varies by
            // `Accept-Encoding` where another client would get it compressed.
            let finish: Finish = if self.compresses && !uncompressed {
                vary_by_encoding
            } else {
                |response| response
            };
            return Either::Left(self.plain.call(request).map(finish));
        }
        let future = self.inner.call(request);
        Either::Right(Box::pin(async move {
            let response = match future.await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let mut response = response.map(Body::new);
            weaken_etag(&mut response);
            Ok(response)
        }))
    }
}

/// Adds `Vary: Accept-Encoding` unless the answer already varies by it.
fn vary_by_encoding(response: Result<Response, Infallible>) -> Result<Response, Infallible> {
    response.map(|mut response| {
        let varies = response
            .headers()
            .get_all(header::VARY)
            .iter()
            .any(|value| {
                value.to_str().is_ok_and(|v| {
                    v.split(',').any(|name| {
                        name.trim().eq_ignore_ascii_case("accept-encoding") || name.trim() == "*"
                    })
                })
            });
        if !varies {
            response
                .headers_mut()
                .append(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        response
    })
}

impl<S> CompressService<S> {
    /// 415 as a problem for a request body in a coding the service does not speak (it would
    /// otherwise reach the handler as garbage), or in several codings stacked; a coding it
    /// speaks is passed on in lower case (codings are case-insensitive).
    fn check_coding(&self, request: &mut Request<Body>) -> Option<Response> {
        let header = request.headers().get(header::CONTENT_ENCODING)?;
        let text = header.to_str().unwrap_or("?");
        let codings: Vec<String> = text
            .split(',')
            .map(|coding| coding.trim().to_ascii_lowercase())
            .filter(|coding| coding != "identity" && !coding.is_empty())
            .collect();
        let accepted = if self.codings.is_empty() {
            "none".to_owned()
        } else {
            self.codings.join(", ")
        };
        let refusal = match codings.as_slice() {
            [] => {
                request.headers_mut().remove(header::CONTENT_ENCODING);
                return None;
            }
            [one] if self.codings.contains(&one.as_str()) => {
                if let Ok(value) = HeaderValue::from_str(one) {
                    request.headers_mut().insert(header::CONTENT_ENCODING, value);
                }
                return None;
            }
            [one] => format!(
                "request bodies in Content-Encoding `{one}` are not accepted (accepted: {accepted})"
            ),
            _ => format!(
                "request bodies in several content codings (`{text}`) are not accepted; send one of: {accepted}"
            ),
        };
        let mut response =
            crate::request::problem::Problem::new(http::StatusCode::UNSUPPORTED_MEDIA_TYPE)
                .with_detail(refusal)
                .into_response();
        if let Ok(value) = HeaderValue::from_str(&self.codings.join(", ")) {
            response
                .headers_mut()
                .insert(header::ACCEPT_ENCODING, value);
        }
        Some(response)
    }

    fn is_uncompressed(&self, request: &Request<Body>) -> bool {
        self.uncompressed.get(request).is_some()
    }
}

/// A strong validator names exact bytes; once a content-coding changed them it is weak.
fn weaken_etag(response: &mut Response) {
    if !response.headers().contains_key(header::CONTENT_ENCODING) {
        return;
    }
    let Some(etag) = response.headers().get(header::ETAG) else {
        return;
    };
    if etag.as_bytes().starts_with(b"W/") {
        return;
    }
    let mut weak = b"W/".to_vec();
    weak.extend_from_slice(etag.as_bytes());
    if let Ok(weak) = HeaderValue::from_bytes(&weak) {
        response.headers_mut().insert(header::ETAG, weak);
    }
}

/// Hands the route an axum `Body` whatever body type the layers above produced.
#[derive(Debug, Clone)]
pub struct AxumBody<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for AxumBody<S>
where
    S: Service<Request<Body>>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> S::Future {
        self.inner.call(request.map(Body::new))
    }
}
