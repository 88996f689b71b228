//! Requests sent through a generated router without a socket, as from a client on 127.0.0.1
//! (the rate limiter keys by it), and what came back.

#![allow(dead_code)] // each test file uses part of it

use std::net::SocketAddr;

use specjet::axum::body::{to_bytes, Body};
use specjet::axum::extract::ConnectInfo;
use specjet::axum::Router;
use specjet::http::{HeaderMap, Method, Request, StatusCode};
use specjet::serde_json::{self, Value};
use tower::ServiceExt;

/// An answer, read whole.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A request without a body.
pub async fn send(router: &Router, method: Method, path: &str, headers: &[(&str, &str)]) -> Answer {
    send_body(router, method, path, headers, None).await
}

pub async fn get(router: &Router, path: &str) -> Answer {
    send(router, Method::GET, path, &[]).await
}

/// A request with `body` (its content type and bytes) when given.
pub async fn send_body(
    router: &Router,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, Vec<u8>)>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = match body {
        Some((content_type, body)) => request
            .header("content-type", content_type)
            .body(Body::from(body)),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let client: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(client));
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}
