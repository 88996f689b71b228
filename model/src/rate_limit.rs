//! `x-specjet.rate-limit`: where budgets are kept and how the client is found; `x-rate-limit`
//! (and the root's named policies): one operation's budget.

use std::time::Duration;

use crate::form::{Form, Owned, Static};

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

/// One window of a rate limit: `limit` units per `period`, bursts of `burst`.
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
    pub fn interval(&self) -> Duration {
        (self.period / self.limit.max(1)).max(Duration::from_nanos(1))
    }
}

/// What a budget is kept per (`key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPart<F: Form = Static> {
    /// The client's IP address, through trusted proxies (`ip`).
    Ip,
    /// The caller's verified principal; the IP when there is none (`principal`).
    Principal,
    /// One budget for everyone (`global`).
    Global,
    /// A request header's value (`header:<Name>`).
    Header(F::Text),
    /// A path parameter's value (`path:<param>`).
    Path(F::Text),
    /// A query parameter's value (`query:<param>`).
    Query(F::Text),
}

/// In a service a policy is `const` data, copied freely.
impl Copy for KeyPart<Static> {}

/// The rate limit of an operation (`x-rate-limit`, or a named root policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitPolicy<F: Form = Static> {
    /// The policy's name: a root policy's, else the operation's id. Operations that use one
    /// named policy share its budget.
    pub name: F::Text,
    /// Every window is enforced.
    pub windows: F::List<Window>,
    /// What the budget is kept per; empty means principal when secured, else IP.
    pub key: F::List<KeyPart<F>>,
    /// Units one call costs.
    pub cost: u32,
    /// A tighter limit in force while the service is loaded (`adaptive`).
    pub adaptive: Option<AdaptiveLimit<F>>,
}

/// In a service a policy is `const` data, copied freely.
impl Copy for RateLimitPolicy<Static> {}

impl RateLimitPolicy<Static> {
    /// `windows`, kept per principal when secured else per IP, one unit per call.
    pub const fn new(name: &'static str, windows: &'static [Window]) -> RateLimitPolicy {
        RateLimitPolicy {
            name,
            windows,
            key: &[],
            cost: 1,
            adaptive: None,
        }
    }

    /// The same policy, tightened to `adaptive` while the service is loaded.
    pub const fn adapting(self, adaptive: AdaptiveLimit) -> RateLimitPolicy {
        RateLimitPolicy {
            adaptive: Some(adaptive),
            ..self
        }
    }

    /// The same policy with its budget kept per `key`.
    pub const fn keyed_by(self, key: &'static [KeyPart]) -> RateLimitPolicy {
        RateLimitPolicy { key, ..self }
    }

    /// The same policy costing `cost` units per call.
    pub const fn costing(self, cost: u32) -> RateLimitPolicy {
        RateLimitPolicy { cost, ..self }
    }
}

impl RateLimitPolicy<Owned> {
    /// The same defaults as [`RateLimitPolicy::new`], as the generator builds a policy.
    pub fn named(name: impl Into<String>, windows: Vec<Window>) -> Self {
        RateLimitPolicy {
            name: name.into(),
            windows,
            key: Vec::new(),
            cost: 1,
            adaptive: None,
        }
    }
}

/// How long every signal of an adaptive limit stays below its threshold before it lifts.
pub const DEFAULT_ADAPTIVE_HOLD: Duration = Duration::from_secs(5);

/// `adaptive: {limit: 20/s, when: {in-flight: 200, p95-above: 300ms}, hold: 5s}`: while the
/// service is over a threshold (requests in flight, or the 95th percentile of its latency over
/// the last half second), `windows` apply as well; they lift once every signal has stayed
/// below for `hold`. `RateLimit-Policy` shows the limit in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdaptiveLimit<F: Form = Static> {
    /// The windows in force while loaded (kept in their own budget).
    pub windows: F::List<Window>,
    /// Loaded at this many requests in flight in the whole service.
    pub in_flight: Option<u32>,
    /// Loaded while the service's p95 latency is above this.
    pub p95_above: Option<Duration>,
    /// How long every signal stays below before the limit lifts.
    pub hold: Duration,
}

/// In a service a policy is `const` data, copied freely.
impl Copy for AdaptiveLimit<Static> {}

impl AdaptiveLimit<Static> {
    /// `windows` while loaded; give at least one signal (`when_in_flight`, `when_p95_above`).
    /// Lifts after [`DEFAULT_ADAPTIVE_HOLD`] below every threshold.
    pub const fn new(windows: &'static [Window]) -> AdaptiveLimit {
        AdaptiveLimit {
            windows,
            in_flight: None,
            p95_above: None,
            hold: DEFAULT_ADAPTIVE_HOLD,
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
