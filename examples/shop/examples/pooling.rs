//! The pooling benchmark's server (BENCHMARKS.md, "Database pooling"): the same query
//! behind two hand-written routes on one server, so that only the connection strategy
//! differs. `GET /pooled/products/{id}` takes a connection from the shop's pool;
//! `GET /per-request/products/{id}` opens a connection for the request and closes it, as a
//! service without a pool does. `GET /lookups/single` and `GET /lookups/loader` each read
//! products 1 to 20 with 20 concurrent lookups: one query each, or coalesced by a
//! `specjet::Loader` into one query (the shop's own `store::products_by_id`). `DATABASE_URL` names the database (the shop's migrations
//! run first, and 100 products are added when the table is empty).

use shop_example::api::types::Product;
use shop_example::store;
use specjet::axum::extract::{Path, State};
use specjet::axum::response::{IntoResponse, Response};
use specjet::axum::routing::get;
use specjet::axum::Router;
use specjet::serde;
use specjet::sqlx::{self, Connection};
use specjet::{Database, Loader, Problem};

type Row = (i64, String, String, i64, i64);
const QUERY: &str = "SELECT id, sku, name, price_cents, stock FROM products WHERE id = $1";

#[derive(Clone)]
struct Bench {
    database: Database,
    url: String,
    products: Loader<i64, Product>,
}

/// The ids every lookup request reads.
const LOOKUPS: std::ops::RangeInclusive<i64> = 1..=20;

async fn single_lookups(State(bench): State<Bench>) -> Result<Response, Problem> {
    let lookups = LOOKUPS.map(|id| {
        let bench = bench.clone();
        async move {
            sqlx::query_as::<_, Row>(QUERY)
                .bind(id)
                .fetch_optional(bench.database.pool())
                .await
        }
    });
    let rows = futures_util::future::try_join_all(lookups).await?;
    Ok(json(&rows))
}

async fn loader_lookups(State(bench): State<Bench>) -> Result<Response, Problem> {
    let rows = bench.products.load_many(LOOKUPS.collect()).await?;
    Ok(json(&rows))
}

/// The value as JSON, as the generated service answers.
fn json(row: &impl serde::Serialize) -> Response {
    let body = specjet::serde_json::to_vec(row).unwrap_or_default();
    ([("content-type", "application/json")], body).into_response()
}

async fn pooled(State(bench): State<Bench>, Path(id): Path<i64>) -> Result<Response, Problem> {
    let row: Row = sqlx::query_as(QUERY)
        .bind(id)
        .fetch_one(bench.database.pool())
        .await?;
    Ok(json(&row))
}

async fn per_request(State(bench): State<Bench>, Path(id): Path<i64>) -> Result<Response, Problem> {
    let mut connection = sqlx::AnyConnection::connect(&bench.url).await?;
    let row: Row = sqlx::query_as(QUERY)
        .bind(id)
        .fetch_one(&mut connection)
        .await?;
    connection.close().await?;
    Ok(json(&row))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL")?;
    let settings = shop_example::api::settings()
        .database
        .ok_or("the shop declares a database")?;
    let database = Database::connect(&settings, Some(&url)).await?;
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM products")
        .fetch_one(database.pool())
        .await?;
    if count == 0 {
        for n in 0..100i64 {
            sqlx::query(
                "INSERT INTO products (sku, name, price_cents, stock) VALUES ($1, $2, $3, $4)",
            )
            .bind(format!("sku-{n}"))
            .bind(format!("Product {n}"))
            .bind(100 + n)
            .bind(n)
            .execute(database.pool())
            .await?;
        }
    }
    let pool = database.clone();
    let products = Loader::new("products", move |ids: Vec<i64>| {
        let database = pool.clone();
        // The shop's own batch query.
        async move {
            let mut connection = database.acquire().await?;
            Ok(store::products_by_id(&mut connection, &ids).await?)
        }
    });
    let router = Router::new()
        .route("/pooled/products/{id}", get(pooled))
        .route("/per-request/products/{id}", get(per_request))
        .route("/lookups/single", get(single_lookups))
        .route("/lookups/loader", get(loader_lookups))
        .with_state(Bench {
            database,
            url,
            products,
        });
    specjet::serve(router).await?;
    Ok(())
}
