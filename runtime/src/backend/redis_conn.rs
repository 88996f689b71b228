//! The service's one Redis connection, shared by the cache and the rate limiter.
//!
//! Redis is never allowed to fail a request: the connection is (re)established in the
//! background, every command has a short timeout, and a caller learns only that a command
//! gave no answer, to carry on without it.
//!
//! A dead Redis costs one timeout, not one per request: after [`OPEN_AFTER`] failures in a
//! row a circuit breaker opens, and every command gives no answer at once (the cache serves
//! its local tier, the limiter its `on-backend-error`) while a background task probes Redis
//! every [`PROBE_INTERVAL`]; the first answer closes it.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::compose::coalesce::Limits;

/// How long one Redis command may take before the service carries on without it.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(50);
/// The pause between attempts to (re)connect.
pub(crate) const RECONNECT_DELAY: Duration = Duration::from_millis(500);
/// Commands that fail in a row before the breaker opens.
pub const OPEN_AFTER: u32 = 3;
/// How often an open breaker probes Redis (no request waits for a probe).
pub const PROBE_INTERVAL: Duration = Duration::from_millis(500);

/// A connection established in the background; cheap to clone.
#[derive(Clone)]
pub struct SharedRedis {
    client: redis::Client,
    connection: Arc<RwLock<Option<ConnectionManager>>>,
    breaker: Arc<Breaker>,
}

/// Failures in a row, and whether commands skip Redis until a probe gets an answer.
#[derive(Debug, Default)]
struct Breaker {
    failures: AtomicU32,
    open: AtomicBool,
}

// The client is left out: its connection info may hold a password.
impl std::fmt::Debug for SharedRedis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRedis")
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl SharedRedis {
    /// How the commands of concurrent requests are coalesced (`crate::compose::coalesce`): one batch
    /// of a kind at Redis at a time, the next one gathering meanwhile.
    pub(crate) const BATCHES: Limits = Limits {
        window: Duration::ZERO,
        max_batch: 512,
        max_running: 1,
    };

    /// Starts connecting to `url`. `None` for an unusable URL (logged) or when no tokio runtime
    /// is running.
    pub fn connect(url: &str) -> Option<SharedRedis> {
        let client = match redis::Client::open(url) {
            Ok(client) => client,
            Err(error) => {
                tracing::warn!(%error, "REDIS_URL is not usable; running without Redis");
                return None;
            }
        };
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let shared = SharedRedis {
            client: client.clone(),
            connection: Arc::new(RwLock::new(None)),
            breaker: Arc::new(Breaker::default()),
        };
        let slot = Arc::downgrade(&shared.connection);
        runtime.spawn(async move {
            loop {
                let Some(slot) = slot.upgrade() else {
                    return;
                };
                let attempt =
                    tokio::time::timeout(Duration::from_secs(2), client.get_connection_manager())
                        .await;
                if let Ok(Ok(manager)) = attempt {
                    if let Ok(mut guard) = slot.write() {
                        *guard = Some(manager);
                    }
                    // The manager reconnects by itself from now on.
                    return;
                }
                drop(slot);
                tokio::time::sleep(RECONNECT_DELAY).await;
            }
        });
        Some(shared)
    }

    /// The client, for connections of their own (pub/sub cannot share the managed one).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Whether a connection has been established (it may still fail per command).
    pub fn is_connected(&self) -> bool {
        self.connection().is_some()
    }

    /// Whether commands skip Redis for now, after failures in a row (a background probe
    /// closes the breaker at Redis's first answer).
    pub fn is_skipped(&self) -> bool {
        self.breaker.open.load(Ordering::Acquire)
    }

    /// Alive while any clone of this connection is; background tasks stop when it is not.
    pub(crate) fn liveness(&self) -> Weak<RwLock<Option<ConnectionManager>>> {
        Arc::downgrade(&self.connection)
    }

    fn connection(&self) -> Option<ConnectionManager> {
        self.connection.read().ok().and_then(|guard| guard.clone())
    }

    /// Runs `command` on the connection within [`COMMAND_TIMEOUT`]; `None` when there is no
    /// connection yet, or on an error or a timeout.
    /// While the breaker is open, `None` at once.
    pub async fn run<T, F, Fut>(&self, command: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if self.is_skipped() {
            return None;
        }
        let connection = self.connection()?;
        match tokio::time::timeout(COMMAND_TIMEOUT, command(connection)).await {
            Ok(Ok(value)) => {
                self.breaker.failures.store(0, Ordering::Relaxed);
                Some(value)
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "redis command failed");
                self.failed();
                None
            }
            Err(_) => {
                tracing::debug!("redis command timed out");
                self.failed();
                None
            }
        }
    }

    /// Counts a failure; the one that reaches [`OPEN_AFTER`] opens the breaker and starts
    /// the probe.
    fn failed(&self) {
        let failures = self.breaker.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures < OPEN_AFTER || self.breaker.open.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!(
            "redis does not answer; the cache and the limiter run without it until it does"
        );
        crate::observability::metrics::redis_breaker(true);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.close();
            return;
        };
        let shared = self.clone();
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(PROBE_INTERVAL).await;
                if Arc::strong_count(&shared.connection) <= 1 {
                    // Only this task holds the connection: the service is gone.
                    return;
                }
                let Some(mut connection) = shared.connection() else {
                    continue;
                };
                let ping = redis::cmd("PING");
                let answer = tokio::time::timeout(
                    COMMAND_TIMEOUT * 4,
                    ping.query_async::<String>(&mut connection),
                )
                .await;
                if matches!(answer, Ok(Ok(_))) {
                    tracing::info!("redis answers again");
                    shared.close();
                    return;
                }
            }
        });
    }

    fn close(&self) {
        self.breaker.failures.store(0, Ordering::Relaxed);
        self.breaker.open.store(false, Ordering::Release);
        crate::observability::metrics::redis_breaker(false);
    }

    /// Runs a pipeline; see [`SharedRedis::run`].
    pub async fn query<T: redis::FromRedisValue>(&self, pipeline: redis::Pipeline) -> Option<T> {
        self.run(|mut connection| async move { pipeline.query_async::<T>(&mut connection).await })
            .await
    }
}
