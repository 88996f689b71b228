//! The service's outgoing connections: Redis (`redis_conn`), the database pool (`database`)
//! and the HTTP client (`http_client`).

#[cfg(feature = "database")]
pub mod database;
#[cfg(feature = "http-client")]
pub mod http_client;
pub(crate) mod redis_conn;
