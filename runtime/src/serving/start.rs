//! Starting a service: what goes wrong before the first request (a database that cannot be
//! reached, an environment variable that does not parse, a migration that fails), said once
//! and clearly, so that `main` can print it and exit non-zero.

use std::time::Duration;

/// Why the service could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartError {
    message: String,
}

impl StartError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> StartError {
        StartError {
            message: message.into(),
        }
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StartError {}

/// The environment variable `name` as a whole number, `None` when unset or empty.
#[cfg_attr(not(feature = "database"), allow(dead_code))]
pub(crate) fn env_number(name: &str) -> Result<Option<u32>, StartError> {
    match env(name) {
        None => Ok(None),
        Some(text) => {
            text.trim().parse().map(Some).map_err(|_| {
                StartError::new(format!("{name} is `{text}`, expected a whole number"))
            })
        }
    }
}

/// The environment variable `name` as a duration (`250ms`, `5s`, `2m`, `1h`), `None` when
/// unset or empty.
#[cfg_attr(
    not(any(feature = "database", feature = "http-client")),
    allow(dead_code)
)]
pub(crate) fn env_duration(name: &str) -> Result<Option<Duration>, StartError> {
    match env(name) {
        None => Ok(None),
        Some(text) => parse_duration(&text).map(Some).ok_or_else(|| {
            StartError::new(format!(
                "{name} is `{text}`, expected a duration such as `250ms`, `5s` or `2m`"
            ))
        }),
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// `250ms`, `5s`, `2m`, `1h`, `1d` (and `0`): the spec's duration syntax, read by the one
/// parser the generator reads the spec's with.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    specjet_model::duration::parse(text).ok()
}
