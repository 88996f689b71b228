//! Rate limiting from the spec's `x-rate-limit` annotations: GCRA in process (`governor`)
//! or in Redis (one atomic script, so every replica shares one budget), keyed by client IP,
//! principal, header, path or query parameter, with the IETF `RateLimit`/`RateLimit-Policy`
//! headers, `Retry-After` and 429 problem+json answers.
//!
//! [`RateLimiter`] is one `Clone` handle over shared state (a limit is enforced however many
//! clones serve requests). The generated router serves each operation's [`RateLimitPolicy`]
//! from its operations table, through the one policy layer of [`crate::Services::apply`].

mod layer;
pub(crate) mod local;
mod redis_gcra;
pub(crate) mod streams;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) use layer::Prepared;
pub use layer::{RATE_LIMIT, RATE_LIMIT_POLICY};

use crate::backend::redis_conn::SharedRedis;
use crate::policy::caller::ClientIp;

pub use specjet_model::rate_limit::{
    Backend, OnBackendError, RateLimitSettings, Window, DEFAULT_ADAPTIVE_HOLD,
};

/// The rate limit of an operation (`x-rate-limit`), as a service holds it.
pub type RateLimitPolicy = specjet_model::RateLimitPolicy<specjet_model::Static>;

/// What a budget is kept per.
pub type KeyPart = specjet_model::KeyPart<specjet_model::Static>;

/// A tighter limit in force while the service is loaded (`adaptive`).
pub type AdaptiveLimit = specjet_model::AdaptiveLimit<specjet_model::Static>;

/// The outcome of taking units from a budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the call may go ahead: every window had the units.
    pub allowed: bool,
    /// The window that is closest to its limit (the one a refusal is about).
    pub window: usize,
    /// Units left in that window.
    pub remaining: u64,
    /// Until that window's budget is whole again.
    pub reset: Duration,
    /// Until the request would be allowed (zero when it is).
    pub retry_after: Duration,
}

/// Why a budget could not be consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// Redis did not answer; the caller applies `on-backend-error`.
    Backend,
}

/// The rate limiter: cheap to clone, every clone shares the same budgets.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("settings", &self.inner.settings)
            .field("redis", &self.inner.redis.is_some())
            .finish_non_exhaustive()
    }
}

struct Inner {
    settings: RateLimitSettings,
    client_ip: ClientIp,
    redis: Option<redis_gcra::RedisBudgets>,
    /// In-process budgets per policy name, and whether they are its adaptive windows' (also
    /// the fallback while Redis is down).
    local: Mutex<HashMap<(&'static str, bool), Arc<local::LocalBudget>>>,
}

impl RateLimiter {
    /// A limiter with these settings; budgets live in Redis when `redis` is given and the
    /// backend is `Redis`.
    pub fn new(settings: RateLimitSettings, redis: Option<SharedRedis>) -> RateLimiter {
        let client_ip = ClientIp::new(
            &settings.trusted_proxies,
            settings.client_ip_header.as_deref(),
        );
        let redis = match (settings.backend, redis) {
            (Backend::Redis, Some(redis)) => {
                Some(redis_gcra::RedisBudgets::new(redis, &settings.key_prefix))
            }
            _ => None,
        };
        RateLimiter {
            inner: Arc::new(Inner {
                settings,
                client_ip,
                redis,
                local: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The settings the limiter was made with.
    pub fn settings(&self) -> &RateLimitSettings {
        &self.inner.settings
    }

    /// How the client's address is found (trusted proxies).
    pub(crate) fn client_ip(&self) -> &ClientIp {
        &self.inner.client_ip
    }

    /// Whether budgets are kept in Redis (one was given and the backend is `Redis`).
    pub fn uses_redis(&self) -> bool {
        self.inner.redis.is_some()
    }

    /// Whether budgets are kept in Redis and a connection has been established.
    pub fn redis_connected(&self) -> bool {
        self.inner
            .redis
            .as_ref()
            .is_some_and(redis_gcra::RedisBudgets::is_connected)
    }

    /// Whether Redis is skipped for now: it stopped answering and the circuit breaker is open
    /// until a background probe gets an answer.
    pub fn redis_skipped(&self) -> bool {
        self.inner
            .redis
            .as_ref()
            .is_some_and(redis_gcra::RedisBudgets::is_skipped)
    }

    /// The in-process budget of a policy (of its adaptive windows when `adaptive`), made on
    /// first use.
    fn local(&self, policy: &RateLimitPolicy, adaptive: bool) -> Arc<local::LocalBudget> {
        let mut budgets = self
            .inner
            .local
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        budgets
            .entry((policy.name, adaptive))
            .or_insert_with(|| Arc::new(local::LocalBudget::new(policy.windows)))
            .clone()
    }

    /// Takes `policy.cost` units from `key`'s budget in every window.
    pub(crate) async fn take(
        &self,
        policy: &RateLimitPolicy,
        local: &local::LocalBudget,
        key: &str,
    ) -> Result<Decision, Unavailable> {
        match &self.inner.redis {
            None => Ok(local.take(key, policy.cost)),
            Some(redis) => match redis.take(policy, key).await {
                Some(decision) => Ok(decision),
                None => match self.inner.settings.on_backend_error {
                    OnBackendError::Local => Ok(local.take(key, policy.cost)),
                    OnBackendError::Allow | OnBackendError::Deny => Err(Unavailable::Backend),
                },
            },
        }
    }
}
