//! `x-specjet.cache`: where cached answers are kept; `x-cache`: how one operation's answers
//! are cached, and `x-cache-invalidates`: whose entries a write drops.

use std::time::Duration;

/// The environment variable that names the shared Redis (the cache's Redis tier, the shared
/// rate budgets, invalidations between replicas): the runtime reads it, `specjet deploy`
/// takes it from the service's Secret.
pub const REDIS_URL_ENV: &str = "REDIS_URL";

use crate::form::{Form, Owned, Static};
use crate::tag::TagTemplate;

/// Where entries are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backend {
    /// In process only.
    Memory,
    /// Redis only (every replica shares every entry).
    Redis,
    /// In process in front of Redis (the default when `REDIS_URL` is set).
    #[default]
    Tiered,
}

/// Service-wide cache settings (`x-specjet.cache`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    /// Where entries are kept (`backend`).
    pub backend: Backend,
    /// Bound of the in-process tier, in bytes of cached responses (`capacity`).
    pub capacity_bytes: u64,
    /// Prefix of every Redis key, so services can share a Redis (`key-prefix`; the generator
    /// derives one from the API's title without it).
    pub key_prefix: String,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            backend: Backend::Tiered,
            capacity_bytes: 64 * 1024 * 1024,
            key_prefix: "specjet".to_owned(),
        }
    }
}

/// Whose answer a cached entry is (`x-cache: {scope}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scope {
    /// Shared by every caller.
    Public,
    /// Keyed by the caller's verified principal.
    Private,
    /// Private when the operation is secured or the request carries credentials.
    #[default]
    Auto,
}

/// The statuses stored when a policy names none (`status`).
pub const DEFAULT_STATUSES: [u16; 3] = [200, 203, 204];

/// One operation's caching policy (`x-cache`, `#[cache]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePolicy<F: Form = Static> {
    /// How long an entry is fresh.
    pub ttl: Duration,
    /// How long after that a stale entry is still served while one request refreshes it.
    pub stale_while_revalidate: Duration,
    /// How long after the ttl a stale entry is served when the handler fails (answers 5xx or
    /// passes its timeout) instead of the failure (`stale-if-error`, RFC 5861).
    pub stale_if_error: Duration,
    /// Whose answer an entry is.
    pub scope: Scope,
    /// Request headers that split the key (also sent as `Vary`), lower case.
    pub vary: F::List<F::Text>,
    /// Statuses worth storing.
    pub statuses: F::List<u16>,
    /// Tag templates naming path parameters (`pet:{petId}`), parsed: each entry is stored
    /// under them with the request's values, and an operation's `invalidate_tags` drop them.
    pub tags: F::List<TagTemplate<F>>,
}

/// In a service a policy is `const` data, copied freely.
impl Copy for CachePolicy<Static> {}

impl CachePolicy<Static> {
    /// `ttl`, no stale window, scope chosen per request, statuses 200, 203 and 204.
    pub const fn new(ttl: Duration) -> Self {
        CachePolicy {
            ttl,
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            scope: Scope::Auto,
            vary: &[],
            statuses: &DEFAULT_STATUSES,
            tags: &[],
        }
    }
}

impl CachePolicy<Owned> {
    /// The same defaults as [`CachePolicy::new`], as the generator builds a policy.
    pub fn with_ttl(ttl: Duration) -> Self {
        CachePolicy {
            ttl,
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            scope: Scope::Auto,
            vary: Vec::new(),
            statuses: DEFAULT_STATUSES.to_vec(),
            tags: Vec::new(),
        }
    }
}

/// An operation whose entries a mutating operation drops, and the path parameters the two
/// share, as (name, capture key in the mutating operation's route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidationTarget<F: Form = Static> {
    /// The cached operation's id.
    pub operation: F::Text,
    /// The path parameters both share: (name, capture key in the mutating operation's route).
    pub shared: F::List<(F::Text, F::Text)>,
}

/// In a service a policy is `const` data, copied freely.
impl Copy for InvalidationTarget<Static> {}

impl InvalidationTarget<Static> {
    /// Drops `operation`'s entries whose `shared` parameters have this request's values (all
    /// of its entries when none is shared).
    pub const fn new(
        operation: &'static str,
        shared: &'static [(&'static str, &'static str)],
    ) -> InvalidationTarget {
        InvalidationTarget { operation, shared }
    }
}
