//! The shared state a generated router is built with: today the response cache.

use crate::cache::{Cache, CacheSettings};

/// Service-wide settings from the spec's root `x-specjet` annotation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSettings {
    pub cache: CacheSettings,
}

/// Connections and caches shared by every route; cheap to clone.
#[derive(Clone)]
pub struct Services {
    cache: Cache,
}

impl Services {
    /// Services configured from the environment: `REDIS_URL` enables the shared cache tier.
    /// Without it everything runs in process, with no servers at all.
    pub fn from_env(settings: ServiceSettings) -> Services {
        // Count from the first request on, not from the first scrape.
        crate::metrics::handle();
        Services {
            cache: Cache::from_env(settings.cache),
        }
    }

    /// Services with an explicit Redis URL (or none).
    pub fn new(settings: ServiceSettings, redis_url: Option<&str>) -> Services {
        crate::metrics::handle();
        Services {
            cache: Cache::new(settings.cache, redis_url),
        }
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }
}
