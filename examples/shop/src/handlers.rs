//! The handlers: the shop's SQL (`store`) run over the pool the services opened, reads
//! through loaders so that what arrives together (the items of a batch, the parts of many
//! dashboards, concurrent requests) is one query per kind, never one per item.

use std::collections::HashMap;
use std::hash::Hash;

use specjet::http::StatusCode;
use specjet::{Database, Loader, Problem};

use crate::api::operations::{
    create_order, create_product, create_user, delete_product, export_orders, get_order,
    get_product, get_user, get_user_stats, issue_token, list_my_orders, list_products,
    list_user_orders, list_users, update_order, watch_user_orders,
};
use crate::api::types::{
    IssuedToken, IssuedTokenTokenType, Order, OrderPage, Product, User, UserStats,
};
use crate::api::Api;
use crate::store::{self, StoreError};

/// A loader whose batch is one call of the store function `$query` with every id, on one
/// pooled connection. (A macro: a function cannot name "an async fn borrowing its
/// arguments, whose future is `Send`" on stable Rust.)
macro_rules! loader {
    ($database:expr, $name:literal, $query:path) => {{
        let database = $database.clone();
        Loader::new($name, move |ids: Vec<i64>| {
            let database = database.clone();
            async move {
                let mut connection = database.acquire().await?;
                Ok($query(&mut connection, &ids).await?)
            }
        })
    }};
}

/// The handlers' state: the pool, a loader per kind of read (a clone shares them all), and
/// the key the shop signs its users' tokens with.
#[derive(Clone, Debug)]
pub struct Shop {
    database: Database,
    tokens: crate::tokens::Tokens,
    products: Loader<i64, Product>,
    users: Loader<i64, User>,
    orders: Loader<i64, Order>,
    /// A user's newest orders, by (user, page size).
    recent_orders: Loader<(i64, i32), OrderPage>,
    stats: Loader<i64, UserStats>,
    /// New orders, for the watchers of `watchUserOrders`.
    news: crate::news::OrderNews,
}

/// How many orders `exportOrders` reads from the database at a time.
const EXPORT_PAGE: i64 = 500;

impl Shop {
    /// The shop over the services' database, signing tokens with `SHOP_JWT_SECRET`.
    pub fn new(services: &specjet::Services) -> Result<Shop, specjet::StartError> {
        let database = services.require_database()?.clone();
        Ok(Shop {
            tokens: crate::tokens::Tokens::from_env()?,
            products: loader!(database, "products", store::products_by_id),
            users: loader!(database, "users", store::users_by_id),
            orders: loader!(database, "orders", store::orders_by_id),
            recent_orders: recent_orders_loader(&database),
            stats: loader!(database, "stats", store::stats),
            news: crate::news::OrderNews::new(database.clone()),
            database,
        })
    }
}

/// The newest orders of many users: one query per page size asked (in practice one).
fn recent_orders_loader(database: &Database) -> Loader<(i64, i32), OrderPage> {
    let database = database.clone();
    Loader::new("recent_orders", move |keys: Vec<(i64, i32)>| {
        let database = database.clone();
        async move {
            let mut by_limit: HashMap<i32, Vec<i64>> = HashMap::new();
            for (user, limit) in &keys {
                by_limit.entry(*limit).or_default().push(*user);
            }
            let mut connection = database.acquire().await?;
            let mut pages = HashMap::with_capacity(keys.len());
            for (limit, users) in by_limit {
                let found = store::recent_orders(&mut connection, &users, limit).await?;
                pages.extend(found.into_iter().map(|(user, page)| ((user, limit), page)));
            }
            Ok(pages)
        }
    })
}

/// How a store failure is answered: an unknown product in an order is 409 (the request is
/// valid; the catalog does not hold it), database errors as `Problem` answers them (409 for a
/// duplicate, 503 when unreachable, ...).
impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Problem {
        match error {
            StoreError::Database(error) => error.into(),
            StoreError::NotFound(what) => not_found(what),
            StoreError::Conflict(reason) => Problem::new(StatusCode::CONFLICT).with_detail(reason),
            StoreError::Internal(reason) => {
                eprintln!("shop: {reason}");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

/// Runs a store call on a pooled connection (the wait is counted in `Server-Timing`).
async fn with_connection<T>(
    database: &Database,
    call: impl AsyncFnOnce(&mut specjet::sqlx::AnyConnection) -> store::Result<T>,
) -> Result<T, Problem> {
    let mut connection = database.acquire().await?;
    Ok(call(&mut connection).await?)
}

fn not_found(what: &str) -> Problem {
    Problem::new(StatusCode::NOT_FOUND).with_detail(format!("no {what} has this id"))
}

/// The value a loader found for `key`, or 404.
async fn found<K, V>(loader: &Loader<K, V>, key: K, what: &str) -> Result<V, Problem>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    loader.load(key).await?.ok_or_else(|| not_found(what))
}

// The logic is written as functions returning `Result<_, Problem>`, so that `?` turns any
// failure into the right answer; each handler answers with `.into()`.
impl Shop {
    /// A user's newest orders; an empty page for a user without orders, 404 without user.
    async fn recent(&self, user_id: i64, limit: i32) -> Result<OrderPage, Problem> {
        match self.recent_orders.load((user_id, limit)).await? {
            Some(page) => Ok(page),
            None => {
                found(&self.users, user_id, "user").await?;
                Ok(OrderPage {
                    items: Vec::new(),
                    next: None,
                })
            }
        }
    }

    async fn try_list_users(
        &self,
        request: list_users::Request,
    ) -> Result<list_users::Response, Problem> {
        let page = with_connection(&self.database, async move |connection| {
            store::list_users(connection, request.limit, request.after).await
        })
        .await?;
        Ok(list_users::Response::Ok(page))
    }

    async fn try_create_user(
        &self,
        request: create_user::Request,
    ) -> Result<create_user::Response, Problem> {
        let mut user = with_connection(&self.database, async move |connection| {
            store::create_user(connection, request.body).await
        })
        .await?;
        user.token = self.tokens.issue(user.id)?;
        Ok(create_user::Response::Created(user))
    }

    async fn try_list_user_orders(
        &self,
        request: list_user_orders::Request,
    ) -> Result<list_user_orders::Response, Problem> {
        let list_user_orders::Request {
            user_id,
            limit,
            status,
            before,
            ..
        } = request;
        if status.is_none() && before.is_none() {
            return Ok(list_user_orders::Response::Ok(
                self.recent(user_id, limit).await?,
            ));
        }
        let page = with_connection(&self.database, async move |connection| {
            store::user_orders(connection, user_id, limit, status, before).await
        })
        .await?;
        if page.items.is_empty() {
            found(&self.users, user_id, "user").await?;
        }
        Ok(list_user_orders::Response::Ok(page))
    }

    async fn try_create_order(
        &self,
        request: create_order::Request,
    ) -> Result<create_order::Response, Problem> {
        let order = with_connection(&self.database, async move |connection| {
            store::create_order(connection, request.user_id, request.body).await
        })
        .await?;
        Ok(create_order::Response::Created(order))
    }

    async fn try_get_user_stats(
        &self,
        request: get_user_stats::Request,
    ) -> Result<get_user_stats::Response, Problem> {
        let stats = match self.stats.load(request.user_id).await? {
            Some(stats) => stats,
            None => {
                found(&self.users, request.user_id, "user").await?;
                store::no_orders(request.user_id)
            }
        };
        Ok(get_user_stats::Response::Ok(stats))
    }

    async fn try_list_my_orders(
        &self,
        request: list_my_orders::Request,
    ) -> Result<list_my_orders::Response, Problem> {
        // The service verified the token before this ran: its `sub` is the user.
        let user_id = crate::tokens::user_of(&request.principal)?;
        Ok(list_my_orders::Response::Ok(
            self.recent(user_id, request.limit).await?,
        ))
    }

    async fn try_issue_token(
        &self,
        request: issue_token::Request,
    ) -> Result<issue_token::Response, Problem> {
        let user_id = request.body.user_id;
        found(&self.users, user_id, "user").await?;
        Ok(issue_token::Response::Created(IssuedToken {
            token: self.tokens.issue(user_id)?,
            token_type: IssuedTokenTokenType::Bearer,
            expires_in: crate::tokens::LIFETIME.as_secs() as i64,
        }))
    }

    async fn try_watch_user_orders(
        &self,
        request: watch_user_orders::Request,
    ) -> Result<watch_user_orders::Response, Problem> {
        use futures_util::StreamExt;
        let user = request.user_id;
        found(&self.users, user, "user").await?;
        // Subscribed before the missed orders are read: none falls between the two.
        let live = self.news.subscribe().await?;
        let resume_after = request
            .last_event_id
            .as_deref()
            .and_then(|id| id.parse::<i64>().ok());
        let missed = match resume_after {
            Some(after) => {
                with_connection(&self.database, async move |connection| {
                    store::orders_after(connection, Some(user), after, 100).await
                })
                .await?
            }
            None => Vec::new(),
        };
        let mut sent = missed
            .last()
            .map(|order| order.id)
            .or(resume_after)
            .unwrap_or(0);
        let live = futures_util::stream::unfold(live, |mut live| async move {
            loop {
                match live.recv().await {
                    Ok(order) => return Some((order, live)),
                    // A watcher that fell behind skips what it missed; it has the newest.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .filter_map(move |order| {
            let new = order.user_id == user && order.id > sent;
            if new {
                sent = order.id;
            }
            std::future::ready(new.then(|| Order::clone(&order)))
        });
        let events = futures_util::stream::iter(missed).chain(live).map(|order| {
            specjet::stream::Event::new(order.clone())
                .with_id(order.id.to_string())
                .with_event("order")
        });
        Ok(watch_user_orders::Response::Ok(
            specjet::stream::EventStream::new(events),
        ))
    }

    fn export_orders(&self) -> export_orders::Response {
        use futures_util::TryStreamExt;
        let database = self.database.clone();
        // A page at a time, the next read only when the client has taken the last one.
        let pages = futures_util::stream::try_unfold(Some(0), move |after| {
            let database = database.clone();
            async move {
                let Some(after) = after else {
                    return Ok(None);
                };
                let page = with_connection(&database, async move |connection| {
                    store::orders_after(connection, None, after, EXPORT_PAGE).await
                })
                .await?;
                let next = (page.len() as i64 == EXPORT_PAGE)
                    .then(|| page.last().map(|o| o.id))
                    .flatten();
                Ok::<_, Problem>(Some((page, next)))
            }
        });
        let orders = pages
            .map_ok(|page| futures_util::stream::iter(page.into_iter().map(Ok)))
            .try_flatten()
            .map_err(|problem: Problem| problem.detail.map(String::from).unwrap_or_default());
        export_orders::Response::Ok(specjet::stream::ItemStream::try_new(orders))
    }

    async fn try_update_order(
        &self,
        request: update_order::Request,
    ) -> Result<update_order::Response, Problem> {
        let order = with_connection(&self.database, async move |connection| {
            store::update_order(connection, request.order_id, request.body.status).await
        })
        .await?;
        Ok(update_order::Response::Ok(order))
    }

    async fn try_list_products(
        &self,
        request: list_products::Request,
    ) -> Result<list_products::Response, Problem> {
        let products = with_connection(&self.database, async move |connection| {
            store::list_products(connection, request.limit).await
        })
        .await?;
        Ok(list_products::Response::Ok(products))
    }

    async fn try_create_product(
        &self,
        request: create_product::Request,
    ) -> Result<create_product::Response, Problem> {
        // A duplicate SKU is a unique violation, answered with 409.
        let product = with_connection(&self.database, async move |connection| {
            store::create_product(connection, request.body).await
        })
        .await?;
        Ok(create_product::Response::Created(product))
    }

    async fn try_delete_product(
        &self,
        request: delete_product::Request,
    ) -> Result<delete_product::Response, Problem> {
        with_connection(&self.database, async move |connection| {
            store::delete_product(connection, request.product_id).await
        })
        .await?;
        Ok(delete_product::Response::NoContent)
    }
}

// `getDashboard` is not written here: `x-fan-out` composes it from `getUser`,
// `listUserOrders` and `getUserStats`, each through its own cache.
impl Api for Shop {
    async fn list_users(&self, request: list_users::Request) -> list_users::Response {
        self.try_list_users(request).await.into()
    }

    async fn create_user(&self, request: create_user::Request) -> create_user::Response {
        self.try_create_user(request).await.into()
    }

    async fn get_user(&self, request: get_user::Request) -> get_user::Response {
        found(&self.users, request.user_id, "user")
            .await
            .map(get_user::Response::Ok)
            .into()
    }

    async fn list_user_orders(
        &self,
        request: list_user_orders::Request,
    ) -> list_user_orders::Response {
        self.try_list_user_orders(request).await.into()
    }

    async fn create_order(&self, request: create_order::Request) -> create_order::Response {
        self.try_create_order(request).await.into()
    }

    async fn get_user_stats(&self, request: get_user_stats::Request) -> get_user_stats::Response {
        self.try_get_user_stats(request).await.into()
    }

    async fn list_my_orders(&self, request: list_my_orders::Request) -> list_my_orders::Response {
        self.try_list_my_orders(request).await.into()
    }

    async fn issue_token(&self, request: issue_token::Request) -> issue_token::Response {
        self.try_issue_token(request).await.into()
    }

    async fn watch_user_orders(
        &self,
        request: watch_user_orders::Request,
    ) -> watch_user_orders::Response {
        self.try_watch_user_orders(request).await.into()
    }

    async fn export_orders(&self, _request: export_orders::Request) -> export_orders::Response {
        Shop::export_orders(self)
    }

    async fn get_order(&self, request: get_order::Request) -> get_order::Response {
        found(&self.orders, request.order_id, "order")
            .await
            .map(get_order::Response::Ok)
            .into()
    }

    async fn update_order(&self, request: update_order::Request) -> update_order::Response {
        self.try_update_order(request).await.into()
    }

    async fn list_products(&self, request: list_products::Request) -> list_products::Response {
        self.try_list_products(request).await.into()
    }

    async fn create_product(&self, request: create_product::Request) -> create_product::Response {
        self.try_create_product(request).await.into()
    }

    async fn get_product(&self, request: get_product::Request) -> get_product::Response {
        // Through the loader: the reads of one batch are one query.
        found(&self.products, request.product_id, "product")
            .await
            .map(get_product::Response::Ok)
            .into()
    }

    async fn delete_product(&self, request: delete_product::Request) -> delete_product::Response {
        self.try_delete_product(request).await.into()
    }
}
