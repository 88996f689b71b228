//! The server for the cache benchmark in BENCHMARKS.md: one 20 ms handler served four ways.
//!
//! - `/slow/{id}`: the handler itself, uncached;
//! - `/memory/{id}`: cached in process (every request after the first is an L1 hit);
//! - `/redis/{id}`: cached in Redis only (every request is an L2 hit), needs `REDIS_URL`;
//! - `/static`: a hand-written axum route returning the same bytes, the ceiling.
//!
//! `ADDR=127.0.0.1:8099 cargo run --release -p specjet --example cache_bench`

use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::Method;
use specjet::cache::{Backend, Cache, CachePolicy, CacheSettings};
use specjet::rate_limit::RateLimiter;
use specjet::{OperationInfo, Policies, ServiceSettings, Services};

const BODY: &str =
    r#"{"id":1,"name":"Rex","tag":"dog","status":"available","owner":{"id":7,"name":"Ada"}}"#;

async fn slow(Path(_id): Path<String>) -> ([(http::HeaderName, &'static str); 1], &'static str) {
    tokio::time::sleep(Duration::from_millis(20)).await;
    ([(http::header::CONTENT_TYPE, "application/json")], BODY)
}

static MEMORY: OperationInfo =
    OperationInfo::new("memory", Method::GET, "/memory/{id}").with_params(&[("id", "id")]);
static REDIS: OperationInfo =
    OperationInfo::new("redis", Method::GET, "/redis/{id}").with_params(&[("id", "id")]);

const CACHED: Policies = Policies {
    cache: Some(CachePolicy::new(Duration::from_secs(600))),
    ..Policies::NONE
};

/// `router` with `operation` cached as a generated router caches it, in `cache`.
fn cached(router: Router, cache: Cache, operation: &'static OperationInfo) -> Router {
    let settings = ServiceSettings {
        compression: specjet::compression::CompressionSettings::off(),
        ..ServiceSettings::default()
    };
    let limiter = RateLimiter::new(settings.rate_limit.clone(), None);
    Services::from_parts(settings, cache, limiter).apply(router, &[(operation, CACHED)])
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Count as a generated service does.
    specjet::metrics::handle();
    let memory = Cache::new(
        CacheSettings {
            backend: Backend::Memory,
            ..CacheSettings::default()
        },
        None,
    );
    let redis_url = std::env::var("REDIS_URL").ok();
    let redis = Cache::new(
        CacheSettings {
            backend: Backend::Redis,
            key_prefix: format!("specjet-bench-{}", std::process::id()),
            ..CacheSettings::default()
        },
        redis_url.as_deref(),
    );
    let app = Router::new()
        .route("/slow/{id}", get(slow))
        .merge(cached(
            Router::new().route("/memory/{id}", get(slow)),
            memory,
            &MEMORY,
        ))
        .merge(cached(
            Router::new().route("/redis/{id}", get(slow)),
            redis,
            &REDIS,
        ))
        .route(
            "/static",
            get(|| async { ([(http::header::CONTENT_TYPE, "application/json")], BODY) }),
        );
    specjet::serve(app).await
}
