//! Seed data for an empty shop: products, users and their orders, made up from a fixed seed
//! (the same shop every time) and written with multi-row inserts in one transaction, so that
//! 10,000 users and 100,000 orders take seconds.

use std::time::{Duration, Instant};

use specjet::serde_json::json;
use specjet::sqlx;
use specjet::Database;

use crate::sql::Statement;

/// How much to seed.
#[derive(Clone, Copy, Debug)]
pub struct SeedSize {
    pub products: usize,
    pub users: usize,
    /// Orders per user on average (each user gets between none and twice this many).
    pub orders_per_user: usize,
}

impl SeedSize {
    /// The shop of the benchmarks: 1,000 products, 10,000 users, about 100,000 orders.
    pub const DEFAULT: SeedSize = SeedSize {
        products: 1_000,
        users: 10_000,
        orders_per_user: 10,
    };

    /// `users` users and proportionally fewer products, ten orders each on average.
    pub fn users(users: usize) -> SeedSize {
        SeedSize {
            products: (users / 10).clamp(1, 1_000),
            users,
            orders_per_user: 10,
        }
    }
}

/// What [`seed_if_empty`] wrote.
#[derive(Clone, Copy, Debug)]
pub struct Seeded {
    pub products: usize,
    pub users: usize,
    pub orders: usize,
    pub took: Duration,
}

/// Rows per `INSERT`: under both databases' limits on bound values (SQLite 32,766,
/// Postgres 65,535) at seven columns.
const ROWS_PER_INSERT: usize = 1_000;

const STATUSES: [&str; 4] = ["pending", "paid", "shipped", "cancelled"];
const CITIES: [(&str, &str); 6] = [
    ("Lyon", "FR"),
    ("Porto", "PT"),
    ("Leipzig", "DE"),
    ("Austin", "US"),
    ("Osaka", "JP"),
    ("Cork", "IE"),
];

/// Seeds the shop when it has no users (a shop with users is left as it is: `None`).
pub async fn seed_if_empty(
    database: &Database,
    size: SeedSize,
) -> Result<Option<Seeded>, sqlx::Error> {
    let started = Instant::now();
    let mut transaction = database.pool().begin().await?;
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *transaction)
        .await?;
    if users > 0 || size.users == 0 {
        return Ok(None);
    }
    let mut random = fastrand::Rng::with_seed(20_261_201);

    // Products: SKUs of their own (`SEED-...`), prices from 1.00 to 200.00.
    let mut products: Vec<(i64, i64)> = Vec::with_capacity(size.products);
    for first in (0..size.products).step_by(ROWS_PER_INSERT) {
        let rows = first..(first + ROWS_PER_INSERT).min(size.products);
        let mut insert =
            Statement::new("INSERT INTO products (sku, name, price_cents, stock) VALUES ");
        for n in rows {
            if n > first {
                insert.push(", ");
            }
            insert
                .push("(")
                .bind(format!("SEED-{:05}", n + 1))
                .push(", ")
                .bind(format!("Product {}", n + 1))
                .push(", ")
                .bind(random.i64(100..=20_000))
                .push(", ")
                .bind(random.i64(0..=500))
                .push(")");
        }
        insert.push(" RETURNING id, price_cents");
        products.extend(insert.fetch_all::<(i64, i64)>(&mut transaction).await?);
    }

    // Users: registered over the two years before the orders start.
    let mut user_ids: Vec<i64> = Vec::with_capacity(size.users);
    for first in (0..size.users).step_by(ROWS_PER_INSERT) {
        let rows = first..(first + ROWS_PER_INSERT).min(size.users);
        let mut insert =
            Statement::new("INSERT INTO users (email, name, tier, token, created_at) VALUES ");
        for n in rows {
            if n > first {
                insert.push(", ");
            }
            let tier = if random.u8(0..10) == 0 {
                "gold"
            } else {
                "standard"
            };
            insert
                .push("(")
                .bind(format!("user{}@example.com", n + 1))
                .push(", ")
                .bind(format!("User {}", n + 1))
                .push(", ")
                .bind(tier)
                // Replaced by `demo-<id>` below, once the id is known.
                .push(", ")
                .bind(format!("pending-{n}"))
                .push(", ")
                .bind(rfc3339(EPOCH - 2 * YEAR + random.i64(0..2 * YEAR)))
                .push(")");
        }
        insert.push(" RETURNING id");
        let ids: Vec<(i64,)> = insert.fetch_all(&mut transaction).await?;
        user_ids.extend(ids.into_iter().map(|(id,)| id));
    }
    sqlx::query("UPDATE users SET token = 'demo-' || CAST(id AS TEXT)")
        .execute(&mut *transaction)
        .await?;

    // Orders: a year of them, in time order (ids and times rise together), by random users.
    let orders = size.users * size.orders_per_user;
    if !products.is_empty() {
        for first in (0..orders).step_by(ROWS_PER_INSERT) {
            let rows = first..(first + ROWS_PER_INSERT).min(orders);
            let mut insert = Statement::new(
                "INSERT INTO orders (user_id, status, total_cents, items, shipping, created_at) \
                 VALUES ",
            );
            for n in rows {
                if n > first {
                    insert.push(", ");
                }
                let lines = random.usize(1..=4);
                let mut total = 0;
                let items: Vec<_> = (0..lines)
                    .map(|_| {
                        let (product_id, price) = products[random.usize(..products.len())];
                        let quantity = random.i64(1..=3);
                        total += price * quantity;
                        json!({"product_id": product_id, "quantity": quantity, "unit_price_cents": price})
                    })
                    .collect();
                let (city, country) = CITIES[random.usize(..CITIES.len())];
                let shipping = json!({
                    "street": format!("{} Market Street", random.u16(1..500)),
                    "city": city,
                    "country": country,
                });
                // All but the newest twentieth have moved past `pending`.
                let status = if n + orders / 20 < orders {
                    STATUSES[random.usize(1..STATUSES.len())]
                } else {
                    STATUSES[random.usize(..STATUSES.len())]
                };
                insert
                    .push("(")
                    .bind(user_ids[random.usize(..user_ids.len())])
                    .push(", ")
                    .bind(status)
                    .push(", ")
                    .bind(total)
                    .push(", ")
                    .bind(specjet::serde_json::Value::Array(items).to_string())
                    .push(", ")
                    .bind(shipping.to_string())
                    .push(", ")
                    .bind(rfc3339(EPOCH + (n as i64) * YEAR / orders as i64))
                    .push(")");
            }
            insert.execute(&mut transaction).await?;
        }
    }
    transaction.commit().await?;
    Ok(Some(Seeded {
        products: products.len(),
        users: user_ids.len(),
        orders: if products.is_empty() { 0 } else { orders },
        took: started.elapsed(),
    }))
}

/// 2025-12-01T00:00:00Z, in seconds since the Unix epoch: the seeded orders' first day.
const EPOCH: i64 = 1_764_547_200;
const YEAR: i64 = 365 * 24 * 3600;

/// `seconds` since the Unix epoch as RFC 3339 in UTC (`2026-01-01T00:00:00Z`).
pub fn rfc3339(seconds: i64) -> String {
    let format = time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|moment| moment.format(&format).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// Now, as RFC 3339 in UTC, to the second.
pub fn now() -> String {
    rfc3339(time::OffsetDateTime::now_utc().unix_timestamp())
}
