//! `x-specjet.cache`: where cached answers are kept.

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
