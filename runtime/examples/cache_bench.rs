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
use axum::handler::Handler;
use axum::routing::get;
use axum::Router;
use specjet::cache::{Backend, Cache, CachePolicy, CacheRoute, CacheSettings};

const BODY: &str =
    r#"{"id":1,"name":"Rex","tag":"dog","status":"available","owner":{"id":7,"name":"Ada"}}"#;

async fn slow(Path(_id): Path<String>) -> ([(http::HeaderName, &'static str); 1], &'static str) {
    tokio::time::sleep(Duration::from_millis(20)).await;
    ([(http::header::CONTENT_TYPE, "application/json")], BODY)
}

fn route(operation: &'static str) -> CacheRoute {
    CacheRoute {
        operation,
        policy: CachePolicy::new(Duration::from_secs(600)),
        secured: false,
        params: &[("id", "id")],
    }
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
        .route(
            "/memory/{id}",
            get(slow.layer(memory.layer(route("memory")))),
        )
        .route("/redis/{id}", get(slow.layer(redis.layer(route("redis")))))
        .route(
            "/static",
            get(|| async { ([(http::header::CONTENT_TYPE, "application/json")], BODY) }),
        );
    specjet::serve(app).await
}
