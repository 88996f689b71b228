//! `x-specjet.database`: the pool's bounds and timeouts, and its migrations.

use std::time::Duration;

/// The environment variable that names the database to connect to (else the embedded SQLite
/// file): the runtime reads it, `specjet deploy` takes it from the service's Secret.
pub const URL_ENV: &str = "DATABASE_URL";

use crate::form::{Form, Static};

/// A database server the pool can talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Postgres (`DATABASE_URL=postgres://...`).
    Postgres,
    /// SQLite (`DATABASE_URL=sqlite:...`, or the embedded default).
    Sqlite,
}

/// `x-specjet.database`, overridden by the environment at start. `M` is how the migrations
/// are held: the runtime serves statics embedded in the generated code, the generator the
/// files it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSettings<M> {
    /// Connections the pool opens at most (`max-connections`, `DATABASE_MAX_CONNECTIONS`).
    pub max_connections: u32,
    /// Connections kept open even when idle, opened at start (`min-connections`,
    /// `DATABASE_MIN_CONNECTIONS`).
    pub min_connections: u32,
    /// How long a request waits for a free connection before it answers 503
    /// (`acquire-timeout`, `DATABASE_ACQUIRE_TIMEOUT`).
    pub acquire_timeout: Duration,
    /// An idle connection above `min_connections` is closed after this long (`idle-timeout`).
    pub idle_timeout: Option<Duration>,
    /// A connection is replaced after this long (`max-lifetime`).
    pub max_lifetime: Option<Duration>,
    /// Postgres cancels a statement running longer than this (`statement-timeout`,
    /// `DATABASE_STATEMENT_TIMEOUT`); SQLite has no such bound.
    pub statement_timeout: Option<Duration>,
    /// How long the start retries (with backoff) a database that does not answer yet before
    /// it gives up (`connect-timeout`, `DATABASE_CONNECT_TIMEOUT`).
    pub connect_timeout: Duration,
    /// The embedded SQLite file used when `DATABASE_URL` is not set (`sqlite-file`).
    pub sqlite_file: String,
    /// The migrations to run at start, in version order (`migrations`).
    pub migrations: M,
}

impl<M: Default> DatabaseSettings<M> {
    /// The defaults, with `<name>.sqlite3` as the embedded database file.
    pub fn named(name: &str) -> Self {
        DatabaseSettings {
            max_connections: 10,
            min_connections: 1,
            acquire_timeout: Duration::from_secs(3),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            statement_timeout: None,
            connect_timeout: Duration::from_secs(10),
            sqlite_file: format!("{name}.sqlite3"),
            migrations: M::default(),
        }
    }
}

/// One migration of the spec's `migrations` folder (a file named
/// `<version>_<description>.sql`, sqlx's convention), embedded in the generated code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration<F: Form = Static> {
    /// The number before the first `_` of the file name; migrations run in this order.
    pub version: i64,
    /// The rest of the file name, `_` read as spaces.
    pub description: F::Text,
    /// The file's SQL.
    pub sql: F::Text,
    /// The one database it runs on (a `.postgres.sql` or `.sqlite.sql` file), or `None` for
    /// both.
    pub only: Option<Backend>,
}

/// In a service a migration is `static` data, copied freely.
impl Copy for Migration<Static> {}
