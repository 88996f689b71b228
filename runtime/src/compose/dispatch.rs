//! Sending a request through the service's own router, in process: the items of a batch and
//! the parts of a composite operation meet every layer a direct call meets.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// Headers of the outer request that describe its own body, encoding or connection, which
/// an inner request does not inherit.
const NOT_INHERITED: [HeaderName; 6] = [
    header::CONTENT_LENGTH,
    header::CONTENT_TYPE,
    header::CONTENT_ENCODING,
    header::TRANSFER_ENCODING,
    header::ACCEPT_ENCODING,
    header::CONNECTION,
];

/// An inner request from the outer one's client: its headers (credentials, `Cache-Control`,
/// forwarding; not those of its body), its client address (rate limits keyed by IP count it
/// against the same caller), and no compression (the outer answer is compressed, if anything).
pub(crate) fn inner_request(
    outer: &http::request::Parts,
    method: http::Method,
    uri: http::Uri,
    body: Body,
) -> http::Request<Body> {
    let mut request = http::Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    for (name, value) in &outer.headers {
        if !NOT_INHERITED.contains(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    if let Some(client) = outer.extensions.get::<ConnectInfo<SocketAddr>>() {
        request.extensions_mut().insert(*client);
    }
    request
}

/// The answer of `request` through `router`: its status, headers and body (JSON when it says
/// it is JSON, else text; `null` when empty).
pub(crate) async fn send(
    router: axum::Router,
    request: http::Request<Body>,
) -> (StatusCode, HeaderMap, Value) {
    let (status, headers, bytes) = send_raw(router, request).await;
    let json = headers.get(header::CONTENT_TYPE).is_some_and(is_json);
    let text = || Value::String(String::from_utf8_lossy(&bytes).into_owned());
    let value = if bytes.is_empty() {
        Value::Null
    } else if json {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| text())
    } else {
        text()
    };
    (status, headers, value)
}

/// The answer of `request` through `router`: its status, headers and body as sent.
pub(crate) async fn send_raw(
    router: axum::Router,
    request: http::Request<Body>,
) -> (StatusCode, HeaderMap, bytes::Bytes) {
    let response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    (parts.status, parts.headers, bytes)
}

/// Whether a media type is JSON (`application/json`, `text/json`, `application/*+json`).
pub(crate) fn is_json(media: &HeaderValue) -> bool {
    media.to_str().is_ok_and(|media| {
        let essence = media.split(';').next().unwrap_or_default().trim();
        crate::request::extract::is_json(&essence.to_ascii_lowercase())
    })
}

/// `uri` with `base_path` taken off its path, if the path is at or below it.
pub(crate) fn below(uri: &http::Uri, base_path: &str) -> Option<http::Uri> {
    let rest = uri.path().strip_prefix(base_path)?;
    let path = match rest {
        "" => "/",
        rest if rest.starts_with('/') => rest,
        _ => return None,
    };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    http::Uri::from_parts(parts).ok()
}
