//! The server for the rate-limit and compression benchmark in BENCHMARKS.md. Every route
//! answers the same JSON; they differ only in the layer in front:
//!
//! - `/plain`: nothing, the baseline;
//! - `/limited/memory`: a per-IP budget in process, never exhausted (the cost of asking);
//! - `/limited/redis`: the same budget in Redis, shared by replicas (needs `REDIS_URL`);
//! - `/refused`: a budget of one per hour, so every request after the first is a 429;
//! - `/big-raw`: an 8 KiB JSON list with no layer, the baseline of
//! - `/big`: the same list behind the compression layer (the load generator chooses whether to
//!   accept gzip or br).
//!
//! `ADDR=127.0.0.1:8098 cargo run --release -p specjet --example limits_bench`

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use http::Method;
use specjet::compression::CompressionSettings;
use specjet::rate_limit::{
    KeyPart, RateLimitPolicy, RateLimitRoute, RateLimitSettings, RateLimiter, Window,
};
use specjet::OperationInfo;

const BODY: &str =
    r#"{"id":1,"name":"Rex","tag":"dog","status":"available","owner":{"id":7,"name":"Ada"}}"#;

fn operation(id: &'static str, path: &'static str) -> &'static OperationInfo {
    Box::leak(Box::new(OperationInfo {
        id,
        method: Method::GET,
        path,
        secured: false,
        params: &[],
    }))
}

fn limited(
    limiter: &RateLimiter,
    operation: &'static OperationInfo,
    window: Window,
) -> specjet::rate_limit::RateLimitLayer {
    limiter.layer(vec![RateLimitRoute {
        operation,
        policy: RateLimitPolicy {
            name: operation.id,
            windows: vec![window],
            key: vec![KeyPart::Ip],
            cost: 1,
        },
    }])
}

fn json(body: String) -> ([(http::HeaderName, &'static str); 1], String) {
    ([(http::header::CONTENT_TYPE, "application/json")], body)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    specjet::metrics::handle();
    let plenty = Window::new(u32::MAX, Duration::from_secs(1));
    let memory = RateLimiter::new(RateLimitSettings::default(), None);
    let redis_url = std::env::var("REDIS_URL").ok();
    let redis = RateLimiter::new(
        RateLimitSettings {
            key_prefix: format!("specjet-bench-{}", std::process::id()),
            ..RateLimitSettings::default()
        },
        redis_url.as_deref().and_then(specjet::SharedRedis::connect),
    );
    let big = format!("[{}]", vec![BODY; 8 * 1024 / BODY.len()].join(","));
    let handler = || async { json(BODY.to_owned()) };
    let raw = big.clone();
    let app = Router::new()
        .route("/plain", get(handler))
        .route("/big-raw", get(move || async move { json(raw) }))
        .merge(
            Router::new()
                .route("/limited/memory", get(handler))
                .layer(limited(
                    &memory,
                    operation("memory", "/limited/memory"),
                    plenty,
                )),
        )
        .merge(
            Router::new()
                .route("/limited/redis", get(handler))
                .layer(limited(
                    &redis,
                    operation("redis", "/limited/redis"),
                    plenty,
                )),
        )
        .merge(Router::new().route("/refused", get(handler)).layer(limited(
            &memory,
            operation("refused", "/refused"),
            Window::new(1, Duration::from_secs(3600)),
        )))
        .merge(
            Router::new()
                .route("/big", get(move || async move { json(big) }))
                .layer(specjet::compression::layer(
                    &CompressionSettings::default(),
                    Vec::new(),
                )),
        );
    specjet::serve(app).await
}
