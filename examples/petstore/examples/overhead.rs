//! The server of the overhead benchmark in BENCHMARKS.md (`scripts/bench-overhead`): the
//! generated petstore router, with every layer the spec asks for, beside a hand-written axum
//! route that runs the same handler logic over the same store and answers the same JSON.
//!
//! - `GET /pets/{id}`: the generated route (with `Cache-Control: no-cache` the handler runs
//!   through every layer; without it, an L1 cache hit);
//! - `GET /raw/pets/{id}`: the hand-written route, no layer at all.
//!
//! `ADDR=127.0.0.1:8097 cargo run --release -p petstore-example --example overhead`

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
    let services = specjet::Services::new(api::server::settings(), None);
    let raw = Router::new()
        .route("/raw/pets/{id}", get(raw_show_pet))
        .with_state(store.clone());
    specjet::serve(api::router_with(store, &services).merge(raw)).await
}
