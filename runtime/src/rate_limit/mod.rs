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

use crate::caller::ClientIp;
use crate::redis_conn::SharedRedis;

pub use specjet_model::rate_limit::{Backend, OnBackendError, RateLimitSettings};

/// One window of a policy: `limit` units per `period`, with bursts of up to `burst` units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Units allowed per `period`.
    pub limit: u32,
    /// The period `limit` is counted over.
    pub period: Duration,
    /// Units that may be taken at once.
    pub burst: u32,
}

impl Window {
    /// `limit` per `period`, bursts of `limit`.
    pub const fn new(limit: u32, period: Duration) -> Window {
        Window {
            limit,
            period,
            burst: limit,
        }
    }

    /// The same window with bursts of `burst` units.
    pub const fn with_burst(self, burst: u32) -> Window {
        Window { burst, ..self }
    }

    /// The time one unit takes to come back.
    fn interval(&self) -> Duration {
        (self.period / self.limit.max(1)).max(Duration::from_nanos(1))
    }
}

/// What a budget is kept per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPart {
    /// The client's IP address (through trusted proxies).
    Ip,
    /// The caller's credentials (`Authorization`, `Cookie`); the IP when there are none.
    Principal,
    /// One budget for everyone.
    Global,
    /// A request header's value.
    Header(&'static str),
    /// A path parameter's value.
    Path(&'static str),
    /// A query parameter's value.
    Query(&'static str),
}

/// The rate limit of an operation (`x-rate-limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitPolicy {
    /// The policy's name: a root policy's, else the operation's id. Operations that use one
    /// named policy share its budget.
    pub name: &'static str,
    /// Every window is enforced.
    pub windows: &'static [Window],
    /// What the budget is kept per; empty means principal when secured, else IP.
    pub key: &'static [KeyPart],
    /// Units one call costs.
    pub cost: u32,
    /// A tighter limit in force while the service is loaded (`adaptive`).
    pub adaptive: Option<AdaptiveLimit>,
}

/// `adaptive`: while the service is over a threshold (requests in flight, or the 95th
/// percentile of its latency over the last half second), `windows` apply as well; they lift
/// once every signal has stayed below for `hold`. `RateLimit-Policy` shows the limit in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdaptiveLimit {
    /// The windows in force while loaded (kept in their own budget).
    pub windows: &'static [Window],
    /// Loaded at this many requests in flight in the whole service.
    pub in_flight: Option<u32>,
    /// Loaded while the service's p95 latency is above this.
    pub p95_above: Option<Duration>,
    /// How long every signal stays below before the limit lifts.
    pub hold: Duration,
}

impl AdaptiveLimit {
    /// `windows` while loaded; give at least one signal (`when_in_flight`, `when_p95_above`).
    /// Lifts after 5 s below every threshold.
    pub const fn new(windows: &'static [Window]) -> AdaptiveLimit {
        AdaptiveLimit {
            windows,
            in_flight: None,
            p95_above: None,
            hold: Duration::from_secs(5),
        }
    }

    /// Loaded at `requests` in flight or more.
    pub const fn when_in_flight(self, requests: u32) -> AdaptiveLimit {
        AdaptiveLimit {
            in_flight: Some(requests),
            ..self
        }
    }

    /// Loaded while the p95 latency is above `latency`.
    pub const fn when_p95_above(self, latency: Duration) -> AdaptiveLimit {
        AdaptiveLimit {
            p95_above: Some(latency),
            ..self
        }
    }

    /// Lifts after every signal has been below for `hold`.
    pub const fn holding(self, hold: Duration) -> AdaptiveLimit {
        AdaptiveLimit { hold, ..self }
    }
}

impl RateLimitPolicy {
    /// The policy `name` enforcing every one of `windows`, keyed by the caller (principal when
    /// the operation is secured, else IP), one unit a call.
    pub const fn new(name: &'static str, windows: &'static [Window]) -> RateLimitPolicy {
        RateLimitPolicy {
            name,
            windows,
            key: &[],
            cost: 1,
            adaptive: None,
        }
    }

    /// The same policy with a tighter limit while the service is loaded.
    pub const fn adapting(self, adaptive: AdaptiveLimit) -> RateLimitPolicy {
        RateLimitPolicy {
            adaptive: Some(adaptive),
            ..self
        }
    }

    /// The same policy with budgets kept per `key`.
    pub const fn keyed_by(self, key: &'static [KeyPart]) -> RateLimitPolicy {
        RateLimitPolicy { key, ..self }
    }

    /// The same policy with calls costing `cost` units.
    pub const fn costing(self, cost: u32) -> RateLimitPolicy {
        RateLimitPolicy { cost, ..self }
    }
}

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
