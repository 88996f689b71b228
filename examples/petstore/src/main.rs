//! The petstore example: the service generated from `specs/petstore.yaml`, with every
//! handler implemented over an in-memory store. Listens on `ADDR` (default 127.0.0.1:8080).
//!
//! Deleting a pet takes a key of `PETSTORE_API_KEYS` (`subject:sha256-of-key` pairs); without
//! it, the development key `petstore-dev-key` (of the subject `dev`) is the one key.

use petstore_example::{api, handlers};

// glibc's allocator serializes threads on a lock under load; mimalloc does not.
#[global_allocator]
static ALLOCATOR: specjet::Allocator = specjet::ALLOCATOR;

/// `printf %s petstore-dev-key | sha256sum`: the development key, known by its digest only.
const DEVELOPMENT_KEYS: &str =
    "dev:db79e91d2d3c2370ea45699cf00a5fde04897dd9b59d5f8d5d12db2d53794b2e";

fn main() -> std::io::Result<()> {
    // Before any thread reads the environment.
    if std::env::var("PETSTORE_API_KEYS").is_err() {
        eprintln!(
            "petstore: PETSTORE_API_KEYS is not set: the development key `petstore-dev-key` \
             deletes pets (X-API-Key)"
        );
        std::env::set_var("PETSTORE_API_KEYS", DEVELOPMENT_KEYS);
    }
    tokio::runtime::Runtime::new()?
        .block_on(specjet::serve(api::router(handlers::PetStore::default())))
}
