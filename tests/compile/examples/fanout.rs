//! The fan-out benchmark's server (BENCHMARKS.md, "Fan-out"): the generated `fanout` service,
//! whose `GET /dashboard/{userId}` calls its three parts (50, 80 and 120 ms) at once, beside
//! `GET /sequential/{userId}`, a hand-written handler that calls the same three handlers one
//! after another. No caching in the way: `scripts/bench-fan-out` sends `Cache-Control: no-cache`.

use specjet::axum::extract::Path;
use specjet::axum::response::{IntoResponse, Response};
use specjet::axum::routing::get;
use specjet::axum::Router;
use specjet_compile_tests::fanout::operations::{get_stats, get_user, list_orders};
use specjet_compile_tests::fanout::Api;
use specjet_compile_tests::fanout::{router_with, settings};
use specjet_compile_tests::fanout_parts::Parts;

async fn sequential(Path(user_id): Path<i64>) -> Response {
    let parts = Parts::default();
    let user = parts.get_user(get_user::Request::new(user_id)).await;
    let orders = parts.list_orders(list_orders::Request::new(user_id)).await;
    let stats = parts.get_stats(get_stats::Request::new(user_id)).await;
    match (user, orders, stats) {
        (
            get_user::Response::Ok(user),
            list_orders::Response::Ok(orders),
            get_stats::Response::Ok(stats),
        ) => {
            let body = specjet::serde_json::json!({"user": user, "orders": orders, "stats": stats});
            ([("content-type", "application/json")], body.to_string()).into_response()
        }
        _ => specjet::Problem::new(specjet::http::StatusCode::BAD_GATEWAY).into_response(),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let service = router_with(Parts::default(), &specjet::Services::new(settings(), None));
    let router = service.merge(Router::new().route("/sequential/{user_id}", get(sequential)));
    specjet::serve(router).await
}
