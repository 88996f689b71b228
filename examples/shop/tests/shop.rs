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
use shop_example::{api, handlers::Shop};
use specjet::axum::body::Body;
use specjet::http::{Request, StatusCode};
use specjet::{Database, Services};
use tower::ServiceExt;

/// The shop's router over `database`, with the spec's settings (migrations included).
async fn shop(database: &postgres::TestDatabase) -> specjet::axum::Router {
    let settings = api::settings();
    let declared = settings
        .database
        .clone()
        .expect("the spec declares a database");
    let pool = Database::connect(&declared, Some(&database.url))
        .await
        .unwrap_or_else(|error| panic!("{}: {error}", database.backend));
    let services = Services::new(settings, None).with_database(pool);
    let shop = Shop::new(&services).expect("the services have a database");
    api::router_with(shop, &services)
}

async fn call(
    router: &specjet::axum::Router,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
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

/// SIGTERM with 50 requests in flight: each of them completes, no new connection is
/// accepted, and the process exits 0. The 50 inserts wait on a table lock the test holds, so
/// they are surely in flight when the signal arrives.
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

    // The listener closes at once: a new connection is refused.
    let deadline = Instant::now() + Duration::from_secs(2);
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
    let started = Instant::now();
    let status = loop {
        if let Some(status) = service.child.try_wait().expect("waits for the service") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the service did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
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
/// and the 20 reads reach the database as one query (the products loader's batch).
#[test]
fn a_batch_of_20_reads_is_one_query() {
    for database in postgres::every_backend("batch") {
        let backend = database.backend;
        let service = running::Service::start(
            env!("CARGO_BIN_EXE_shop-example"),
            &[("DATABASE_URL", database.url.as_str())],
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
    }
}
