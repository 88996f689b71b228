//! The shop as its users meet it: every operation on each database (a fresh SQLite file, and
//! a fresh database on the Postgres of `DATABASE_URL` when set), in process; then the built
//! binary draining 50 in-flight requests on SIGTERM.

#[path = "../../../runtime/tests/support/postgres.rs"]
mod postgres;
#[path = "../../support/running.rs"]
mod running;

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shop_example::seed::{seed_if_empty, SeedSize};
use shop_example::{api, handlers::Shop};
use specjet::axum::body::Body;
use specjet::http::{Request, StatusCode};
use specjet::{Database, Services};
use tower::ServiceExt;

/// The shop's router over `database`, with the spec's settings (migrations included).
async fn shop(database: &postgres::TestDatabase) -> specjet::axum::Router {
    shop_and_pool(database).await.0
}

/// The key the tests' shops sign and verify tokens with (`SHOP_JWT_SECRET`).
fn signing_key() {
    static SET: std::sync::Once = std::sync::Once::new();
    SET.call_once(|| {
        std::env::set_var(
            shop_example::tokens::SECRET_ENV,
            "the-shop-tests-signing-key",
        )
    });
}

/// A token of `user`'s, as `issueToken` answers it.
async fn token_of(router: &specjet::axum::Router, user: i64) -> String {
    let (status, issued) = call(router, "POST", "/tokens", Some(json!({"user_id": user}))).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    format!("Bearer {}", issued["token"].as_str().expect("a token"))
}

/// [`shop`], and the pool under it.
async fn shop_and_pool(database: &postgres::TestDatabase) -> (specjet::axum::Router, Database) {
    signing_key();
    let settings = api::settings();
    let declared = settings
        .database
        .clone()
        .expect("the spec declares a database");
    let pool = Database::connect(&declared, Some(&database.url))
        .await
        .unwrap_or_else(|error| panic!("{}: {error}", database.backend));
    let services = Services::new(settings, None).with_database(pool.clone());
    let shop = Shop::new(&services).expect("the services have a database");
    (api::router_with(shop, &services), pool)
}

async fn call(
    router: &specjet::axum::Router,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    call_with(router, method, path, &[], body).await
}

/// The `Cache-Status` of a GET of `path`.
async fn cache_status(router: &specjet::axum::Router, path: &str) -> String {
    let request = Request::get(path).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    response
        .headers()
        .get("cache-status")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn call_with(
    router: &specjet::axum::Router,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = match body {
        Some(body) => {
            request = request.header("content-type", "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    let response = router
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = specjet::axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

#[tokio::test]
async fn every_operation_on_every_database() {
    for database in postgres::every_backend("shop") {
        let backend = database.backend;
        let router = shop(&database).await;
        let apple = json!({"sku": "apple", "name": "Apple", "price_cents": 120, "stock": 7});
        let (status, created) = call(&router, "POST", "/products", Some(apple.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {created}");
        let id = created["id"].as_i64().expect("an id");
        assert_eq!(created["stock"], 7);

        let (status, problem) = call(&router, "POST", "/products", Some(apple)).await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "{backend}: a second `apple`: {problem}"
        );

        let pear = json!({"sku": "pear", "name": "Pear", "price_cents": 90});
        let (status, pear) = call(&router, "POST", "/products", Some(pear)).await;
        assert_eq!(status, StatusCode::CREATED, "{backend}");
        assert_eq!(pear["stock"], 0, "{backend}: stock defaults to 0");

        let (status, listed) = call(&router, "GET", "/products?limit=1", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            listed,
            json!([created]),
            "{backend}: the first product only"
        );

        let (status, shown) = call(&router, "GET", &format!("/products/{id}"), None).await;
        assert_eq!((status, &shown), (StatusCode::OK, &created), "{backend}");

        let (status, _) = call(&router, "DELETE", &format!("/products/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{backend}");
        // The cached answer was invalidated with the delete.
        let (status, problem) = call(&router, "GET", &format!("/products/{id}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{backend}: {problem}");
        let (status, _) = call(&router, "DELETE", &format!("/products/{id}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{backend}: deleted twice");

        let (status, _) = call(&router, "GET", "/readyz", None).await;
        assert_eq!(status, StatusCode::OK, "{backend}");
    }
}

/// Users, orders, statistics and the dashboard on a seeded shop, on each database: pages
/// that follow on, a dashboard equal to its three parts, an order that shows at once in the
/// cached statistics and lists (tags and operations invalidated), the private route by
/// token and never another caller's answer.
#[tokio::test]
async fn users_orders_statistics_and_the_dashboard_on_every_database() {
    for database in postgres::every_backend("shop_orders") {
        let backend = database.backend;
        let (router, pool) = shop_and_pool(&database).await;
        let seeded = seed_if_empty(&pool, SeedSize::users(50))
            .await
            .unwrap_or_else(|error| panic!("{backend}: {error}"))
            .expect("an empty shop is seeded");
        assert_eq!((seeded.users, seeded.orders), (50, 500), "{backend}");
        let again = seed_if_empty(&pool, SeedSize::users(50)).await.unwrap();
        assert!(
            again.is_none(),
            "{backend}: a shop with users is left alone"
        );

        // Pages of users follow on from `next` to the last one.
        let mut ids = Vec::new();
        let mut path = "/users?limit=20".to_owned();
        loop {
            let (status, page) = call(&router, "GET", &path, None).await;
            assert_eq!(status, StatusCode::OK, "{backend}: {page}");
            ids.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|user| user["id"].as_i64().unwrap()),
            );
            match page["next"].as_i64() {
                Some(next) => path = format!("/users?limit=20&after={next}"),
                None => break,
            }
        }
        assert_eq!(ids.len(), 50, "{backend}: every user once");
        assert!(
            ids.windows(2).all(|pair| pair[0] < pair[1]),
            "{backend}: by id"
        );

        // The dashboard is its three parts, read at once.
        let user = ids[0];
        let (status, dashboard) =
            call(&router, "GET", &format!("/users/{user}/dashboard"), None).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {dashboard}");
        let (_, shown) = call(&router, "GET", &format!("/users/{user}"), None).await;
        let (_, orders) = call(&router, "GET", &format!("/users/{user}/orders"), None).await;
        let (_, stats) = call(&router, "GET", &format!("/users/{user}/stats"), None).await;
        assert_eq!(
            dashboard,
            json!({"user": shown, "orders": orders, "stats": stats}),
            "{backend}"
        );

        // The statistics add up to the user's orders.
        let (_, all) = call(
            &router,
            "GET",
            &format!("/users/{user}/orders?limit=100"),
            None,
        )
        .await;
        let all = all["items"].as_array().unwrap().clone();
        assert_eq!(
            stats["orders"].as_u64().unwrap() as usize,
            all.len(),
            "{backend}"
        );
        let spent: i64 = all
            .iter()
            .filter(|order| order["status"] != "cancelled")
            .map(|order| order["total_cents"].as_i64().unwrap())
            .sum();
        assert_eq!(stats["spent_cents"], spent, "{backend}");
        let (status, paid) = call(
            &router,
            "GET",
            &format!("/users/{user}/orders?status=paid&limit=100"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{backend}");
        let paid = paid["items"].as_array().unwrap();
        assert!(
            paid.iter().all(|order| order["status"] == "paid"),
            "{backend}"
        );
        assert_eq!(
            stats["by_status"]["paid"]["orders"].as_u64().unwrap_or(0) as usize,
            paid.len(),
            "{backend}"
        );

        // An order shows at once in the cached statistics and lists.
        let (_, products) = call(&router, "GET", "/products?limit=1", None).await;
        let product = &products[0];
        let new_order = json!({
            "items": [{"product_id": product["id"], "quantity": 3}],
            "shipping": {"street": "1 Rue Neuve", "city": "Lyon", "country": "FR"}
        });
        let (status, order) = call(
            &router,
            "POST",
            &format!("/users/{user}/orders"),
            Some(new_order.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {order}");
        assert_eq!(order["status"], "pending");
        assert_eq!(
            order["total_cents"],
            product["price_cents"].as_i64().unwrap() * 3,
            "{backend}"
        );
        let order_id = order["id"].as_i64().unwrap();
        let (_, after) = call(&router, "GET", &format!("/users/{user}/dashboard"), None).await;
        assert_eq!(
            after["stats"]["orders"],
            stats["orders"].as_i64().unwrap() + 1,
            "{backend}: the cached statistics were dropped"
        );
        assert_eq!(
            after["orders"]["items"][0], order,
            "{backend}: the cached list was dropped"
        );

        // Moving the order along drops the cached order and its owner's lists and
        // statistics (the owner named by the answer), and no other user's.
        let (status, _) = call(&router, "GET", &format!("/orders/{order_id}"), None).await;
        assert_eq!(status, StatusCode::OK);
        let other = ids[1];
        for path in [
            format!("/users/{other}/orders"),
            format!("/users/{other}/stats"),
            format!("/users/{user}/stats"),
        ] {
            call(&router, "GET", &path, None).await;
        }
        let (status, updated) = call(
            &router,
            "PATCH",
            &format!("/orders/{order_id}"),
            Some(json!({"status": "paid"})),
        )
        .await;
        assert_eq!(
            (status, &updated["status"]),
            (StatusCode::OK, &json!("paid")),
            "{backend}: {updated}"
        );
        let (_, shown) = call(&router, "GET", &format!("/orders/{order_id}"), None).await;
        assert_eq!(shown["status"], "paid", "{backend}");
        let (_, listed) = call(&router, "GET", &format!("/users/{user}/orders"), None).await;
        assert_eq!(listed["items"][0]["status"], "paid", "{backend}");
        assert_eq!(
            cache_status(&router, &format!("/users/{user}/stats")).await,
            "specjet; fwd=miss; stored",
            "{backend}: the owner's statistics were dropped"
        );
        for path in [
            format!("/users/{other}/orders"),
            format!("/users/{other}/stats"),
        ] {
            assert_eq!(
                cache_status(&router, &path).await,
                "specjet; hit; detail=memory",
                "{backend}: {path} is another user's"
            );
        }

        // What does not exist.
        let (status, _) = call(&router, "GET", "/users/999999/dashboard", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{backend}");
        let (status, _) = call(&router, "POST", "/users/999999/orders", Some(new_order)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{backend}");
        let unknown = json!({"items": [{"product_id": 999999, "quantity": 1}], "shipping": {"street": "x", "city": "y", "country": "FR"}});
        let (status, problem) = call(
            &router,
            "POST",
            &format!("/users/{user}/orders"),
            Some(unknown),
        )
        .await;
        // A valid request for what the shop does not hold: a conflict, not a malformed body.
        assert_eq!(status, StatusCode::CONFLICT, "{backend}: {problem}");
        assert_eq!(
            problem["detail"], "no product has the id 999999",
            "{backend}"
        );

        // The private route answers each caller their own orders, by token.
        let (status, _) = call(&router, "GET", "/me/orders", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{backend}");
        let (status, _) = call_with(
            &router,
            "GET",
            "/me/orders",
            &[("authorization", "Bearer nobody")],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{backend}");
        let (status, _) = call(&router, "POST", "/tokens", Some(json!({"user_id": 999999}))).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{backend}: no token for nobody"
        );
        for user in [ids[0], ids[1], ids[0]] {
            let token = token_of(&router, user).await;
            let (status, mine) = call_with(
                &router,
                "GET",
                "/me/orders",
                &[("authorization", &token)],
                None,
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{backend}: {mine}");
            let (_, theirs) = call(&router, "GET", &format!("/users/{user}/orders"), None).await;
            assert_eq!(mine, theirs, "{backend}: user {user}'s own orders");
        }

        // A new user gets a token of their own, once; an email is taken once.
        let ada = json!({"email": "ada@example.com", "name": "Ada", "tier": "gold"});
        let (status, registered) = call(&router, "POST", "/users", Some(ada.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{backend}: {registered}");
        let token = format!("Bearer {}", registered["token"].as_str().unwrap());
        let (status, mine) = call_with(
            &router,
            "GET",
            "/me/orders",
            &[("authorization", &token)],
            None,
        )
        .await;
        assert_eq!(
            (status, mine),
            (StatusCode::OK, json!({"items": [], "next": null})),
            "{backend}"
        );
        let (status, _) = call(&router, "POST", "/users", Some(ada)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{backend}");
    }
}

#[tokio::test]
async fn the_wait_for_a_connection_is_in_server_timing() {
    for database in postgres::every_backend("shop_timing") {
        let router = shop(&database).await;
        let request = Request::get("/products?limit=5").body(Body::empty());
        let response = router.oneshot(request.unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let timing = response.headers()["server-timing"].to_str().unwrap();
        // The handler's time, the wait for a pooled connection within it, and the total.
        assert!(
            timing.starts_with("handler;dur="),
            "{}: {timing}",
            database.backend
        );
        assert!(
            timing.contains(", db;dur="),
            "{}: {timing}",
            database.backend
        );
        assert!(
            timing.contains(", total;dur="),
            "{}: {timing}",
            database.backend
        );
    }
}

/// SIGTERM with 50 requests in flight: `/readyz` answers 503 during the shutdown delay, then
/// no new connection is accepted, each of the 50 completes, and the process exits 0. The 50
/// inserts wait on a table lock the test holds, so they are surely in flight when the signal
/// arrives.
#[test]
fn sigterm_lets_50_in_flight_requests_finish_and_exits_0() {
    let Some(database) = postgres::postgres("drain") else {
        return;
    };
    let mut service = running::Service::start(
        env!("CARGO_BIN_EXE_shop-example"),
        &[
            ("DATABASE_URL", database.url.as_str()),
            ("DATABASE_ACQUIRE_TIMEOUT", "60s"),
            ("SEED_USERS", "0"),
            ("SHUTDOWN_DELAY", "1s"),
        ],
        // The default drain bound (30 s) is what is under test.
        &["REDIS_URL", "SHUTDOWN_TIMEOUT"],
    );
    // The migrations ran before the service printed its address: the table exists.
    let mut lock = std::process::Command::new("psql")
        .args([database.url.as_str(), "-v", "ON_ERROR_STOP=1", "-q"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("psql starts");
    let mut holder = lock.stdin.take().expect("psql's stdin");
    writeln!(
        holder,
        "BEGIN; LOCK TABLE products IN ACCESS EXCLUSIVE MODE;"
    )
    .expect("locks");
    std::thread::sleep(Duration::from_millis(300));

    let addr = service.addr.clone();
    let requests: Vec<_> = (0..50)
        .map(|n| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let body =
                    format!(r#"{{"sku": "sku-{n}", "name": "Item {n}", "price_cents": {n}}}"#);
                running::request_to(&addr, "POST", "/products", Some("application/json"), &body)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let pid = service.child.id().to_string();
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(signalled.is_ok_and(|status| status.success()));

    // During the delay: still accepting, not ready.
    std::thread::sleep(Duration::from_millis(200));
    let probe = running::request_to(&addr, "GET", "/readyz", None, "");
    assert_eq!(probe.status, 503, "{}", probe.body);
    // Then the listener closes: a new connection is refused.
    let deadline = Instant::now() + Duration::from_secs(3);
    while std::net::TcpStream::connect(&addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting connections after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The requests stay blocked a while longer: the service waits for them.
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        service
            .child
            .try_wait()
            .expect("the service's state")
            .is_none(),
        "the service waits for its in-flight requests"
    );

    writeln!(holder, "COMMIT;").expect("releases the lock");
    drop(holder);
    let _ = lock.wait();
    for request in requests {
        let reply = request.join().expect("the request thread");
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let status = service.exited_within(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}");
}

/// The value of a counter in the service's `/metrics` (0 before its first increment).
fn counter(service: &running::Service, line_start: &str) -> f64 {
    let metrics = running::get(service, "/metrics");
    metrics
        .body
        .lines()
        .find(|line| line.starts_with(line_start))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

/// Over real HTTP, on each database: one batch creates 20 products, one batch reads them,
/// and the 20 reads reach the database as one query (the products loader's batch); so do
/// a batch of 20 users and one of 20 users' orders (no N+1: the orders of many users are one
/// query).
#[test]
fn a_batch_of_20_reads_is_one_query() {
    for database in postgres::every_backend("batch") {
        let backend = database.backend;
        let service = running::Service::start(
            env!("CARGO_BIN_EXE_shop-example"),
            &[
                ("DATABASE_URL", database.url.as_str()),
                ("SEED_USERS", "30"),
            ],
            &["REDIS_URL"],
        );
        let creates: Vec<Value> = (0..20)
            .map(|n| json!({"id": format!("c{n}"), "method": "POST", "url": "/products",
                            "body": {"sku": format!("sku-{n}"), "name": format!("Item {n}"), "price_cents": n}}))
            .collect();
        let created = running::request(
            &service,
            "POST",
            "/batch",
            Some("application/json"),
            &json!({ "requests": creates }).to_string(),
        );
        assert_eq!(created.status, 200, "{backend}: {}", created.body);
        let ids: Vec<i64> = created.json()["responses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|answer| {
                assert_eq!(answer["status"], 201, "{backend}: {answer}");
                answer["body"]["id"].as_i64().unwrap()
            })
            .collect();

        let batches = "specjet_loader_batches_total{loader=\"products\"}";
        let keys = "specjet_loader_keys_total{loader=\"products\"}";
        let (batches_before, keys_before) = (counter(&service, batches), counter(&service, keys));
        let reads: Vec<Value> = ids
            .iter()
            .map(|id| json!({"id": id.to_string(), "method": "GET", "url": format!("/products/{id}")}))
            .collect();
        // `no-cache` on the batch applies to its items: every read reaches its handler.
        let read = running::request_with(
            &service,
            "POST",
            "/batch",
            &[("Cache-Control", "no-cache")],
            Some("application/json"),
            &json!({ "requests": reads }).to_string(),
        );
        assert_eq!(read.status, 200, "{backend}: {}", read.body);
        for (answer, id) in read.json()["responses"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&ids)
        {
            assert_eq!(answer["status"], 200, "{backend}: {answer}");
            assert_eq!(answer["body"]["id"], *id);
        }
        assert_eq!(
            counter(&service, batches) - batches_before,
            1.0,
            "{backend}: one query"
        );
        assert_eq!(
            counter(&service, keys) - keys_before,
            20.0,
            "{backend}: for 20 ids"
        );

        // 20 users, and the newest orders of 20 users: one query each.
        for (loader, url) in [
            ("users", "/users/{n}"),
            ("recent_orders", "/users/{n}/orders"),
        ] {
            let batches = format!("specjet_loader_batches_total{{loader=\"{loader}\"}}");
            let before = counter(&service, &batches);
            let reads: Vec<Value> = (1..=20)
                .map(|n| json!({"id": n.to_string(), "method": "GET", "url": url.replace("{n}", &n.to_string())}))
                .collect();
            let read = running::request(
                &service,
                "POST",
                "/batch",
                Some("application/json"),
                &json!({ "requests": reads }).to_string(),
            );
            assert_eq!(read.status, 200, "{backend}: {}", read.body);
            for answer in read.json()["responses"].as_array().unwrap() {
                assert_eq!(answer["status"], 200, "{backend}: {answer}");
            }
            assert_eq!(
                counter(&service, &batches) - before,
                1.0,
                "{backend}: 20 reads through `{loader}` are one query"
            );
        }
    }
}

/// With no environment at all, the binary runs on an SQLite file in its working directory
/// with the in-process cache and limiter, seeded with 10,000 users and 100,000 orders.
#[test]
fn with_no_environment_it_serves_a_seeded_shop_from_sqlite() {
    let dir = std::env::temp_dir().join(format!("specjet-shop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a working directory");
    let service = running::Service::start_in(
        env!("CARGO_BIN_EXE_shop-example"),
        Some(&dir),
        &[],
        &[
            "DATABASE_URL",
            "REDIS_URL",
            "SEED_USERS",
            "RATE_LIMIT_BACKEND",
        ],
    );
    assert!(dir.join("shop.sqlite3").exists(), "the embedded database");
    let last = running::get(&service, "/users?limit=5&after=9998");
    assert_eq!(last.status, 200, "{}", last.body);
    let ids: Vec<i64> = last.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [9999, 10000], "10,000 users");
    let dashboard = running::get(&service, "/users/10000/dashboard");
    assert_eq!(dashboard.status, 200, "{}", dashboard.body);
    let stats = running::get(&service, "/users/10000/stats");
    assert_eq!(stats.json(), dashboard.json()["stats"]);
    let last_order = running::get(&service, "/orders/100000");
    assert_eq!(
        last_order.status, 200,
        "100,000 orders: {}",
        last_order.body
    );
    let none = running::get(&service, "/orders/100001");
    assert_eq!(none.status, 404);
    // The second read of a user is the in-process cache's.
    let _ = running::get(&service, "/users/7");
    let again = running::get(&service, "/users/7");
    assert_eq!(
        again.header("cache-status"),
        Some("specjet; hit; detail=memory")
    );
    // A list without `limit` is the list at its default limit (10): one entry for both.
    let first = running::get(&service, "/users/7/orders");
    assert_eq!(
        first.header("cache-status"),
        Some("specjet; fwd=miss; stored")
    );
    let spelled = running::get(&service, "/users/7/orders?limit=10");
    assert_eq!(
        spelled.header("cache-status"),
        Some("specjet; hit; detail=memory")
    );
    assert_eq!(spelled.body, first.body);
    let other = running::get(&service, "/users/7/orders?limit=3");
    assert_eq!(
        other.header("cache-status"),
        Some("specjet; fwd=miss; stored")
    );
    drop(service);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The body of `response`, read a chunk at a time until `done` says it has what it waits for
/// (or 5 s passed).
async fn read_until(
    body: &mut (impl futures_util::Stream<Item = Result<specjet::bytes::Bytes, specjet::axum::Error>>
              + Unpin),
    done: impl Fn(&str) -> bool,
) -> String {
    use futures_util::StreamExt;
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done(&text) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, body.next()).await {
            Ok(Some(Ok(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    text
}

/// A user's new orders arrive as server-sent events as they are placed, a client reconnecting
/// with `Last-Event-ID` gets those it missed first, and every order exports as NDJSON, on each
/// database.
#[tokio::test]
async fn new_orders_stream_as_events_and_every_order_exports_as_ndjson() {
    for database in postgres::every_backend("shop_streams") {
        let backend = database.backend;
        let (router, pool) = shop_and_pool(&database).await;
        seed_if_empty(&pool, SeedSize::users(20)).await.unwrap();
        let watch = |last: Option<String>| {
            let mut request = Request::get("/users/3/orders/events");
            if let Some(last) = last {
                request = request.header("last-event-id", last);
            }
            router.clone().oneshot(request.body(Body::empty()).unwrap())
        };
        let response = watch(None).await.unwrap();
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{backend}"
        );
        let mut events = response.into_body().into_data_stream();
        let place = |user: i64| {
            let order = json!({"items": [{"product_id": 1, "quantity": 1}],
                "shipping": {"street": "1 Main St", "city": "Springfield", "country": "US"}});
            let router = router.clone();
            async move {
                let (status, order) = call(
                    &router,
                    "POST",
                    &format!("/users/{user}/orders"),
                    Some(order),
                )
                .await;
                assert_eq!(status, StatusCode::CREATED, "{order}");
                order["id"].as_i64().unwrap()
            }
        };
        let other = place(4).await; // another user's: not in this stream
        let first = place(3).await;
        let text = read_until(&mut events, |text| text.contains("\n\n")).await;
        assert!(
            text.starts_with(&format!(
                "id: {first}\nevent: order\ndata: {{\"id\":{first},"
            )),
            "{backend}: {text}"
        );
        assert!(
            !text.contains(&format!("\"id\":{other},")),
            "{backend}: {text}"
        );
        drop(events);

        // Gone for a while; back with the last id it saw: what it missed comes first.
        let second = place(3).await;
        let third = place(3).await;
        let response = watch(Some(first.to_string())).await.unwrap();
        let mut events = response.into_body().into_data_stream();
        let text = read_until(&mut events, |text| text.matches("\n\n").count() >= 2).await;
        let ids: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("id: "))
            .collect();
        assert_eq!(
            ids,
            [second.to_string(), third.to_string()],
            "{backend}: {text}"
        );

        // Every order, one JSON text per line, read a page at a time.
        let response = router
            .clone()
            .oneshot(Request::get("/orders/export").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.headers()["content-type"], "application/x-ndjson");
        let body = specjet::axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let lines: Vec<Value> = String::from_utf8_lossy(&body)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let mut connection = pool.acquire().await.unwrap();
        let (count,): (i64,) = specjet::sqlx::query_as("SELECT COUNT(*) FROM orders")
            .fetch_one(&mut *connection)
            .await
            .unwrap();
        assert_eq!(lines.len() as i64, count, "{backend}: every order once");
        assert!(
            lines
                .windows(2)
                .all(|pair| pair[0]["id"].as_i64() < pair[1]["id"].as_i64()),
            "{backend}: oldest first"
        );
    }
}
