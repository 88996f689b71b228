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
use specjet::cache::{Cache, CacheSettings};
use specjet::compression::CompressionSettings;
use specjet::rate_limit::{KeyPart, RateLimitPolicy, RateLimitSettings, RateLimiter, Window};
use specjet::{OperationInfo, Policies, ServiceSettings, Services};

const BODY: &str =
    r#"{"id":1,"name":"Rex","tag":"dog","status":"available","owner":{"id":7,"name":"Ada"}}"#;

fn operation(id: &'static str, path: &'static str) -> &'static OperationInfo {
    Box::leak(Box::new(OperationInfo::new(id, Method::GET, path)))
}

/// `router` with `operation` limited per IP to `window`, as a generated router limits it.
fn limited(
    router: Router,
    limiter: &RateLimiter,
    operation: &'static OperationInfo,
    window: Window,
) -> Router {
    let settings = ServiceSettings {
        compression: specjet::compression::CompressionSettings::off(),
        ..ServiceSettings::default()
    };
    let cache = Cache::new(CacheSettings::default(), None);
    let services = Services::from_parts(settings, cache, limiter.clone());
    let windows = vec![window].leak();
    let policies = Policies {
        rate_limit: Some(RateLimitPolicy::new(operation.id, windows).keyed_by(&[KeyPart::Ip])),
        ..Policies::NONE
    };
    services.apply(router, &[(operation, policies)])
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
        .merge(limited(
            Router::new().route("/limited/memory", get(handler)),
            &memory,
            operation("memory", "/limited/memory"),
            plenty,
        ))
        .merge(limited(
            Router::new().route("/limited/redis", get(handler)),
            &redis,
            operation("redis", "/limited/redis"),
            plenty,
        ))
        .merge(limited(
            Router::new().route("/refused", get(handler)),
            &memory,
            operation("refused", "/refused"),
            Window::new(1, Duration::from_secs(3600)),
        ))
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
