//! `POST /batch`: items sent through every layer (cache, rate limits), in request order,
//! `dependsOn` honoured, a failing item answering its own status; a batch wrong as a whole
//! answers a problem and runs nothing.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, Path};
use axum::routing::{get, post};
use axum::Router;
use http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use specjet::cache::CachePolicy;
use specjet::rate_limit::{KeyPart, RateLimitPolicy, Window};
use specjet::{OperationInfo, Policies};
use tower::ServiceExt;

mod support;
use support::services;

const READS: Policies = Policies {
    batch_group: Some("reads"),
    ..Policies::NONE
};

static GET_ITEM: OperationInfo = OperationInfo::new("getItem", Method::GET, "/items/{id}")
    .with_params(&[("id", "id")])
    .with_policies(Policies {
        cache: Some(CachePolicy::new(Duration::from_secs(60))),
        ..READS
    });
static LIMITED: OperationInfo = OperationInfo::new("limited", Method::GET, "/limited")
    .with_policies(Policies {
        rate_limit: Some(
            RateLimitPolicy::new("limited", &[Window::new(10, Duration::from_secs(60))])
                .keyed_by(&[KeyPart::Ip]),
        ),
        ..READS
    });
static CREATE: OperationInfo =
    OperationInfo::new("create", Method::POST, "/items").with_policies(Policies {
        batch_group: Some("writes"),
        ..Policies::NONE
    });
static ADMIN: OperationInfo = OperationInfo::new("admin", Method::GET, "/admin");

/// The service under test, and how many times each handler ran.
fn service() -> (Router, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let reads = Arc::new(AtomicUsize::new(0));
    let created = Arc::new(AtomicUsize::new(0));
    let (r, c) = (reads.clone(), created.clone());
    let router = Router::new()
        .route(
            "/items/{id}",
            get(move |Path(id): Path<String>| {
                let reads = r.clone();
                async move {
                    reads.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = match id.parse::<u32>() {
                        Ok(id) if id < 100 => (StatusCode::OK, format!("{{\"id\": {id}}}")),
                        _ => (
                            StatusCode::NOT_FOUND,
                            "{\"title\": \"Not Found\"}".to_owned(),
                        ),
                    };
                    (status, [("content-type", "application/json")], body)
                }
            }),
        )
        .route("/limited", get(|| async { "ok" }))
        .route(
            "/items",
            post(move |body: String| {
                let created = c.clone();
                async move {
                    created.fetch_add(1, Ordering::SeqCst);
                    (
                        StatusCode::CREATED,
                        [("content-type", "application/json")],
                        body,
                    )
                }
            }),
        )
        .route("/admin", get(|| async { "secret" }));
    let services = services(None, None);
    let operations = [
        (&GET_ITEM, GET_ITEM.policies),
        (&LIMITED, LIMITED.policies),
        (&CREATE, CREATE.policies),
        (&ADMIN, ADMIN.policies),
    ];
    let app = specjet::__private::finish(
        router,
        &services,
        specjet::__private::Finish::of(
            operations.to_vec(),
            std::sync::Arc::new(specjet::reject::problem_json),
        ),
    );
    (app, reads, created)
}

async fn batch(app: &Router, body: Value) -> (StatusCode, Value) {
    let mut request = Request::post("/batch")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let client: SocketAddr = "127.0.0.7:5000".parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(client));
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn get_item(id: &str, item: u32) -> Value {
    json!({"id": id, "method": "GET", "url": format!("/items/{item}")})
}

#[tokio::test]
async fn items_run_through_every_layer_and_answer_in_request_order() {
    let (app, reads, created) = service();
    let (status, first) = batch(
        &app,
        json!({"requests": [get_item("a", 1), get_item("b", 2)]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["responses"][0]["body"], json!({"id": 1}));
    assert_eq!(reads.load(Ordering::SeqCst), 2);

    let (_, second) = batch(
        &app,
        json!({"requests": [
            get_item("hit", 1),
            get_item("miss", 3),
            get_item("missing", 404),
            {"id": "make", "method": "POST", "url": "/items", "body": {"name": "x"}},
            {"id": "after", "method": "GET", "url": "/items/5", "dependsOn": ["make"]},
            {"id": "blocked", "method": "GET", "url": "/items/6", "dependsOn": ["missing"]},
            {"id": "chained", "method": "GET", "url": "/items/7", "dependsOn": ["blocked"]},
        ]}),
    )
    .await;
    let responses = second["responses"].as_array().unwrap();
    let ids: Vec<&str> = responses
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["hit", "miss", "missing", "make", "after", "blocked", "chained"]
    );
    let status = |n: usize| responses[n]["status"].as_u64().unwrap();
    assert_eq!(
        [0, 1, 2, 3, 4, 5, 6].map(status),
        [200, 200, 404, 201, 200, 424, 424]
    );
    assert!(
        responses[0]["headers"]["cache-status"]
            .as_str()
            .unwrap()
            .contains("hit"),
        "an item is served from the cache like a direct call: {}",
        responses[0]
    );
    assert_eq!(
        responses[3]["body"],
        json!({"name": "x"}),
        "the body is sent as JSON"
    );
    // 1 (hit) ran no handler; miss, missing, after ran; blocked and chained did not.
    assert_eq!(reads.load(Ordering::SeqCst), 2 + 3);
    assert_eq!(created.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_batch_costs_one_request_per_item_from_the_callers_budget() {
    let (app, _, _) = service();
    let items: Vec<Value> = (0..20)
        .map(|n| json!({"id": n.to_string(), "method": "GET", "url": "/limited"}))
        .collect();
    let (status, answer) = batch(&app, json!({ "requests": items })).await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<u64> = answer["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        10,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_wrong_batch_answers_a_problem_and_runs_nothing() {
    let (app, reads, created) = service();
    let too_many: Vec<Value> = (0..21).map(|n| get_item(&n.to_string(), 1)).collect();
    let cases = [
        (json!({"requests": too_many}), "at most 20"),
        (json!({"requests": []}), "no requests"),
        (json!({"items": []}), "envelope"),
        (
            json!({"requests": [get_item("a", 1), {"id": "b", "method": "GET", "url": "/admin"}]}),
            "not an operation of a batch group",
        ),
        (
            json!({"requests": [{"id": "b", "method": "POST", "url": "/batch", "body": {"requests": []}}]}),
            "cannot hold a batch",
        ),
        (
            json!({"requests": [get_item("a", 1), get_item("a", 2)]}),
            "two requests have the id `a`",
        ),
        (
            json!({"requests": [{"id": "a", "method": "GET", "url": "/items/1", "dependsOn": ["zz"]}]}),
            "`zz`, which is not in the batch",
        ),
        (
            json!({"requests": [
                {"id": "a", "method": "GET", "url": "/items/1", "dependsOn": ["b"]},
                {"id": "b", "method": "GET", "url": "/items/2", "dependsOn": ["a"]}
            ]}),
            "depends on itself",
        ),
        (
            json!({"requests": [{"id": "a", "method": "GET", "url": "https://elsewhere.example/items/1"}]}),
            "is not a path",
        ),
        (
            json!({"requests": [{"id": "a", "method": "G E T", "url": "/items/1"}]}),
            "not an HTTP method",
        ),
        (
            json!({"requests": [{"id": "a", "method": "GET", "url": "/items/1", "headers": {"bad header": "x"}}]}),
            "not a header name",
        ),
    ];
    for (body, expected) in cases {
        let (status, problem) = batch(&app, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(expected), "{body}: {detail}");
    }
    let huge = "x".repeat(2 << 20);
    let (status, _) = batch(&app, json!({"requests": [], "padding": huge})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reads.load(Ordering::SeqCst), 0, "nothing ran");
    assert_eq!(created.load(Ordering::SeqCst), 0);
}
