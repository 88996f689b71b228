//! The database pool `x-specjet.database` declares: sqlx's `AnyPool` over Postgres when
//! `DATABASE_URL` is `postgres://...`, else over an embedded SQLite file, so that a service
//! starts anywhere with no server.
//!
//! The pool is opened once at start (warming `min-connections`), migrations embedded from the
//! spec's folder run before the first request, and every request shares it. A handler takes
//! connections with [`Database::acquire`] (or passes [`Database::pool`] to sqlx directly) and
//! uses `?` on sqlx errors: [`Problem`]'s `From<sqlx::Error>` answers 404, 409, 503 or 500.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use http::StatusCode;
use sqlx::any::{Any, AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{MigrationType, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::{AnyConnection, AnyPool, Connection, Executor};

use crate::request::problem::Problem;
use crate::serving::start::{env_duration, env_number, StartError};

/// One migration embedded in the generated code from the spec's `migrations` folder.
pub type Migration = specjet_model::database::Migration<specjet_model::Static>;

/// `x-specjet.database`, overridden by the environment at start (see [`Database::connect`]),
/// with the migrations embedded in the generated code.
pub type DatabaseSettings = specjet_model::DatabaseSettings<&'static [Migration]>;

pub use specjet_model::database::Backend;

/// `settings` with the environment's overrides applied.
fn with_env_overrides(settings: &DatabaseSettings) -> Result<DatabaseSettings, StartError> {
    let mut settings = settings.clone();
    if let Some(max) = env_number("DATABASE_MAX_CONNECTIONS")? {
        settings.max_connections = max;
    }
    if let Some(min) = env_number("DATABASE_MIN_CONNECTIONS")? {
        settings.min_connections = min;
    }
    if let Some(timeout) = env_duration("DATABASE_ACQUIRE_TIMEOUT")? {
        settings.acquire_timeout = timeout;
    }
    if let Some(timeout) = env_duration("DATABASE_STATEMENT_TIMEOUT")? {
        settings.statement_timeout = Some(timeout);
    }
    if let Some(timeout) = env_duration("DATABASE_CONNECT_TIMEOUT")? {
        settings.connect_timeout = timeout;
    }
    if settings.max_connections == 0 || settings.min_connections > settings.max_connections {
        return Err(StartError::new(format!(
            "the database pool needs 1 <= min-connections <= max-connections, got {} and {}",
            settings.min_connections, settings.max_connections
        )));
    }
    Ok(settings)
}

/// The service's database pool; cheap to clone (every clone is the same pool).
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
    acquire_timeout: Duration,
    waiting: Arc<AtomicI64>,
}

impl Database {
    /// Opens the pool: `url`, else `DATABASE_URL`, else the embedded SQLite file; the
    /// environment overrides `settings` (`DATABASE_MAX_CONNECTIONS`, `DATABASE_MIN_CONNECTIONS`,
    /// `DATABASE_ACQUIRE_TIMEOUT`, `DATABASE_STATEMENT_TIMEOUT`, `DATABASE_CONNECT_TIMEOUT`).
    ///
    /// A URL that does not parse, or a value that is not a number or duration, fails at once.
    /// A database that does not answer is retried with backoff for `connect-timeout`; then the
    /// start fails naming the host. Migrations run next; one that fails stops the start.
    pub async fn connect(
        settings: &DatabaseSettings,
        url: Option<&str>,
    ) -> Result<Database, StartError> {
        install_drivers();
        // Record from the first acquire on, not from the first scrape.
        crate::observability::metrics::handle();
        let settings = with_env_overrides(settings)?;
        let env_url = std::env::var(specjet_model::database::URL_ENV)
            .ok()
            .filter(|url| !url.is_empty());
        let url = match url.map(str::to_owned).or(env_url) {
            Some(url) => url,
            None => format!("sqlite://{}?mode=rwc", settings.sqlite_file),
        };
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StartError::new(format!(
                "DATABASE_URL `{}` is neither `postgres://...` nor `sqlite:...`",
                redact(&url)
            )));
        };
        let options: AnyConnectOptions = url.parse().map_err(|error| {
            StartError::new(format!(
                "DATABASE_URL `{}` does not parse: {error}",
                redact(&url)
            ))
        })?;
        let pool = connect_with_backoff(&settings, backend, options, &url).await?;
        let database = Database {
            pool,
            backend,
            acquire_timeout: settings.acquire_timeout,
            waiting: Arc::new(AtomicI64::new(0)),
        };
        database.migrate(settings.migrations).await?;
        database.report_metrics();
        Ok(database)
    }

    /// The sqlx pool, to pass as the executor of a query (`.fetch_one(database.pool())`).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which server the pool talks to, for the rare query that must differ between them.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection from the pool, waiting at most `acquire-timeout`; the wait is measured
    /// (`specjet_db_acquire_seconds`). Past the timeout, or while the database is gone, the
    /// error is a 503 problem with `Retry-After`.
    pub async fn acquire(&self) -> Result<PoolConnection<Any>, Problem> {
        let started = Instant::now();
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let connection = self.pool.acquire().await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        let waited = started.elapsed();
        metrics::histogram!("specjet_db_acquire_seconds").record(waited.as_secs_f64());
        crate::observability::timing::add_db_wait(waited);
        Ok(connection?)
    }

    /// Why the service should not get traffic because of its database, if it should not: no
    /// connection answers `SELECT 1` within the acquire timeout.
    pub async fn unready(&self) -> Option<String> {
        let ping = async {
            let mut connection = self.pool.acquire().await?;
            connection.execute("SELECT 1").await
        };
        match tokio::time::timeout(self.acquire_timeout, ping).await {
            Ok(Ok(_)) => None,
            Ok(Err(error)) => Some(format!("the database does not answer: {error}")),
            Err(_) => Some("the database does not answer within the acquire timeout".to_owned()),
        }
    }

    async fn migrate(&self, migrations: &'static [Migration]) -> Result<(), StartError> {
        if migrations.is_empty() {
            return Ok(());
        }
        let mut migrator = Migrator::DEFAULT;
        migrator.migrations = migrations
            .iter()
            .filter(|migration| migration.only.is_none_or(|only| only == self.backend))
            .map(|migration| {
                sqlx::migrate::Migration::new(
                    migration.version,
                    migration.description.into(),
                    MigrationType::Simple,
                    migration.sql.into(),
                    false,
                )
            })
            .collect::<Vec<_>>()
            .into();
        migrator
            .run(&self.pool)
            .await
            .map_err(|error| StartError::new(format!("a database migration failed: {error}")))
    }

    /// Pool size, idle connections and waiting requests, sampled at every `/metrics` scrape.
    fn report_metrics(&self) {
        let pool = self.pool.clone();
        let waiting = Arc::clone(&self.waiting);
        crate::observability::metrics::on_render("database", move || {
            let idle = pool.num_idle() as f64;
            let size = f64::from(pool.size());
            metrics::gauge!("specjet_db_connections", "state" => "idle").set(idle);
            metrics::gauge!("specjet_db_connections", "state" => "in_use").set(size - idle);
            metrics::gauge!("specjet_db_waiting").set(waiting.load(Ordering::Relaxed) as f64);
        });
    }
}

fn install_drivers() {
    static DRIVERS: Once = Once::new();
    DRIVERS.call_once(sqlx::any::install_default_drivers);
}

/// A pooled connection idle for this long is pinged before it is handed out.
const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// Opens the pool once the database answers: a single connection is tried first, retried
/// with backoff (100 ms doubling to 2 s) while the database is unreachable, until
/// `connect-timeout` has passed; then the error names the host and the cause.
async fn connect_with_backoff(
    settings: &DatabaseSettings,
    backend: Backend,
    options: AnyConnectOptions,
    url: &str,
) -> Result<AnyPool, StartError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(100);
    let fail = |error: &dyn std::fmt::Display| {
        StartError::new(format!(
            "cannot connect to the database at `{}` (tried for {:.1?}): {error}",
            redact(url),
            started.elapsed()
        ))
    };
    loop {
        let attempt = tokio::time::timeout(
            settings.acquire_timeout,
            AnyConnection::connect_with(&options),
        )
        .await;
        let error = match attempt {
            Ok(Ok(connection)) => {
                // Closing politely is a courtesy; a failure here changes nothing.
                let _ = connection.close().await;
                break;
            }
            Ok(Err(error)) if !is_unavailable(&error) => return Err(fail(&error)),
            Ok(Err(error)) => error.to_string(),
            Err(_) => "no answer within the acquire timeout".to_owned(),
        };
        if started.elapsed() + delay > settings.connect_timeout {
            return Err(fail(&error));
        }
        tracing::warn!(%error, retry_in = ?delay, "the database does not answer yet");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
    let statement_timeout = settings.statement_timeout;
    AnyPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .acquire_timeout(settings.acquire_timeout)
        .idle_timeout(settings.idle_timeout)
        .max_lifetime(settings.max_lifetime)
        // sqlx pings every connection it hands out, a round trip that was a tenth of a
        // write's CPU in the shop's benchmark. A connection in steady use was just checked
        // (sqlx pings each one it takes back), so only one idle for a while is pinged: after
        // an outage every connection has been idle that long.
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IDLE_AFTER {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
        .after_connect(move |connection, _| {
            Box::pin(async move { prepare_session(connection, backend, statement_timeout).await })
        })
        .connect_with(options)
        .await
        .map_err(|error| fail(&error))
}

/// Session settings every new connection gets: the statement timeout on Postgres; WAL and a
/// busy timeout on SQLite, so that readers do not block the writer.
async fn prepare_session(
    connection: &mut sqlx::AnyConnection,
    backend: Backend,
    statement_timeout: Option<Duration>,
) -> Result<(), sqlx::Error> {
    match backend {
        Backend::Postgres => {
            if let Some(timeout) = statement_timeout {
                let statement = format!("SET statement_timeout = {}", timeout.as_millis());
                connection.execute(statement.as_str()).await?;
            }
        }
        Backend::Sqlite => {
            connection
                .execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON")
                .await?;
        }
    }
    Ok(())
}

/// The URL without its password, to put in a message.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((credentials, host)) => {
                let user = credentials.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The database (or the way to it) is gone, as opposed to a query that is wrong: no
/// connection, or the server going away, starting up or out of connections.
fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => database
            .code()
            .is_some_and(|code| is_unavailable_state(&code)),
        _ => false,
    }
}

/// Postgres' SQLSTATEs for a server that cannot serve now, whatever the query: a connection
/// exception (class `08`), `admin_shutdown` (`57P01`, what `pg_ctl stop -m fast` and a
/// restart send every session), `crash_shutdown` (`57P02`), `cannot_connect_now` (`57P03`,
/// starting up or in recovery), `database_dropped` (`57P04`), `too_many_connections`
/// (`53300`).
fn is_unavailable_state(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "57P04" | "53300")
}

/// Postgres' `query_canceled`, what a statement past `statement_timeout` fails with.
const QUERY_CANCELED: &str = "57014";

/// `?` on a sqlx error in a handler: not found 404, a unique or foreign-key violation 409, a
/// check violation 422, a statement past its timeout 504, no connection or no server to
/// answer (pool timeout, the database gone, shutting down, restarting, starting up or out of
/// connections: [`is_unavailable`]) 503 with `Retry-After`; anything else 500, with the error logged and not
/// sent (it may name tables and values).
impl From<sqlx::Error> for Problem {
    fn from(error: sqlx::Error) -> Problem {
        let problem = |status, detail: &str| Problem::new(status).with_detail(detail);
        match &error {
            sqlx::Error::RowNotFound => problem(StatusCode::NOT_FOUND, "no such record"),
            sqlx::Error::PoolTimedOut => problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "every database connection is busy; retry shortly",
            )
            .with_retry_after(1),
            error if is_unavailable(error) => {
                tracing::warn!(%error, "the database is unavailable");
                problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is unavailable",
                )
                .with_retry_after(1)
            }
            sqlx::Error::Database(database) if database.is_unique_violation() => problem(
                StatusCode::CONFLICT,
                "a record with the same unique value exists",
            ),
            sqlx::Error::Database(database) if database.is_foreign_key_violation() => problem(
                StatusCode::CONFLICT,
                "the record refers to a missing record, or is referred to",
            ),
            sqlx::Error::Database(database) if database.is_check_violation() => problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the record violates a constraint",
            ),
            sqlx::Error::Database(database)
                if database.code().as_deref() == Some(QUERY_CANCELED) =>
            {
                problem(
                    StatusCode::GATEWAY_TIMEOUT,
                    "the query ran past the statement timeout",
                )
            }
            error => {
                tracing::error!(%error, "database error");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("postgres://app:secret@db:5432/shop"),
            "postgres://app@db:5432/shop"
        );
        assert_eq!(redact("sqlite://shop.sqlite3"), "sqlite://shop.sqlite3");
    }

    #[test]
    fn sqlx_errors_become_problems_a_client_can_act_on() {
        let status = |error| Problem::from(error).status;
        assert_eq!(status(sqlx::Error::RowNotFound), 404);
        let busy = Problem::from(sqlx::Error::PoolTimedOut);
        assert_eq!((busy.status, busy.retry_after), (503, Some(1)));
        assert_eq!(status(sqlx::Error::PoolClosed), 503);
        for state in ["57P01", "57P02", "57P03", "53300", "08006", "08001"] {
            assert!(is_unavailable_state(state), "{state}");
        }
        for state in ["23505", "42P01", "57014", "40001"] {
            assert!(!is_unavailable_state(state), "{state}");
        }
        let internal = Problem::from(sqlx::Error::ColumnNotFound("secret_column".into()));
        assert_eq!(internal.status, 500);
        assert_eq!(
            internal.detail, None,
            "internal details are logged, not sent"
        );
    }
}
