//! The shop written by hand on axum, as a careful team would without specjet: the same
//! endpoints, the same SQL (`shop_example::store`) over a pool of the same size, the
//! dashboard's three reads at once (`tokio::join!`), a hand-written `POST /batch` that runs
//! its items concurrently through the router, and nothing else: no cache, no rate limits, no
//! compression, no metrics, no request ids, no validation past what serde reads.
//!
//! It serves a database the generated shop has migrated and seeded (`DATABASE_URL`, required)
//! on `ADDR` (default 127.0.0.1:8081), printing `listening on http://<addr>` once bound.
//! Started by `scripts/bench-shop`, never by the tests.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::OnceLock;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::future::join_all;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Value};
use shop_example::api::types::{
    Dashboard, NewOrder, NewProduct, NewUser, OrderPage, OrderStatus, OrderUpdate,
};
use shop_example::store::{self, StoreError};
use shop_example::tokens::Tokens;
use sqlx::any::AnyPoolOptions;
use sqlx::AnyPool;
use tower::ServiceExt;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The page sizes when `limit` is absent, as in the spec: lists of users and products, and
/// a user's orders.
const DEFAULT_LIMIT: i32 = 20;
const DEFAULT_ORDERS: i32 = 10;

/// The key the shop's tokens are signed with (`SHOP_JWT_SECRET`, as the shop reads it).
static TOKENS: OnceLock<Tokens> = OnceLock::new();

/// The token of `Authorization: Bearer <token>`, if the request carries a non-empty one.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// A failure, answered as problem+json.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = json!({
            "type": "about:blank",
            "title": self.0.canonical_reason().unwrap_or(""),
            "status": self.0.as_u16(),
            "detail": self.1,
        });
        (
            self.0,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        let status = match &error {
            StoreError::NotFound(_) => StatusCode::NOT_FOUND,
            StoreError::Conflict(_) => StatusCode::CONFLICT,
            StoreError::Database(sqlx::Error::Database(database))
                if database.is_unique_violation() =>
            {
                StatusCode::CONFLICT
            }
            StoreError::Database(sqlx::Error::PoolTimedOut) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Failure(status, error.to_string())
    }
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Failure {
        StoreError::from(error).into()
    }
}

type Answer<T> = Result<T, Failure>;

fn not_found(what: &str) -> Failure {
    Failure(StatusCode::NOT_FOUND, format!("no {what} has this id"))
}

async fn user(pool: &AnyPool, id: i64) -> Answer<shop_example::api::types::User> {
    let mut connection = pool.acquire().await?;
    store::users_by_id(&mut connection, &[id])
        .await?
        .remove(&id)
        .ok_or_else(|| not_found("user"))
}

/// A user's newest orders; an empty page for a user without orders, 404 without user.
async fn recent(pool: &AnyPool, user_id: i64, limit: i32) -> Answer<OrderPage> {
    let found = {
        let mut connection = pool.acquire().await?;
        store::recent_orders(&mut connection, &[user_id], limit)
            .await?
            .remove(&user_id)
    };
    match found {
        Some(page) => Ok(page),
        None => {
            user(pool, user_id).await?;
            Ok(OrderPage {
                items: Vec::new(),
                next: None,
            })
        }
    }
}

async fn stats(pool: &AnyPool, user_id: i64) -> Answer<shop_example::api::types::UserStats> {
    let found = {
        let mut connection = pool.acquire().await?;
        store::stats(&mut connection, &[user_id])
            .await?
            .remove(&user_id)
    };
    match found {
        Some(stats) => Ok(stats),
        None => {
            user(pool, user_id).await?;
            Ok(store::no_orders(user_id))
        }
    }
}

#[derive(Deserialize)]
struct Page {
    limit: Option<i32>,
    after: Option<i64>,
}

async fn list_users(State(pool): State<AnyPool>, Query(page): Query<Page>) -> Answer<Response> {
    let mut connection = pool.acquire().await?;
    let page = store::list_users(
        &mut connection,
        page.limit.unwrap_or(DEFAULT_LIMIT),
        page.after,
    )
    .await?;
    Ok(Json(page).into_response())
}

async fn create_user(State(pool): State<AnyPool>, Json(new): Json<NewUser>) -> Answer<Response> {
    let mut connection = pool.acquire().await?;
    let mut user = store::create_user(&mut connection, new).await?;
    if let Some(tokens) = TOKENS.get() {
        user.token = tokens.issue(user.id).map_err(|problem| {
            Failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                problem.detail.map(String::from).unwrap_or_default(),
            )
        })?;
    }
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

async fn get_user(State(pool): State<AnyPool>, Path(id): Path<i64>) -> Answer<Response> {
    Ok(Json(user(&pool, id).await?).into_response())
}

#[derive(Deserialize)]
struct OrdersQuery {
    limit: Option<i32>,
    status: Option<OrderStatus>,
    before: Option<i64>,
}

async fn list_user_orders(
    State(pool): State<AnyPool>,
    Path(user_id): Path<i64>,
    Query(query): Query<OrdersQuery>,
) -> Answer<Response> {
    let limit = query.limit.unwrap_or(DEFAULT_ORDERS);
    if query.status.is_none() && query.before.is_none() {
        return Ok(Json(recent(&pool, user_id, limit).await?).into_response());
    }
    let page = {
        let mut connection = pool.acquire().await?;
        store::user_orders(&mut connection, user_id, limit, query.status, query.before).await?
    };
    if page.items.is_empty() {
        user(&pool, user_id).await?;
    }
    Ok(Json(page).into_response())
}

async fn create_order(
    State(pool): State<AnyPool>,
    Path(user_id): Path<i64>,
    Json(new): Json<NewOrder>,
) -> Answer<Response> {
    let mut connection = pool.acquire().await?;
    let order = store::create_order(&mut connection, user_id, new).await?;
    Ok((StatusCode::CREATED, Json(order)).into_response())
}

async fn get_user_stats(State(pool): State<AnyPool>, Path(id): Path<i64>) -> Answer<Response> {
    Ok(Json(stats(&pool, id).await?).into_response())
}

async fn get_dashboard(State(pool): State<AnyPool>, Path(id): Path<i64>) -> Answer<Response> {
    let (user, orders, stats) = tokio::join!(
        user(&pool, id),
        recent(&pool, id, DEFAULT_ORDERS),
        stats(&pool, id)
    );
    let dashboard = Dashboard {
        user: user?,
        orders: orders?,
        stats: stats?,
    };
    Ok(Json(dashboard).into_response())
}

async fn list_my_orders(
    State(pool): State<AnyPool>,
    headers: HeaderMap,
    Query(page): Query<Page>,
) -> Answer<Response> {
    let unauthorized = |detail: &str| Failure(StatusCode::UNAUTHORIZED, detail.to_owned());
    let token = bearer_token(&headers).ok_or_else(|| unauthorized("a bearer token is required"))?;
    let caller = TOKENS
        .get()
        .and_then(|tokens| tokens.user_of(token))
        .ok_or_else(|| unauthorized("the token does not verify"))?;
    let page = recent(&pool, caller, page.limit.unwrap_or(DEFAULT_ORDERS)).await?;
    Ok(Json(page).into_response())
}

async fn get_order(State(pool): State<AnyPool>, Path(id): Path<i64>) -> Answer<Response> {
    let mut connection = pool.acquire().await?;
    let order = store::orders_by_id(&mut connection, &[id])
        .await?
        .remove(&id)
        .ok_or_else(|| not_found("order"))?;
    Ok(Json(order).into_response())
}

async fn update_order(
    State(pool): State<AnyPool>,
    Path(id): Path<i64>,
    Json(update): Json<OrderUpdate>,
) -> Answer<Response> {
    let mut connection = pool.acquire().await?;
    let order = store::update_order(&mut connection, id, update.status).await?;
    Ok(Json(order).into_response())
}

async fn list_products(State(pool): State<AnyPool>, Query(page): Query<Page>) -> Answer<Response> {
    let mut connection = pool.acquire().await?;
    let products =
        store::list_products(&mut connection, page.limit.unwrap_or(DEFAULT_LIMIT)).await?;
    Ok(Json(products).into_response())
}

async fn create_product(
    State(pool): State<AnyPool>,
    Json(new): Json<NewProduct>,
) -> Answer<Response> {
    let mut connection = pool.acquire().await?;
    let product = store::create_product(&mut connection, new).await?;
    Ok((StatusCode::CREATED, Json(product)).into_response())
}

async fn get_product(State(pool): State<AnyPool>, Path(id): Path<i64>) -> Answer<Response> {
    let mut connection = pool.acquire().await?;
    let product = store::products_by_id(&mut connection, &[id])
        .await?
        .remove(&id)
        .ok_or_else(|| not_found("product"))?;
    Ok(Json(product).into_response())
}

async fn delete_product(State(pool): State<AnyPool>, Path(id): Path<i64>) -> Answer<StatusCode> {
    let mut connection = pool.acquire().await?;
    store::delete_product(&mut connection, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn ready(State(pool): State<AnyPool>) -> StatusCode {
    match pool.acquire().await {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// One item of a batch, in the generated shop's envelope.
#[derive(Deserialize)]
struct BatchItem {
    id: String,
    method: String,
    url: String,
    body: Option<Value>,
}

#[derive(Deserialize)]
struct BatchRequest {
    requests: Vec<BatchItem>,
}

/// `POST /batch`: every item sent through the router at once, the answers in request order.
async fn batch(State(router): State<Router>, Json(batch): Json<BatchRequest>) -> Answer<Response> {
    if batch.requests.len() > 50 {
        return Err(Failure(
            StatusCode::BAD_REQUEST,
            "a batch holds at most 50 requests".to_owned(),
        ));
    }
    let answers = join_all(batch.requests.into_iter().map(|item| {
        let router = router.clone();
        async move {
            let method = Method::from_bytes(item.method.as_bytes()).unwrap_or(Method::GET);
            let mut request = Request::builder().method(method).uri(&item.url);
            let body = match item.body {
                Some(body) => {
                    request = request.header(header::CONTENT_TYPE, "application/json");
                    Body::from(body.to_string())
                }
                None => Body::empty(),
            };
            let answer = match request.body(body) {
                Ok(request) => match router.oneshot(request).await {
                    Ok(answer) => answer,
                    Err(never) => match never {},
                },
                Err(_) => StatusCode::BAD_REQUEST.into_response(),
            };
            let status = answer.status().as_u16();
            let content_type = answer
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("application/json")
                .to_owned();
            let bytes = answer
                .into_body()
                .collect()
                .await
                .map(|collected| collected.to_bytes())
                .unwrap_or_else(|_| Bytes::new());
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            json!({
                "id": item.id,
                "status": status,
                "headers": {"content-type": content_type},
                "body": body,
            })
        }
    }))
    .await;
    Ok(Json(json!({ "responses": answers })).into_response())
}

fn router(pool: AnyPool) -> Router {
    let api = Router::new()
        .route("/users", get(list_users).post(create_user))
        .route("/users/{user_id}", get(get_user))
        .route(
            "/users/{user_id}/orders",
            get(list_user_orders).post(create_order),
        )
        .route("/users/{user_id}/stats", get(get_user_stats))
        .route("/users/{user_id}/dashboard", get(get_dashboard))
        .route("/me/orders", get(list_my_orders))
        .route("/orders/{order_id}", get(get_order).patch(update_order))
        .route("/products", get(list_products).post(create_product))
        .route(
            "/products/{product_id}",
            get(get_product).delete(delete_product),
        )
        .route("/readyz", get(ready))
        .with_state(pool);
    let items = api.clone();
    api.route("/batch", post(batch).with_state(items))
}

#[tokio::main]
async fn main() -> ExitCode {
    match Tokens::from_env() {
        Ok(tokens) => {
            let _ = TOKENS.set(tokens);
        }
        Err(error) => eprintln!("shop-axum: {error}: `/me/orders` refuses every token"),
    }
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("shop-axum: DATABASE_URL is required (a database the shop has seeded)");
        return ExitCode::FAILURE;
    };
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8081".to_owned());
    let Ok(addr) = addr.parse::<SocketAddr>() else {
        eprintln!("shop-axum: ADDR `{addr}` is not a socket address");
        return ExitCode::FAILURE;
    };
    sqlx::any::install_default_drivers();
    // The generated shop's pool: 10 connections, 2 opened at start.
    let pool = match AnyPoolOptions::new()
        .max_connections(10)
        .min_connections(2)
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect(&url)
        .await
    {
        Ok(pool) => pool,
        Err(error) => {
            eprintln!("shop-axum: cannot connect to the database: {error}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("shop-axum: cannot listen on {addr}: {error}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(bound) => println!("listening on http://{bound}"),
        Err(error) => eprintln!("shop-axum: {error}"),
    }
    match axum::serve(listener, router(pool)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("shop-axum: {error}");
            ExitCode::FAILURE
        }
    }
}
