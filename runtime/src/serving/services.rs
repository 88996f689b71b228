//! The shared state a generated router is built with: the Redis connection, the response
//! cache and the rate limiter, and the spec's service-wide settings.

use crate::backend::redis_conn::SharedRedis;
use crate::policy::cache::{Cache, CacheSettings};
use crate::policy::rate_limit::{RateLimitSettings, RateLimiter};
use crate::serving::compression::CompressionSettings;
use crate::serving::operation::{OperationInfo, Policies};
use crate::serving::pipeline::Pipeline;

/// Service-wide settings from the spec's root `x-specjet` annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSettings {
    /// `x-specjet.cache`.
    pub cache: CacheSettings,
    /// `x-specjet.rate-limit`.
    pub rate_limit: RateLimitSettings,
    /// `x-specjet.compression`.
    pub compression: CompressionSettings,
    /// `x-specjet.max-in-flight`: requests handled at once; above it, the answer is 503 at
    /// once instead of a queue (`None`: no bound).
    pub max_in_flight: Option<usize>,
    /// `x-specjet.batch`: the batch endpoint of the operations in a batch group.
    pub batch: crate::compose::batch::BatchSettings,
    /// `x-specjet.database`: the pool [`Services::start`] opens (`None`: no database).
    #[cfg(feature = "database")]
    pub database: Option<crate::backend::database::DatabaseSettings>,
    /// `x-specjet.http-client`: the client [`Services::start`] builds (`None`: no client).
    #[cfg(feature = "http-client")]
    pub http_client: Option<crate::backend::http_client::HttpClientSettings>,
    /// The path every operation is served under (`/api/v1`; empty for none): the path of the
    /// spec's first `servers` URL or `x-specjet.base-path`; `BASE_PATH` replaces it. The
    /// service's own endpoints (`/metrics`, `/healthz`, `/readyz`) stay at the root.
    pub base_path: String,
    /// The bundled document (JSON text) the service serves, embedded by generated code;
    /// `None` serves none.
    pub document: Option<&'static str>,
    /// `x-specjet.docs`: where the document and the interactive docs are served.
    pub docs: crate::serving::docs::DocsSettings,
    /// `x-specjet.cors`: which browser origins may call the service (`None`: no CORS).
    pub cors: Option<crate::serving::cors::CorsSettings>,
    /// The latency thresholds of the operations' objectives (`x-slo`): each is a bucket
    /// boundary of `specjet_http_request_duration_seconds`, so the share of requests within
    /// it is counted exactly (the buckets are fixed when the first services of the process
    /// are made).
    pub slo_thresholds: Vec<std::time::Duration>,
    /// Per-request metrics, request ids, `Server-Timing`, the debug span and the load that
    /// adaptive rate limits read (on by default; off, none of them, for measuring their cost).
    pub observability: bool,
    /// `x-specjet.server`: how connections are held and how a shutdown proceeds.
    pub server: crate::serving::serve::ServerSettings,
    /// `x-specjet.security`: the built-in verifiers of the spec's schemes, and the limit on
    /// failed verifications per client address.
    pub security: crate::policy::security::SecuritySettings,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            cache: CacheSettings::default(),
            rate_limit: RateLimitSettings::default(),
            compression: CompressionSettings::default(),
            max_in_flight: None,
            batch: crate::compose::batch::BatchSettings::default(),
            #[cfg(feature = "database")]
            database: None,
            #[cfg(feature = "http-client")]
            http_client: None,
            base_path: String::new(),
            document: None,
            docs: crate::serving::docs::DocsSettings::default(),
            cors: None,
            slo_thresholds: Vec::new(),
            observability: true,
            server: crate::serving::serve::ServerSettings::default(),
            security: crate::policy::security::SecuritySettings::default(),
        }
    }
}

impl ServiceSettings {
    /// The default settings, with `prefix` before every Redis key (of the cache and of the
    /// rate-limit budgets), so that services can share a Redis.
    pub fn named(prefix: &str) -> ServiceSettings {
        let mut settings = ServiceSettings::default();
        settings.cache.key_prefix = prefix.to_owned();
        settings.rate_limit.key_prefix = prefix.to_owned();
        settings
    }

    /// These settings with the environment's overrides: `BASE_PATH` (`/` for none) and
    /// `CORS_ALLOW_ORIGINS` (comma-separated origins); an error says which value is wrong.
    pub fn with_env(mut self) -> Result<ServiceSettings, crate::StartError> {
        if let Ok(path) = std::env::var("BASE_PATH") {
            self.base_path = specjet_model::paths::base_path(&path)
                .map_err(|message| crate::StartError::new(format!("BASE_PATH: {message}")))?;
        }
        if let Some(cors) = self.cors.take() {
            let cors = crate::serving::cors::with_env(cors);
            crate::serving::cors::layer(&cors, std::collections::HashMap::new())
                .map_err(|message| crate::StartError::new(format!("CORS settings: {message}")))?;
            self.cors = Some(cors);
        }
        Ok(self)
    }
}

/// Connections, caches and budgets shared by every route; cheap to clone.
#[derive(Debug, Clone)]
pub struct Services {
    /// Shared, so that a clone (one per request in a layer's state) copies no settings.
    settings: std::sync::Arc<ServiceSettings>,
    cache: Cache,
    rate_limiter: RateLimiter,
    /// The security step's state: built-in verifiers, remembered verdicts, failures.
    gate: crate::policy::security::Gate,
    /// The one Redis connection (`REDIS_URL`) the cache and the limiter share.
    redis: Option<SharedRedis>,
    #[cfg(feature = "database")]
    database: Option<crate::backend::database::Database>,
    #[cfg(feature = "http-client")]
    http_client: Option<crate::backend::http_client::HttpClient>,
}

impl Services {
    /// Services configured from the environment, with every connection the settings declare
    /// open: the database pool (`x-specjet.database`, `DATABASE_URL`) connected, warmed and
    /// migrated. A database that cannot be reached, or a migration that fails, is an error
    /// that says why; `main` prints it and exits non-zero.
    pub async fn start(settings: ServiceSettings) -> Result<Services, crate::StartError> {
        let settings = settings.with_env()?;
        #[cfg(feature = "database")]
        let database = match &settings.database {
            Some(database) => {
                Some(crate::backend::database::Database::connect(database, None).await?)
            }
            None => None,
        };
        #[cfg(feature = "http-client")]
        let http_client = match &settings.http_client {
            Some(client) => Some(crate::backend::http_client::HttpClient::new(client)?),
            None => None,
        };
        let gate = crate::policy::security::Gate::new(&settings.security)
            .map_err(|error| crate::StartError::new(format!("x-specjet.security: {error}")))?;
        #[allow(unused_mut)] // without the features that add connections
        let mut services = Services::from_env(settings);
        services.gate = gate;
        #[cfg(feature = "database")]
        {
            services.database = database;
        }
        #[cfg(feature = "http-client")]
        {
            services.http_client = http_client;
        }
        Ok(services)
    }

    /// Services configured from the environment: `REDIS_URL` enables the shared cache tier
    /// and shared rate-limit budgets. Without it everything runs in process, with no servers
    /// at all.
    /// A `BASE_PATH` or `CORS_ALLOW_ORIGINS` that is not valid is logged and ignored here;
    /// [`Services::start`] refuses it.
    pub fn from_env(settings: ServiceSettings) -> Services {
        let settings = match settings.clone().with_env() {
            Ok(settings) => settings,
            Err(error) => {
                tracing::error!("{error}; the spec's settings are used");
                settings
            }
        };
        let url = std::env::var(specjet_model::cache::REDIS_URL_ENV)
            .ok()
            .filter(|url| !url.is_empty());
        Services::new(settings, url.as_deref())
    }

    /// Services with an explicit Redis URL (or none).
    pub fn new(settings: ServiceSettings, redis_url: Option<&str>) -> Services {
        // Count from the first request on, not from the first scrape.
        crate::observability::metrics::install(&settings.slo_thresholds);
        let redis = redis_url.and_then(SharedRedis::connect);
        Services {
            cache: Cache::with_redis(settings.cache.clone(), redis.clone()),
            rate_limiter: RateLimiter::new(settings.rate_limit.clone(), redis.clone()),
            gate: crate::policy::security::Gate::or_unavailable(&settings.security),
            settings: std::sync::Arc::new(settings),
            redis,
            #[cfg(feature = "database")]
            database: None,
            #[cfg(feature = "http-client")]
            http_client: None,
        }
    }

    /// Services over a cache and a rate limiter made by hand (to share them between routers,
    /// or to give each its own Redis).
    pub fn from_parts(
        settings: ServiceSettings,
        cache: Cache,
        rate_limiter: RateLimiter,
    ) -> Services {
        crate::observability::metrics::install(&settings.slo_thresholds);
        Services {
            gate: crate::policy::security::Gate::or_unavailable(&settings.security),
            settings: std::sync::Arc::new(settings),
            cache,
            rate_limiter,
            redis: None,
            #[cfg(feature = "database")]
            database: None,
            #[cfg(feature = "http-client")]
            http_client: None,
        }
    }

    /// The service-wide settings these services were made with.
    pub fn settings(&self) -> &ServiceSettings {
        &self.settings
    }

    /// The response cache (both tiers).
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The shared Redis connection, for handlers that keep data of their own in Redis
    /// (`redis.run(|mut connection| async move { ... })`, bounded by a short timeout);
    /// `None` without `REDIS_URL`.
    pub fn redis(&self) -> Option<&SharedRedis> {
        self.redis.as_ref()
    }

    /// These services with `database` as their pool (readiness then checks it).
    #[cfg(feature = "database")]
    pub fn with_database(mut self, database: crate::backend::database::Database) -> Services {
        self.database = Some(database);
        self
    }

    /// The database pool, when the settings declare one (and [`Services::start`] opened it).
    #[cfg(feature = "database")]
    pub fn database(&self) -> Option<&crate::backend::database::Database> {
        self.database.as_ref()
    }

    /// The database pool, or an error that says how to start the services with one (for
    /// handlers' state, built once at start).
    #[cfg(feature = "database")]
    pub fn require_database(
        &self,
    ) -> Result<&crate::backend::database::Database, crate::StartError> {
        self.database.as_ref().ok_or_else(|| {
            crate::StartError::new(
                "the services have no database: start them with the generated `services()`, \
                 which opens the pool `x-specjet.database` declares",
            )
        })
    }

    /// These services with `client` as their HTTP client.
    #[cfg(feature = "http-client")]
    pub fn with_http_client(mut self, client: crate::backend::http_client::HttpClient) -> Services {
        self.http_client = Some(client);
        self
    }

    /// The HTTP client, or an error that says how to start the services with one.
    #[cfg(feature = "http-client")]
    pub fn require_http_client(
        &self,
    ) -> Result<&crate::backend::http_client::HttpClient, crate::StartError> {
        self.http_client.as_ref().ok_or_else(|| {
            crate::StartError::new(
                "the services have no HTTP client: start them with the generated `services()`, \
                 which builds the client `x-specjet.http-client` declares",
            )
        })
    }

    /// The rate limiter (every budget).
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.rate_limiter
    }

    pub(crate) fn gate(&self) -> &crate::policy::security::Gate {
        &self.gate
    }

    /// Why the service should not get traffic now, if it should not: its database does not
    /// answer. A Redis that does not answer is not a reason: the cache serves its in-process
    /// tier and the handlers, the limiter its `on-backend-error`, and every replica shares
    /// that Redis, so taking this one out would send its traffic to replicas no better off
    /// ([`Services::degraded`] says so instead).
    pub async fn unready(&self) -> Option<String> {
        #[cfg(feature = "database")]
        if let Some(database) = &self.database {
            if let Some(reason) = database.unready().await {
                return Some(reason);
            }
        }
        None
    }

    /// What works less well than configured while the service still serves: a Redis (the
    /// cache's shared tier, the shared rate-limit budgets) that has no connection or does not
    /// answer (its breaker open).
    pub fn degraded(&self) -> Vec<&'static str> {
        let mut degraded = Vec::new();
        let cache = &self.cache;
        if cache.uses_redis() && (!cache.redis_connected() || cache.redis_skipped()) {
            degraded.push("the cache's Redis tier does not answer: serving from memory");
        }
        let limiter = &self.rate_limiter;
        if limiter.uses_redis() && (!limiter.redis_connected() || limiter.redis_skipped()) {
            degraded.push("the rate limiter's Redis does not answer: `on-backend-error` applies");
        }
        degraded
    }

    /// `router` with every operation's policies served: the policy layer (rate limit, then
    /// caching or invalidation, within the timeout) around each route, compression around
    /// that, and load shedding (`max-in-flight`) outermost.
    ///
    /// `operations` pairs each operation with the policies to serve it with (the generated
    /// router passes the code's choice over the spec's). Both layers run after routing and
    /// find a request's operation by method and matched path; a router none of whose
    /// operations has a policy gets no layer at all.
    pub fn apply<S>(
        &self,
        router: axum::Router<S>,
        operations: &[(&'static OperationInfo, Policies)],
    ) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        self.apply_secured(
            router,
            operations,
            &crate::policy::security::Security::none(),
        )
    }

    /// [`Services::apply`], each operation's `security` checked first with the verifiers of
    /// `security` (what the generated router passes).
    pub fn apply_secured<S>(
        &self,
        router: axum::Router<S>,
        operations: &[(&'static OperationInfo, Policies)],
        security: &crate::policy::security::Security,
    ) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let pipeline = Pipeline::new(self, operations, security).map(|pipeline| {
            axum::middleware::from_fn_with_state(pipeline, crate::serving::pipeline::run)
        });
        let uncompressed = operations
            .iter()
            .filter(|(_, policies)| !policies.compress)
            .map(|&(operation, _)| operation)
            .collect();
        let compression =
            crate::serving::compression::layer(&self.settings.compression, uncompressed);
        let shed = self
            .settings
            .max_in_flight
            .map(crate::policy::shed::InFlight::new);
        // One layer of the router, the steps stacked inside it: a request clones one boxed
        // route, not one per step. Outermost first.
        let steps = tower::ServiceBuilder::new()
            .option_layer(shed)
            .option_layer(compression.is_active().then_some(compression))
            .option_layer(pipeline);
        router.layer(steps)
    }
}
