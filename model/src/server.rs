//! `x-specjet.server`: how a service holds its connections and how a shutdown proceeds.

use std::time::Duration;

/// The largest streamed request body when the spec sets none: 1 GiB.
pub const DEFAULT_MAX_UPLOAD_SIZE: usize = 1 << 30;

/// `x-specjet.server`; each field also has an environment variable that overrides it (read
/// by the runtime at start).
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
    /// The largest request body an operation reads as a stream (a body of binary media
    /// types only), counted as it arrives, after decompression (`max-upload-size`,
    /// `MAX_UPLOAD_SIZE` in bytes): past it the stream ends in 413. Every other body is read
    /// whole, bounded by `x-specjet.compression.max-request-size`.
    pub max_upload_size: usize,
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
            max_upload_size: DEFAULT_MAX_UPLOAD_SIZE,
            max_connections: None,
            shutdown_delay: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}
