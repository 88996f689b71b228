//! The shop example: connects to its database (`DATABASE_URL`, else `shop.sqlite3`), runs
//! the migrations, then serves on `ADDR` (default 127.0.0.1:8080). A database that cannot
//! be reached, or a migration that fails, ends the start with a message and exit code 1.

use shop_example::{api, handlers::Shop};

#[global_allocator]
static ALLOCATOR: specjet::Allocator = specjet::ALLOCATOR;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let services = match api::services().await {
        Ok(services) => services,
        Err(error) => {
            eprintln!("shop: cannot start: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let Some(shop) = Shop::new(&services) else {
        eprintln!("shop: cannot start: the services have no database");
        return std::process::ExitCode::FAILURE;
    };
    match specjet::serve(api::router_with(shop, &services)).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("shop: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
