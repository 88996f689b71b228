//! The server of the overhead benchmark in BENCHMARKS.md (`scripts/bench-overhead`): the
//! generated petstore router, with every layer the spec asks for, beside a hand-written axum
//! route that runs the same handler logic over the same store and answers the same JSON.
//!
//! - `GET /pets/{id}`: the generated route (with `Cache-Control: no-cache` the handler runs
//!   through every layer; without it, an L1 cache hit);
//! - `GET /raw/pets/{id}`: the hand-written route, no layer at all.
//!
//! On the next port, the same generated router with `observability` off (no metrics, request
//! ids, `Server-Timing` or span), to measure what they cost.
//!
//! `ADDR=127.0.0.1:8097 cargo run --release -p petstore-example --example overhead`

use std::net::SocketAddr;

use petstore_example::{api, handlers::PetStore};
use specjet::axum::extract::{Path, State};
use specjet::axum::response::{IntoResponse, Response};
use specjet::axum::routing::get;
use specjet::axum::Router;
use specjet::http::{header, StatusCode};

/// What a careful hand-written axum handler does: look the pet up, answer JSON or 404.
async fn raw_show_pet(State(store): State<PetStore>, Path(id): Path<i64>) -> Response {
    match store.find(id) {
        Ok(Some(pet)) => match serde_json::to_vec(&pet) {
            Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(problem) => problem.into_response(),
    }
}

// The service's allocator, as in `main.rs`: both routes below allocate through it.
#[global_allocator]
static ALLOCATOR: specjet::Allocator = specjet::ALLOCATOR;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let store = PetStore::default();
    // In process only: the benchmark measures the layers, not a Redis round trip.
    let services = specjet::Services::new(api::settings(), None);
    let raw = Router::new()
        .route("/raw/pets/{id}", get(raw_show_pet))
        .with_state(store.clone());
    let mut quiet_settings = api::settings();
    quiet_settings.observability = false;
    let quiet = api::router_with(store.clone(), &specjet::Services::new(quiet_settings, None));
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:8097".to_owned())
        .parse()
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    let quiet_addr = SocketAddr::new(addr.ip(), addr.port() + 1);
    let quiet = specjet::serve::serve_on(quiet_addr, quiet);
    let observed = specjet::serve::serve_on(addr, api::router_with(store, &services).merge(raw));
    specjet::tokio::try_join!(observed, quiet).map(|_| ())
}
