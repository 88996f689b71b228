//! The shop example: connects to its database (`DATABASE_URL`, else `shop.sqlite3`), runs
//! the migrations, seeds an empty shop (`SEED_USERS` users, default 10,000, with ten orders
//! each on average; `0` seeds nothing), then serves on `ADDR` (default 127.0.0.1:8080). A
//! database that cannot be reached, a migration or a seed that fails, ends the start with a
//! message and exit code 1.

use std::process::ExitCode;

use shop_example::seed::{self, SeedSize};
use shop_example::{api, handlers::Shop};

#[global_allocator]
static ALLOCATOR: specjet::Allocator = specjet::ALLOCATOR;

fn main() -> ExitCode {
    // Before any thread reads the environment: the key the shop signs its tokens with.
    if shop_example::tokens::development_key_if_unset() {
        eprintln!(
            "shop: {} is not set: tokens are signed with a development key made at start \
             (they die with the process; set it to keep them valid across restarts and replicas)",
            shop_example::tokens::SECRET_ENV
        );
    }
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(serve()),
        Err(error) => {
            eprintln!("shop: no runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> ExitCode {
    let size = match std::env::var("SEED_USERS") {
        Err(_) => SeedSize::DEFAULT,
        Ok(users) => match users.trim().parse() {
            Ok(users) => SeedSize::users(users),
            Err(_) => {
                eprintln!("shop: SEED_USERS `{users}` is not a number of users");
                return ExitCode::FAILURE;
            }
        },
    };
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
    if let Some(database) = services.database() {
        match seed::seed_if_empty(database, size).await {
            Ok(Some(seeded)) => eprintln!(
                "shop: seeded {} products, {} users and {} orders in {:.1?}",
                seeded.products, seeded.users, seeded.orders, seeded.took
            ),
            Ok(None) => {}
            Err(error) => {
                eprintln!("shop: cannot seed the database: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    let listener = match specjet::bind().await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("shop: cannot listen on ADDR: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Ok(addr) = listener.local_addr() {
        print_hints(&format!("http://{addr}"));
    }
    match specjet::serve_listener(listener, api::router_with(shop, &services)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("shop: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A few requests to try against `base` (the bound address), on stderr (stdout's first line
/// is the address, for scripts).
fn print_hints(base: &str) {
    eprintln!(
        "shop: try
  curl -i {base}/users/1                       # a cached read (Cache-Status: miss, then hit)
  curl {base}/users/1/dashboard                # user, recent orders and stats, read at once
  TOKEN=$(curl -s {base}/tokens -H 'Content-Type: application/json' -d '{{\"user_id\":1}}' | sed 's/.*\"token\":\"\\([^\"]*\\)\".*/\\1/')
  curl {base}/me/orders -H \"Authorization: Bearer $TOKEN\"    # verified, cached per caller
  curl {base}/batch -H 'Content-Type: application/json' \\
    -d '{{\"requests\":[{{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/users/1\"}},{{\"id\":\"2\",\"method\":\"GET\",\"url\":\"/orders/1\"}}]}}'
  curl -s {base}/metrics | grep specjet_http_requests_total
  open {base}/docs                             # the API's documentation"
    );
}
