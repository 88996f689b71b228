//! `x-specjet.http-client`: the pooled client's timeouts, idle pool and user agent.

use std::time::Duration;

/// `x-specjet.http-client`, overridden by the environment at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpClientSettings {
    /// How long opening a connection may take (`connect-timeout`,
    /// `HTTP_CLIENT_CONNECT_TIMEOUT`).
    pub connect_timeout: Duration,
    /// How long a whole call may take, connection to last byte (`timeout`,
    /// `HTTP_CLIENT_TIMEOUT`).
    pub timeout: Duration,
    /// An idle kept-alive connection is closed after this long (`idle-timeout`).
    pub idle_timeout: Duration,
    /// Idle connections kept per upstream host (`max-idle-per-host`).
    pub max_idle_per_host: usize,
    /// The `User-Agent` of every call (`user-agent`).
    pub user_agent: String,
}

impl HttpClientSettings {
    /// The defaults, with `<name> (specjet)` as the user agent.
    pub fn named(name: &str) -> HttpClientSettings {
        HttpClientSettings {
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            max_idle_per_host: 32,
            user_agent: format!("{name} (specjet)"),
        }
    }
}
