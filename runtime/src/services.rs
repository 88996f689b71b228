//! The shared state a generated router is built with: the Redis connection, the response
//! cache and the rate limiter, and the spec's service-wide settings.

use crate::cache::{Cache, CacheSettings};
use crate::compression::CompressionSettings;
use crate::rate_limit::{RateLimitSettings, RateLimiter};
use crate::redis_conn::SharedRedis;

/// Service-wide settings from the spec's root `x-specjet` annotation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSettings {
    pub cache: CacheSettings,
    pub rate_limit: RateLimitSettings,
    pub compression: CompressionSettings,
}

/// Connections, caches and budgets shared by every route; cheap to clone.
#[derive(Clone)]
pub struct Services {
    settings: ServiceSettings,
    cache: Cache,
    rate_limiter: RateLimiter,
}

impl Services {
    /// Services configured from the environment: `REDIS_URL` enables the shared cache tier
    /// and shared rate-limit budgets. Without it everything runs in process, with no servers
    /// at all.
    pub fn from_env(settings: ServiceSettings) -> Services {
        let url = std::env::var("REDIS_URL")
            .ok()
            .filter(|url| !url.is_empty());
        Services::new(settings, url.as_deref())
    }

    /// Services with an explicit Redis URL (or none).
    pub fn new(settings: ServiceSettings, redis_url: Option<&str>) -> Services {
        // Count from the first request on, not from the first scrape.
        crate::metrics::handle();
        let redis = redis_url.and_then(SharedRedis::connect);
        Services {
            cache: Cache::with_redis(settings.cache.clone(), redis.clone()),
            rate_limiter: RateLimiter::new(settings.rate_limit.clone(), redis),
            settings,
        }
    }

    pub fn settings(&self) -> &ServiceSettings {
        &self.settings
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.rate_limiter
    }
}
