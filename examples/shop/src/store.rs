//! The shop's SQL, once: every query the handlers run, over a connection of either database.
//! The generated service calls these through its loaders; the hand-written axum twin of the
//! benchmarks (`benches/shop-axum`) calls the same functions, so the two differ only in what
//! surrounds them.
//!
//! The SQL reads the same on Postgres and SQLite: `$1` placeholders (SQLite reads them too),
//! `IN ($1, $2, ...)` rather than Postgres' `= ANY($1)`, `RETURNING` and window functions,
//! which both have. Times are RFC 3339 text in UTC; an order's items and address are JSON
//! text.

use std::collections::HashMap;
use std::fmt;

use specjet::serde_json;
use specjet::sqlx::{self, AnyConnection};

use crate::sql::Statement;

use crate::api::types::{
    NewOrder, NewProduct, NewUser, Order, OrderItem, OrderPage, OrderStatus, Product,
    RegisteredUser, StatusCount, Tier, User, UserPage, UserStats,
};

/// Why a store call failed.
#[derive(Debug)]
pub enum StoreError {
    /// The database failed, or refused the statement (a unique or foreign key violation).
    Database(sqlx::Error),
    /// Nothing has this id (`"user"`, `"order"`, `"product"`).
    NotFound(&'static str),
    /// The request names something the shop does not hold (an unknown product in an order).
    Conflict(String),
    /// The shop itself failed: a row it wrote cannot be read back, no randomness for a token.
    Internal(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Database(error) => write!(formatter, "{error}"),
            StoreError::NotFound(what) => write!(formatter, "no {what} has this id"),
            StoreError::Conflict(reason) => formatter.write_str(reason),
            StoreError::Internal(reason) => formatter.write_str(reason),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        StoreError::Database(error)
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// `{prefix} IN ($1, $2, ...){suffix}` over `ids`.
fn select_in(prefix: &str, ids: &[i64], suffix: &str) -> Statement {
    let mut statement = Statement::new(prefix);
    statement
        .push(" IN ")
        .bind_list(ids.iter().copied())
        .push(suffix);
    statement
}

// ---- products -------------------------------------------------------------------------

const PRODUCT_COLUMNS: &str = "id, sku, name, price_cents, stock";
type ProductRow = (i64, String, String, i64, i64);

fn product((id, sku, name, price_cents, stock): ProductRow) -> Product {
    Product {
        id,
        sku,
        name,
        price_cents,
        stock,
    }
}

/// The products with these ids, in one query.
pub async fn products_by_id(
    connection: &mut AnyConnection,
    ids: &[i64],
) -> Result<HashMap<i64, Product>> {
    let rows: Vec<ProductRow> = select_in(
        &format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id"),
        ids,
        "",
    )
    .fetch_all(connection)
    .await?;
    Ok(rows.into_iter().map(|row| (row.0, product(row))).collect())
}

/// The first `limit` products by id.
pub async fn list_products(connection: &mut AnyConnection, limit: i32) -> Result<Vec<Product>> {
    let query = format!("SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id LIMIT $1");
    let rows: Vec<ProductRow> = sqlx::query_as(&query)
        .bind(i64::from(limit))
        .fetch_all(connection)
        .await?;
    Ok(rows.into_iter().map(product).collect())
}

/// Adds a product (a duplicate SKU is a unique violation).
pub async fn create_product(connection: &mut AnyConnection, new: NewProduct) -> Result<Product> {
    let query = format!(
        "INSERT INTO products (sku, name, price_cents, stock) VALUES ($1, $2, $3, $4) \
         RETURNING {PRODUCT_COLUMNS}"
    );
    let row: ProductRow = sqlx::query_as(&query)
        .bind(new.sku)
        .bind(new.name)
        .bind(new.price_cents)
        .bind(new.stock.unwrap_or(0))
        .fetch_one(connection)
        .await?;
    Ok(product(row))
}

/// Removes a product.
pub async fn delete_product(connection: &mut AnyConnection, id: i64) -> Result<()> {
    let deleted = sqlx::query("DELETE FROM products WHERE id = $1")
        .bind(id)
        .execute(connection)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(StoreError::NotFound("product"));
    }
    Ok(())
}

// ---- users ----------------------------------------------------------------------------

const USER_COLUMNS: &str = "id, email, name, tier, created_at";
type UserRow = (i64, String, String, String, String);

fn user((id, email, name, tier, created_at): UserRow) -> User {
    User {
        id,
        email,
        name,
        tier: if tier == "gold" {
            Tier::Gold
        } else {
            Tier::Standard
        },
        created_at,
    }
}

/// The users with these ids, in one query.
pub async fn users_by_id(
    connection: &mut AnyConnection,
    ids: &[i64],
) -> Result<HashMap<i64, User>> {
    let rows: Vec<UserRow> = select_in(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id"),
        ids,
        "",
    )
    .fetch_all(connection)
    .await?;
    Ok(rows.into_iter().map(|row| (row.0, user(row))).collect())
}

/// A page of users by id, after `after`.
pub async fn list_users(
    connection: &mut AnyConnection,
    limit: i32,
    after: Option<i64>,
) -> Result<UserPage> {
    let query = format!("SELECT {USER_COLUMNS} FROM users WHERE id > $1 ORDER BY id LIMIT $2");
    let rows: Vec<UserRow> = sqlx::query_as(&query)
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit) + 1)
        .fetch_all(connection)
        .await?;
    let (items, next) = page(rows.into_iter().map(user).collect(), limit, |user| user.id);
    Ok(UserPage { items, next })
}

/// Registers a user (a duplicate email is a unique violation). Its `token` column keeps a
/// random value, as the seed's users have one; the token the answer carries is the signed
/// one the handler puts there.
pub async fn create_user(connection: &mut AnyConnection, new: NewUser) -> Result<RegisteredUser> {
    let token = new_token()?;
    let query = format!(
        "INSERT INTO users (email, name, tier, token, created_at) VALUES ($1, $2, $3, $4, $5) \
         RETURNING {USER_COLUMNS}"
    );
    let row: UserRow = sqlx::query_as(&query)
        .bind(new.email)
        .bind(new.name)
        .bind(new.tier.unwrap_or(Tier::Standard).as_str())
        .bind(&token)
        .bind(crate::seed::now())
        .fetch_one(connection)
        .await?;
    let User {
        id,
        email,
        name,
        tier,
        created_at,
    } = user(row);
    Ok(RegisteredUser {
        id,
        email,
        name,
        tier,
        created_at,
        token,
    })
}

/// 128 random bits from the operating system, as hex.
fn new_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|error| StoreError::Internal(format!("no randomness for a token: {error}")))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

// ---- orders ---------------------------------------------------------------------------

const ORDER_COLUMNS: &str = "id, user_id, status, total_cents, items, shipping, created_at";
type OrderRow = (i64, i64, String, i64, String, String, String);

fn order(
    (id, user_id, status, total_cents, items, shipping, created_at): OrderRow,
) -> Result<Order> {
    let corrupt = |what: &str, error: serde_json::Error| {
        StoreError::Internal(format!("stored order {id}'s {what}: {error}"))
    };
    Ok(Order {
        id,
        user_id,
        status: parse_status(&status).ok_or_else(|| {
            StoreError::Internal(format!("stored order {id}'s status `{status}`"))
        })?,
        total_cents,
        items: serde_json::from_str(&items).map_err(|error| corrupt("items", error))?,
        shipping: serde_json::from_str(&shipping).map_err(|error| corrupt("address", error))?,
        created_at,
    })
}

fn parse_status(status: &str) -> Option<OrderStatus> {
    Some(match status {
        "pending" => OrderStatus::Pending,
        "paid" => OrderStatus::Paid,
        "shipped" => OrderStatus::Shipped,
        "cancelled" => OrderStatus::Cancelled,
        _ => return None,
    })
}

/// The first `limit` of `items` (which may hold one more), and the cursor of the next page
/// when there is one.
fn page<T>(mut items: Vec<T>, limit: i32, cursor: impl Fn(&T) -> i64) -> (Vec<T>, Option<i64>) {
    let limit = usize::try_from(limit).unwrap_or(0);
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(cursor)
    } else {
        None
    };
    (items, next)
}

/// The orders with these ids, in one query.
pub async fn orders_by_id(
    connection: &mut AnyConnection,
    ids: &[i64],
) -> Result<HashMap<i64, Order>> {
    let rows: Vec<OrderRow> = select_in(
        &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id"),
        ids,
        "",
    )
    .fetch_all(connection)
    .await?;
    rows.into_iter()
        .map(|row| order(row).map(|order| (order.id, order)))
        .collect()
}

/// Orders after `after` (by id), oldest first, at most `limit`: every user's, or `user`'s.
pub async fn orders_after(
    connection: &mut AnyConnection,
    user: Option<i64>,
    after: i64,
    limit: i64,
) -> Result<Vec<Order>> {
    let query = match user {
        Some(_) => format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ),
        None => format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id > $1 ORDER BY id LIMIT $2"),
    };
    let mut query = sqlx::query_as::<_, OrderRow>(&query);
    if let Some(user) = user {
        query = query.bind(user);
    }
    let rows = query.bind(after).bind(limit).fetch_all(connection).await?;
    rows.into_iter().map(order).collect()
}

/// The highest order id (0 without orders).
pub async fn last_order_id(connection: &mut AnyConnection) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(id), 0) FROM orders")
        .fetch_one(connection)
        .await?;
    Ok(id)
}

/// The newest `limit` orders of each of these users, in one query (a window over the
/// `orders_by_user` index): the orders of many users are not one query each. Users without
/// orders are left out.
pub async fn recent_orders(
    connection: &mut AnyConnection,
    user_ids: &[i64],
    limit: i32,
) -> Result<HashMap<i64, OrderPage>> {
    let mut query = select_in(
        &format!(
            "SELECT {ORDER_COLUMNS} FROM (SELECT {ORDER_COLUMNS}, ROW_NUMBER() OVER \
             (PARTITION BY user_id ORDER BY id DESC) AS position FROM orders WHERE user_id"
        ),
        user_ids,
        ") AS ranked WHERE position <= ",
    );
    query
        .bind(i64::from(limit) + 1)
        .push(" ORDER BY user_id, id DESC");
    let rows: Vec<OrderRow> = query.fetch_all(connection).await?;
    let mut by_user: HashMap<i64, Vec<Order>> = HashMap::new();
    for row in rows {
        let order = order(row)?;
        by_user.entry(order.user_id).or_default().push(order);
    }
    Ok(by_user
        .into_iter()
        .map(|(user, orders)| {
            let (items, next) = page(orders, limit, |order| order.id);
            (user, OrderPage { items, next })
        })
        .collect())
}

/// A page of one user's orders, newest first, of one status and before an id if asked.
pub async fn user_orders(
    connection: &mut AnyConnection,
    user_id: i64,
    limit: i32,
    status: Option<OrderStatus>,
    before: Option<i64>,
) -> Result<OrderPage> {
    let mut query = Statement::new(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE user_id = "
    ));
    query.bind(user_id);
    if let Some(status) = status {
        query.push(" AND status = ").bind(status.as_str());
    }
    if let Some(before) = before {
        query.push(" AND id < ").bind(before);
    }
    query
        .push(" ORDER BY id DESC LIMIT ")
        .bind(i64::from(limit) + 1);
    let rows: Vec<OrderRow> = query.fetch_all(connection).await?;
    let orders = rows.into_iter().map(order).collect::<Result<Vec<_>>>()?;
    let (items, next) = page(orders, limit, |order| order.id);
    Ok(OrderPage { items, next })
}

/// Places an order at the products' current prices (an unknown product is refused).
pub async fn create_order(
    connection: &mut AnyConnection,
    user_id: i64,
    new: NewOrder,
) -> Result<Order> {
    let (exists,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&mut *connection)
        .await?;
    if exists == 0 {
        return Err(StoreError::NotFound("user"));
    }
    let ids: Vec<i64> = new.items.iter().map(|item| item.product_id).collect();
    let prices: HashMap<i64, i64> = products_by_id(&mut *connection, &ids)
        .await?
        .into_iter()
        .map(|(id, product)| (id, product.price_cents))
        .collect();
    let mut total: i64 = 0;
    let mut items = Vec::with_capacity(new.items.len());
    for item in new.items {
        let price = *prices.get(&item.product_id).ok_or_else(|| {
            StoreError::Conflict(format!("no product has the id {}", item.product_id))
        })?;
        total = price
            .checked_mul(i64::from(item.quantity))
            .and_then(|line| total.checked_add(line))
            .ok_or_else(|| StoreError::Conflict("the order's total is too large".to_owned()))?;
        items.push(OrderItem {
            product_id: item.product_id,
            quantity: item.quantity,
            unit_price_cents: price,
        });
    }
    let query = format!(
        "INSERT INTO orders (user_id, status, total_cents, items, shipping, created_at) \
         VALUES ($1, 'pending', $2, $3, $4, $5) RETURNING {ORDER_COLUMNS}"
    );
    let row: OrderRow = sqlx::query_as(&query)
        .bind(user_id)
        .bind(total)
        .bind(json_text(&items)?)
        .bind(json_text(&new.shipping)?)
        .bind(crate::seed::now())
        .fetch_one(connection)
        .await?;
    order(row)
}

/// `value` as the JSON text of a column.
fn json_text<T: specjet::serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|error| StoreError::Internal(format!("cannot be stored: {error}")))
}

/// Sets an order's status.
pub async fn update_order(
    connection: &mut AnyConnection,
    id: i64,
    status: OrderStatus,
) -> Result<Order> {
    let query = format!("UPDATE orders SET status = $1 WHERE id = $2 RETURNING {ORDER_COLUMNS}");
    let row: Option<OrderRow> = sqlx::query_as(&query)
        .bind(status.as_str())
        .bind(id)
        .fetch_optional(connection)
        .await?;
    order(row.ok_or(StoreError::NotFound("order"))?)
}

/// Each of these users' statistics, in one aggregation over their orders (users without
/// orders are left out).
pub async fn stats(
    connection: &mut AnyConnection,
    user_ids: &[i64],
) -> Result<HashMap<i64, UserStats>> {
    let rows: Vec<(i64, String, i64, i64, String, String)> = select_in(
        "SELECT user_id, status, COUNT(*), CAST(SUM(total_cents) AS BIGINT), \
         MIN(created_at), MAX(created_at) FROM orders WHERE user_id",
        user_ids,
        " GROUP BY user_id, status",
    )
    .fetch_all(connection)
    .await?;
    let mut by_user: HashMap<i64, UserStats> = HashMap::new();
    for (user_id, status, orders, spent, first, last) in rows {
        let stats = by_user.entry(user_id).or_insert_with(|| no_orders(user_id));
        stats.orders += orders;
        if status != "cancelled" {
            stats.spent_cents += spent;
        }
        if stats
            .first_order_at
            .as_ref()
            .is_none_or(|held| first < *held)
        {
            stats.first_order_at = Some(first);
        }
        if stats.last_order_at.as_ref().is_none_or(|held| last > *held) {
            stats.last_order_at = Some(last);
        }
        stats.by_status.insert(
            status,
            StatusCount {
                orders,
                spent_cents: spent,
            },
        );
    }
    for stats in by_user.values_mut() {
        let counted = stats.orders
            - stats
                .by_status
                .get("cancelled")
                .map_or(0, |cancelled| cancelled.orders);
        stats.average_cents = if counted > 0 {
            stats.spent_cents / counted
        } else {
            0
        };
    }
    Ok(by_user)
}

/// The statistics of a user without orders.
pub fn no_orders(user_id: i64) -> UserStats {
    UserStats {
        user_id,
        orders: 0,
        spent_cents: 0,
        average_cents: 0,
        first_order_at: None,
        last_order_at: None,
        by_status: Default::default(),
    }
}
