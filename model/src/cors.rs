//! `x-specjet.cors`: which browser origins may call the service.

use std::time::Duration;

/// `x-specjet.cors`; `CORS_ALLOW_ORIGINS` (comma-separated) replaces `allow_origins` at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsSettings {
    /// Origins (`https://app.example.com`, `https://*.example.com` for every subdomain), or
    /// `*` for any (`allow-origins`).
    pub allow_origins: Vec<String>,
    /// Methods a preflight allows (`allow-methods`; `None`: those the spec serves on the
    /// requested path).
    pub allow_methods: Option<Vec<String>>,
    /// Request headers a preflight allows (`allow-headers`; `None`: those the browser asks
    /// for).
    pub allow_headers: Option<Vec<String>>,
    /// Answer headers scripts may read (`expose-headers`; `None`: the runtime's list of
    /// specjet's own answer headers).
    pub expose_headers: Option<Vec<String>>,
    /// How long a browser may keep a preflight's answer (`max-age`).
    pub max_age: Option<Duration>,
    /// Whether credentials (cookies, `Authorization`) may be sent (`allow-credentials`).
    pub allow_credentials: bool,
}

impl CorsSettings {
    /// The keys that allow any value (`*`) although credentials may be sent: browsers refuse
    /// such an answer, so each is an error.
    pub fn wildcards_with_credentials(&self) -> Vec<&'static str> {
        if !self.allow_credentials {
            return Vec::new();
        }
        [
            ("allow-origins", Some(&self.allow_origins)),
            ("allow-methods", self.allow_methods.as_ref()),
            ("allow-headers", self.allow_headers.as_ref()),
            ("expose-headers", self.expose_headers.as_ref()),
        ]
        .into_iter()
        .filter(|(_, values)| values.is_some_and(|values| values.iter().any(|value| value == "*")))
        .map(|(key, _)| key)
        .collect()
    }
}
