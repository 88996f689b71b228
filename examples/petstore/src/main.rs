//! The petstore example: the service generated from `specs/petstore.yaml`, with every
//! handler implemented over an in-memory store. Listens on `ADDR` (default 127.0.0.1:8080).

use petstore_example::{api, handlers};

// glibc's allocator serializes threads on a lock under load; mimalloc does not.
#[global_allocator]
static ALLOCATOR: specjet::Allocator = specjet::ALLOCATOR;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    specjet::serve(api::router(handlers::PetStore::default())).await
}
