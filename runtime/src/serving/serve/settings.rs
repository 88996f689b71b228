//! How a service holds its connections (`x-specjet.server`, overridden by the environment):
//! how long a client may take to send its headers and its body, how long an idle keep-alive
//! connection is kept, how many connections are held at once, and how a shutdown proceeds.

use std::sync::RwLock;

use crate::serving::start::{env_duration, env_number, StartError};

pub use specjet_model::ServerSettings;

/// `settings` with the environment's overrides applied.
pub(super) fn with_env_overrides(settings: &ServerSettings) -> Result<ServerSettings, StartError> {
    let mut settings = settings.clone();
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
    if let Some(bytes) = env_number("MAX_UPLOAD_SIZE")? {
        settings.max_upload_size = bytes as usize;
    }
    if let Some(max) = env_number("MAX_CONNECTIONS")? {
        settings.max_connections = Some(max as usize);
    }
    if settings.max_connections == Some(0) {
        return Err(StartError::new("MAX_CONNECTIONS must be at least 1"));
    }
    Ok(settings)
}

/// The settings of the router finished last ([`crate::__private::finish`]), which
/// [`crate::serving::serve`] serves it with: a router cannot carry them itself.
static CONFIGURED: RwLock<Option<ServerSettings>> = RwLock::new(None);

/// Notes the settings the next [`crate::serving::serve`] uses.
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
