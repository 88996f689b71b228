//! Helpers shared by the runtime's integration tests: services with one layer under test, the
//! shared Redis of `REDIS_URL`, and private `redis-server`s that a test may kill.
#![allow(dead_code)] // each test file uses its own share

pub(crate) mod postgres;
mod private_redis;

#[allow(unused_imports)] // each test file uses its own share
pub(crate) use private_redis::{free_port, PrivateRedis};

use std::time::Instant;

use specjet::cache::{Cache, CacheSettings};
use specjet::compression::CompressionSettings;
use specjet::rate_limit::RateLimiter;
use specjet::{ServiceSettings, Services};

/// Services over `cache` and `limiter` (in process when `None`), compression off: a test of
/// one layer sees only that layer.
pub(crate) fn services(cache: Option<Cache>, limiter: Option<RateLimiter>) -> Services {
    let settings = ServiceSettings {
        compression: CompressionSettings::off(),
        ..ServiceSettings::default()
    };
    let cache = cache.unwrap_or_else(|| Cache::new(CacheSettings::default(), None));
    let limiter = limiter.unwrap_or_else(|| RateLimiter::new(settings.rate_limit.clone(), None));
    Services::from_parts(settings, cache, limiter)
}

pub(crate) fn redis_url() -> Option<String> {
    let url = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("skipped: REDIS_URL is not set");
    }
    url
}

pub(crate) fn unique_prefix(name: &str) -> String {
    format!(
        "specjet-test-{name}-{}-{}",
        std::process::id(),
        specjet::cache::etag_for(format!("{:?}", Instant::now()).as_bytes()).trim_matches('"')
    )
}
