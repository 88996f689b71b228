//! Compression on a real axum router: responses by `Accept-Encoding` above the minimum size,
//! operations that opt out, validators weakened under a coding, and request bodies
//! decompressed with their size bounded after decompression.

use std::io::{Read, Write};

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::routing::{get, post};
use axum::Router;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use http::{header, Method, StatusCode};
use specjet::compression::{layer, CompressionSettings};
use specjet::OperationInfo;
use tower::ServiceExt;

static SECRET: OperationInfo = OperationInfo::new("getSecret", Method::GET, "/secret");

fn big() -> String {
    format!(
        "{{\"items\":[{}]}}",
        vec!["\"a fairly repetitive item\""; 200].join(",")
    )
}

/// `/big` (with a strong ETag), `/small`, `/secret` (opted out), and `POST /echo`, which
/// answers with the length of the body it read within the service's limit.
fn app(settings: &CompressionSettings) -> Router {
    let echo = |request: Request| async move {
        let (parts, body) = request.into_parts();
        let limit = specjet::extract::body_limit(&parts);
        match specjet::extract::read_body(body, limit).await {
            Ok(bytes) => (StatusCode::OK, bytes.len().to_string()).into_response(),
            Err(problem) => problem.into_response(),
        }
    };
    Router::new()
        .route(
            "/big",
            get(|| async {
                (
                    [
                        (header::ETAG, "\"v1\""),
                        (header::CONTENT_TYPE, "application/json"),
                    ],
                    big(),
                )
            }),
        )
        .route("/small", get(|| async { "tiny" }))
        .route(
            "/secret",
            get(|request: Request| async move {
                // The handler never learns what the client accepts.
                let seen = request.headers().get(header::ACCEPT_ENCODING).is_some();
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    format!(
                        "{{\"saw_encoding\":{seen},\"pad\":\"{}\"}}",
                        "x".repeat(4096)
                    ),
                )
            }),
        )
        .route("/echo", post(echo))
        .layer(layer(settings, vec![&SECRET]))
}

use axum::response::IntoResponse;

async fn get_with(router: &Router, path: &str, accept: &str) -> (http::HeaderMap, Vec<u8>) {
    let request = http::Request::get(path)
        .header(header::ACCEPT_ENCODING, accept)
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let headers = response.headers().clone();
    (
        headers,
        to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
}

#[tokio::test]
async fn responses_are_compressed_by_accept_encoding_above_the_minimum() {
    let router = app(&CompressionSettings::default());
    let (headers, body) = get_with(&router, "/big", "gzip").await;
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
    assert!(headers[header::VARY]
        .to_str()
        .unwrap()
        .contains("accept-encoding"));
    let mut decoded = String::new();
    GzDecoder::new(body.as_slice())
        .read_to_string(&mut decoded)
        .unwrap();
    assert_eq!(decoded, big());
    assert!(
        body.len() * 10 < decoded.len(),
        "{} of {}",
        body.len(),
        decoded.len()
    );
    // A strong validator names exact bytes: under a coding it is weak.
    assert_eq!(headers[header::ETAG], "W/\"v1\"");

    let (headers, _) = get_with(&router, "/big", "br;q=1, gzip;q=0.5").await;
    assert_eq!(headers[header::CONTENT_ENCODING], "br");
    let (headers, _) = get_with(&router, "/big", "zstd").await;
    assert_eq!(headers[header::CONTENT_ENCODING], "zstd");
    // Without Accept-Encoding, or for a small body, nothing changes.
    let (headers, body) = get_with(&router, "/big", "identity").await;
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(headers[header::ETAG], "\"v1\"");
    assert_eq!(body, big().into_bytes());
    let (headers, body) = get_with(&router, "/small", "gzip").await;
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(body, b"tiny");
    // No Accept-Encoding at all: the route's own answer, which still says it varies by it
    // (a shared cache must not give it to a client that accepts gzip, nor the reverse).
    let request = http::Request::get("/big").body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
    assert_eq!(response.headers()[header::VARY], "accept-encoding");
    assert_eq!(response.headers()[header::ETAG], "\"v1\"");
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    assert_eq!(body, big().into_bytes());
}

#[tokio::test]
async fn operations_that_opt_out_are_never_compressed() {
    let router = app(&CompressionSettings::default());
    let (headers, body) = get_with(&router, "/secret", "gzip, br").await;
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    assert!(String::from_utf8(body)
        .unwrap()
        .starts_with("{\"saw_encoding\":false"));
}

#[tokio::test]
async fn algorithms_can_be_turned_off() {
    let router = app(&CompressionSettings {
        br: false,
        zstd: false,
        ..CompressionSettings::default()
    });
    let (headers, _) = get_with(&router, "/big", "br, zstd").await;
    assert!(headers.get(header::CONTENT_ENCODING).is_none());
    let (headers, _) = get_with(&router, "/big", "br, zstd, gzip").await;
    assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

async fn post_gzip(router: &Router, body: Vec<u8>, encoding: &str) -> (StatusCode, String) {
    let request = http::Request::post("/echo")
        .header(header::CONTENT_ENCODING, encoding)
        .body(Body::from(body))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn request_bodies_are_decompressed_and_bounded_after_decompression() {
    let router = app(&CompressionSettings {
        max_request_size: 64 * 1024,
        ..CompressionSettings::default()
    });
    let (status, body) = post_gzip(&router, gzip(&[b'a'; 10_000]), "gzip").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "10000"));
    // 16 MiB of zeros compress to a few KiB; the limit counts what they expand to.
    let bomb = gzip(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < 64 * 1024);
    let (status, body) = post_gzip(&router, bomb, "gzip").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // A coding the service does not speak is refused as a problem, not passed on as garbage.
    let (status, body) = post_gzip(&router, b"whatever".to_vec(), "lzma").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        body.contains("Content-Encoding `lzma` are not accepted (accepted: br, zstd, gzip)"),
        "{body}"
    );
    // Codings are case-insensitive.
    let (status, body) = post_gzip(&router, gzip(b"shouting"), "GZIP").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "8"));
    // Stacked codings are refused as a problem that says so, never a bare 415.
    let twice = gzip(&gzip(b"twice"));
    let (status, body) = post_gzip(&router, twice, "gzip, gzip").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(body.contains("several content codings"), "{body}");
    // `identity` is no coding at all.
    let (status, body) = post_gzip(&router, b"plain".to_vec(), "identity").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "5"));
    // A corrupt gzip body is a bad request, said as such.
    let (status, body) = post_gzip(&router, b"not gzip at all".to_vec(), "gzip").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("could not be read"), "{body}");
}
