//! `x-specjet.rate-limit`: where budgets are kept and how the client is found.

/// Where budgets are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backend {
    /// In process: each replica has its own budget.
    Memory,
    /// In Redis when `REDIS_URL` is set (every replica shares one budget), else in process.
    #[default]
    Redis,
}

/// What happens to a request when the Redis backend does not answer in time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnBackendError {
    /// Enforce the limit in process meanwhile (the default).
    #[default]
    Local,
    /// Let the request through.
    Allow,
    /// Refuse it with 503.
    Deny,
}

/// Service-wide rate-limit settings (`x-specjet.rate-limit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Where budgets are kept (`backend`).
    pub backend: Backend,
    /// What a request meets when Redis does not answer in time (`on-backend-error`).
    pub on_backend_error: OnBackendError,
    /// Proxies (addresses or CIDR ranges) whose forwarding header names the client
    /// (`trusted-proxies`).
    pub trusted_proxies: Vec<String>,
    /// The forwarding header read from trusted proxies, lower case (`client-ip-header`;
    /// `None`: `X-Forwarded-For`).
    pub client_ip_header: Option<String>,
    /// Prefix of every Redis key, so services can share a Redis.
    pub key_prefix: String,
    /// How many streams (server-sent events, item streams) one caller may hold open at once
    /// on one replica (`streams-per-caller`; `None`: no bound); past it, 429.
    pub streams_per_caller: Option<u32>,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            backend: Backend::Redis,
            on_backend_error: OnBackendError::Local,
            trusted_proxies: Vec::new(),
            client_ip_header: None,
            key_prefix: "specjet".to_owned(),
            streams_per_caller: None,
        }
    }
}
