//! The one copy of specjet's settings, shared by both sides of the build: the generator reads
//! `x-specjet` into these values and writes each one that differs from its default into the
//! generated `settings()`; the runtime serves them. Plain data: no axum, no syn, no I/O. A
//! default lives here once, so the two sides cannot disagree on it.
//!
//! - `duration.rs`: the spec's duration syntax (`500ms`, `30s`, `10m`, `1h`, `1d`).
//! - `server.rs`: `x-specjet.server`, how connections are held and a shutdown proceeds.
//! - `security.rs`: `x-specjet.security`, the built-in verifiers of the spec's schemes.
//! - `cache.rs`, `rate_limit.rs`, `compression.rs`, `batch.rs`: the service-wide settings of
//!   the cache, the rate limiter, compression and the batch endpoint.
//! - `database.rs`, `http_client.rs`: the service's outgoing connections.
//! - `cors.rs`: which browser origins may call the service.
//! - `docs.rs`: where the service serves its document and interactive docs.
//! - `paths.rs`: the built-in paths, and base paths.
//! - `params.rs`: how a client writes each parameter (`Written`).
//! - `form.rs`, `policies.rs`: one operation's policies (`x-cache`, `x-rate-limit`, ...), in
//!   the generator's form and in a service's.
//! - `tag.rs`: the grammar of cache tag templates.
//! - `schema.rs`: how a walk over a document finds its schemas.

pub mod batch;
pub mod cache;
pub mod compression;
pub mod cors;
pub mod database;
pub mod docs;
pub mod duration;
pub mod form;
pub mod http_client;
pub mod params;
pub mod paths;
pub mod policies;
pub mod rate_limit;
pub mod schema;
pub mod security;
pub mod server;
pub mod tag;

pub use batch::BatchSettings;
pub use cache::{CachePolicy, CacheSettings, InvalidationTarget};
pub use compression::CompressionSettings;
pub use cors::CorsSettings;
pub use database::DatabaseSettings;
pub use docs::DocsSettings;
pub use form::{Form, Owned, Static};
pub use http_client::HttpClientSettings;
pub use policies::Policies;
pub use rate_limit::{
    AdaptiveLimit, KeyPart, OnBackendError, RateLimitPolicy, RateLimitSettings, Window,
};
pub use security::{BuiltIn, JwtSettings, KeySource, SchemeSettings, SecuritySettings};
pub use server::ServerSettings;
