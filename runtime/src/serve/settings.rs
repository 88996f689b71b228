//! How a service holds its connections (`x-specjet.server`, overridden by the environment):
//! how long a client may take to send its headers and its body, how long an idle keep-alive
//! connection is kept, how many connections are held at once, and how a shutdown proceeds.

use std::sync::RwLock;
use std::time::Duration;

use crate::start::{env_duration, env_number, StartError};

/// `x-specjet.server`; each field also has an environment variable that overrides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// How long a client may take to send a request's headers, from its connection (or, on a
    /// kept-alive connection, from the request's first byte) (`header-read-timeout`,
    /// `HEADER_READ_TIMEOUT`): past it the connection is closed (slowloris).
    pub header_read_timeout: Duration,
    /// How long a connection with no request in flight and no byte sent either way is kept
    /// (`idle-timeout`, `IDLE_TIMEOUT`).
    pub idle_timeout: Duration,
    /// How long a request body may pause between two of its bytes (`body-timeout`,
    /// `BODY_TIMEOUT`): past it the answer is 408, the client's timeout.
    pub body_timeout: Duration,
    /// Connections held at once, at most (`max-connections`, `MAX_CONNECTIONS`); `None`:
    /// as many as the open-file limit allows, less a reserve for the service's own files and
    /// backends. At the bound the oldest idle connection is closed for a new one; with none
    /// idle, a new connection is answered once, 503 (the probes `/healthz` and `/readyz`
    /// still answer), and closed.
    pub max_connections: Option<usize>,
    /// After SIGTERM, how long the service keeps serving (and accepting) with `/readyz`
    /// answering 503, while load balancers take it out (`shutdown-delay`, `SHUTDOWN_DELAY`);
    /// every answer meanwhile says `Connection: close`, so kept-alive clients move away.
    /// Ctrl-C skips it: nothing balances traffic to a terminal.
    pub shutdown_delay: Duration,
    /// Then how long in-flight requests get to finish (`shutdown-timeout`, `SHUTDOWN_TIMEOUT`).
    pub shutdown_timeout: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(10),
            max_connections: None,
            shutdown_delay: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

impl ServerSettings {
    /// These settings with the environment's overrides applied.
    pub fn with_env_overrides(&self) -> Result<ServerSettings, StartError> {
        let mut settings = self.clone();
        for (name, field) in [
            ("HEADER_READ_TIMEOUT", &mut settings.header_read_timeout),
            ("IDLE_TIMEOUT", &mut settings.idle_timeout),
            ("BODY_TIMEOUT", &mut settings.body_timeout),
            ("SHUTDOWN_DELAY", &mut settings.shutdown_delay),
            ("SHUTDOWN_TIMEOUT", &mut settings.shutdown_timeout),
        ] {
            if let Some(duration) = env_duration(name)? {
                *field = duration;
            }
        }
        if let Some(max) = env_number("MAX_CONNECTIONS")? {
            settings.max_connections = Some(max as usize);
        }
        if settings.max_connections == Some(0) {
            return Err(StartError::new("MAX_CONNECTIONS must be at least 1"));
        }
        Ok(settings)
    }
}

/// The settings of the router finished last ([`crate::__private::finish`]), which
/// [`crate::serve`] serves it with: a router cannot carry them itself.
static CONFIGURED: RwLock<Option<ServerSettings>> = RwLock::new(None);

/// Notes the settings the next [`crate::serve`] uses.
pub(crate) fn configure(settings: &ServerSettings) {
    if let Ok(mut configured) = CONFIGURED.write() {
        *configured = Some(settings.clone());
    }
}

/// The settings noted by the router finished last (the defaults without one).
pub(super) fn configured() -> ServerSettings {
    CONFIGURED
        .read()
        .ok()
        .and_then(|configured| configured.clone())
        .unwrap_or_default()
}

/// Files the service keeps for itself beside its connections: its pools, Redis, logs, the
/// runtime's own descriptors.
const RESERVED_FILES: u64 = 256;

/// Raises the open-file limit to its hard limit where allowed, and returns how many
/// connections it leaves room for (with [`RESERVED_FILES`] kept back) and the limit.
pub(super) fn connection_room() -> (usize, u64) {
    let limit = raise_open_files();
    let room = limit.saturating_sub(RESERVED_FILES).max(16);
    (usize::try_from(room).unwrap_or(usize::MAX), limit)
}

#[cfg(unix)]
fn raise_open_files() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` and `setrlimit` only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    // An unlimited limit is as good as a very large one.
    limit.rlim_cur
}

#[cfg(not(unix))]
fn raise_open_files() -> u64 {
    u64::from(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_leaves_room_for_connections_and_a_reserve() {
        let (room, limit) = connection_room();
        assert!(limit >= 16);
        assert!((room as u64) < limit.max(RESERVED_FILES + 16));
        // Raised already: a second call finds the same limit.
        assert_eq!(connection_room().1, limit);
    }
}
