//! The shop example: connects to its database (`DATABASE_URL`, else `shop.sqlite3`), runs
//! the migrations, then serves on `ADDR` (default 127.0.0.1:8080). A database that cannot
//! be reached, or a migration that fails, ends the start with a message and exit code 1.

use std::process::ExitCode;

use shop_example::{api, handlers::Shop};

#[global_allocator]
static ALLOCATOR: specjet::Allocator = specjet::ALLOCATOR;

#[tokio::main]
async fn main() -> ExitCode {
    // The services first (the pool opened and migrated), then the handlers over its handle.
    let started = api::services()
        .await
        .and_then(|services| Ok((Shop::new(&services)?, services)));
    let (shop, services) = match started {
        Ok(started) => started,
        Err(error) => {
            eprintln!("shop: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match specjet::serve(api::router_with(shop, &services)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("shop: {error}");
            ExitCode::FAILURE
        }
    }
}
