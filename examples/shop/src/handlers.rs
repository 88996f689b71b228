//! The handlers: products in a table, read and written with sqlx through the pool the
//! services opened. The SQL is written once for both databases (`$1` placeholders, which
//! SQLite reads too; `RETURNING`, which both have); only the table's DDL differs, in the
//! `.postgres.sql` and `.sqlite.sql` migrations.

use std::collections::HashMap;

use specjet::sqlx;
use specjet::{Database, Loader, Problem};

use crate::api::operations::{create_product, delete_product, get_product, list_products};
use crate::api::types::{NewProduct, Product};
use crate::api::Api;

/// The handlers' state: the pool, and the loader that reads products by id in batches (a
/// clone shares both).
#[derive(Clone, Debug)]
pub struct Shop {
    database: Database,
    products: Loader<i64, Product>,
}

impl Shop {
    /// The shop over the services' database.
    pub fn new(services: &specjet::Services) -> Result<Shop, specjet::StartError> {
        let database = services.require_database()?.clone();
        let pool = database.clone();
        // Product reads that arrive together (the items of a batch, concurrent requests)
        // are one query.
        let products = Loader::new("products", move |ids: Vec<i64>| {
            let database = pool.clone();
            async move { products_by_id(&database, &ids).await }
        });
        Ok(Shop { database, products })
    }
}

/// The products with these ids, in one query (`IN ($1, $2, ...)` reads the same on Postgres
/// and SQLite, where `= ANY($1)` is Postgres only).
pub async fn products_by_id(
    database: &Database,
    ids: &[i64],
) -> Result<HashMap<i64, Product>, Problem> {
    let placeholders: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
    let query = format!(
        "SELECT {COLUMNS} FROM products WHERE id IN ({})",
        placeholders.join(", ")
    );
    let mut select = sqlx::query_as::<_, Row>(&query);
    for id in ids {
        select = select.bind(*id);
    }
    let rows = select.fetch_all(&mut *database.acquire().await?).await?;
    Ok(rows.into_iter().map(|row| (row.0, product(row))).collect())
}

/// A `products` row, in the column order of [`COLUMNS`].
type Row = (i64, String, String, i64, i64);
const COLUMNS: &str = "id, sku, name, price_cents, stock";

fn product((id, sku, name, price_cents, stock): Row) -> Product {
    Product {
        id,
        sku,
        name,
        price_cents,
        stock,
    }
}

// The logic is written as functions returning `Result<_, Problem>`, so that `?` turns a sqlx
// error into the right answer (`From<sqlx::Error> for Problem`); each handler answers with
// `.into()`. Connections come from `Database::acquire`, which answers 503 past the pool's
// acquire timeout and counts the wait in the answer's `Server-Timing` (`db;dur=`).
impl Shop {
    async fn try_list_products(
        &self,
        request: list_products::Request,
    ) -> Result<list_products::Response, Problem> {
        let query = format!("SELECT {COLUMNS} FROM products ORDER BY id LIMIT $1");
        let rows: Vec<Row> = sqlx::query_as(&query)
            .bind(i64::from(request.limit))
            .fetch_all(&mut *self.database.acquire().await?)
            .await?;
        Ok(list_products::Response::Ok(
            rows.into_iter().map(product).collect(),
        ))
    }

    async fn try_create_product(
        &self,
        request: create_product::Request,
    ) -> Result<create_product::Response, Problem> {
        let NewProduct {
            sku,
            name,
            price_cents,
            stock,
        } = request.body;
        let query = format!(
            "INSERT INTO products (sku, name, price_cents, stock) VALUES ($1, $2, $3, $4) \
             RETURNING {COLUMNS}"
        );
        // A duplicate SKU is a unique violation, which `?` answers with 409.
        let row: Row = sqlx::query_as(&query)
            .bind(sku)
            .bind(name)
            .bind(price_cents)
            .bind(stock.unwrap_or(0))
            .fetch_one(&mut *self.database.acquire().await?)
            .await?;
        Ok(create_product::Response::Created(product(row)))
    }

    async fn try_get_product(
        &self,
        request: get_product::Request,
    ) -> Result<get_product::Response, Problem> {
        // Through the loader: the reads of one batch are one query.
        match self.products.load(request.product_id).await? {
            Some(product) => Ok(get_product::Response::Ok(product)),
            None => Err(sqlx::Error::RowNotFound.into()),
        }
    }

    async fn try_delete_product(
        &self,
        request: delete_product::Request,
    ) -> Result<delete_product::Response, Problem> {
        let deleted = sqlx::query("DELETE FROM products WHERE id = $1")
            .bind(request.product_id)
            .execute(&mut *self.database.acquire().await?)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(sqlx::Error::RowNotFound.into());
        }
        Ok(delete_product::Response::NoContent)
    }
}

impl Api for Shop {
    async fn list_products(&self, request: list_products::Request) -> list_products::Response {
        self.try_list_products(request).await.into()
    }

    async fn create_product(&self, request: create_product::Request) -> create_product::Response {
        self.try_create_product(request).await.into()
    }

    async fn get_product(&self, request: get_product::Request) -> get_product::Response {
        self.try_get_product(request).await.into()
    }

    async fn delete_product(&self, request: delete_product::Request) -> delete_product::Response {
        self.try_delete_product(request).await.into()
    }
}
