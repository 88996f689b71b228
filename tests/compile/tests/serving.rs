//! How clients reach the service generated from `tests/compile/specs/serving.yaml`
//! (`servers: [{url: https://api.example.com/v2}]`): every operation under `/v2` with its
//! policies, the service's own endpoints at the root, its document at `/v2/openapi.json` and
//! `/v2/openapi.yaml` pointing at the service, the docs page and its assets, and CORS from
//! `x-specjet.cors` answered before rate limits.

use specjet::axum::body::{to_bytes, Body};
use specjet::axum::Router;
use specjet::http::{Method, Request, StatusCode};
use specjet::serde_json::{self, json, Value};
use specjet_compile_tests::serving::operations::{delete_item, get_item, limited, own_health};
use specjet_compile_tests::serving::{router_with, settings};
use specjet_compile_tests::serving::{types, Api};
use support::{get, send};
use tower::ServiceExt;

mod support;

#[derive(Clone)]
struct Service;

impl Api for Service {
    async fn get_item(&self, request: get_item::Request) -> get_item::Response {
        get_item::Response::Ok(types::Item { id: request.id })
    }

    async fn delete_item(&self, _request: delete_item::Request) -> delete_item::Response {
        delete_item::Response::NoContent
    }

    async fn limited(&self, _request: limited::Request) -> limited::Response {
        limited::Response::Ok("once".to_owned())
    }

    async fn own_health(&self, _request: own_health::Request) -> own_health::Response {
        own_health::Response::Ok("the API's own".to_owned())
    }
}

fn service(base_path: Option<&str>) -> Router {
    let mut settings = settings();
    if let Some(path) = base_path {
        settings.base_path = path.to_owned();
    }
    router_with(Service, &specjet::Services::new(settings, None))
}

#[tokio::test]
async fn operations_are_served_under_the_servers_path_with_their_policies() {
    let router = service(None);
    let first = get(&router, "/v2/items/7").await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.json(), json!({"id": 7}));
    // The operation's policies find it under the base path: the second read is a hit, and
    // a delete through the base path invalidates it.
    let second = get(&router, "/v2/items/7").await;
    assert!(
        second.header("cache-status").unwrap_or("").contains("hit"),
        "{:?}",
        second.headers
    );
    let deleted = send(&router, Method::DELETE, "/v2/items/7", &[]).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let third = get(&router, "/v2/items/7").await;
    assert!(
        !third.header("cache-status").unwrap_or("").contains("hit"),
        "{:?}",
        third.headers
    );

    // Not under the base path, or only its prefix: 404 problem+json.
    for path in ["/items/7", "/v2x/items/7", "/v/items/7"] {
        let answer = get(&router, path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            answer.header("content-type"),
            Some("application/problem+json"),
            "{path}"
        );
    }
    // The service's own endpoints stay at the root; the API's `/healthz` is its own.
    assert_eq!(get(&router, "/healthz").await.status, StatusCode::OK);
    assert_eq!(get(&router, "/readyz").await.status, StatusCode::OK);
    assert_eq!(get(&router, "/metrics").await.status, StatusCode::OK);
    let own = get(&router, "/v2/healthz").await;
    assert_eq!(own.body, b"the API's own");
    assert_eq!(
        get(&router, "/v2/metrics").await.status,
        StatusCode::NOT_FOUND
    );
    // A query survives the base path.
    let batch = send(
        &router,
        Method::POST,
        "/v2/batch",
        &[("content-type", "application/json")],
    )
    .await;
    assert_ne!(
        batch.status,
        StatusCode::NOT_FOUND,
        "the batch endpoint is under the base path"
    );
}

#[tokio::test]
async fn batch_items_may_name_the_path_as_clients_write_it() {
    let router = service(None);
    let batch = json!({"requests": [
        {"id": "a", "method": "GET", "url": "/v2/items/1"},
        {"id": "b", "method": "GET", "url": "/items/2"},
    ]});
    let request = Request::post("/v2/batch")
        .header("content-type", "application/json")
        .body(Body::from(batch.to_string()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value =
        serde_json::from_slice(&to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap();
    let bodies: Vec<&Value> = body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|answer| &answer["body"])
        .collect();
    assert_eq!(bodies, [&json!({"id": 1}), &json!({"id": 2})], "{body}");
}

#[tokio::test]
async fn no_base_path_serves_at_the_root() {
    let router = service(Some(""));
    assert_eq!(get(&router, "/items/7").await.json(), json!({"id": 7}));
    assert_eq!(
        get(&router, "/v2/items/7").await.status,
        StatusCode::NOT_FOUND
    );
    // Without a base path the API's own `/healthz` wins over the service's.
    assert_eq!(get(&router, "/healthz").await.body, b"the API's own");
    let document = get(&router, "/openapi.json").await.json();
    assert_eq!(document["servers"], json!([{"url": "/"}]));
}

/// Operations of the spec file, counted from the YAML itself.
fn operations_in_spec() -> usize {
    let text = include_str!("../specs/serving.yaml");
    let spec: Value = serde_norway::from_str(text).unwrap();
    spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().keys())
        .filter(|key| {
            [
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&key.as_str())
        })
        .count()
}

#[tokio::test]
async fn the_document_is_served_as_json_and_yaml_pointing_at_the_service() {
    let router = service(None);
    let json_answer = get(&router, "/v2/openapi.json").await;
    assert_eq!(json_answer.status, StatusCode::OK);
    assert_eq!(json_answer.header("content-type"), Some("application/json"));
    let document = json_answer.json();
    assert_eq!(document["servers"], json!([{"url": "/v2"}]));
    assert_eq!(document["info"]["title"], "Serving");
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| *k != "parameters")
                .count()
        })
        .sum();
    assert_eq!(operations, operations_in_spec());
    // Paths keep the spec's order.
    let paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
    assert_eq!(paths, ["/items/{id}", "/limited", "/healthz"]);

    let yaml_answer = get(&router, "/v2/openapi.yaml").await;
    assert_eq!(yaml_answer.status, StatusCode::OK);
    assert_eq!(yaml_answer.header("content-type"), Some("application/yaml"));
    let from_yaml: Value = serde_norway::from_slice(&yaml_answer.body).unwrap();
    assert_eq!(from_yaml, document);
}

#[tokio::test]
async fn the_docs_page_loads_its_assets_from_the_service() {
    let router = service(None);
    let page = get(&router, "/v2/docs").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8(page.body.clone()).unwrap();
    assert!(html.contains("<title>Serving</title>"), "{html}");
    // Links relative to the page: they work behind a proxy that adds a prefix too.
    assert!(
        html.contains(r#"src="docs/assets/swagger-ui-bundle.js""#),
        "{html}"
    );
    assert!(html.contains(r#"url: "openapi.json""#), "{html}");
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "oauth2-redirect.html",
    ] {
        let answer = get(&router, &format!("/v2/docs/assets/{asset}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{asset}");
        assert!(answer.body.len() > 50, "{asset}");
    }
    let compressed = send(
        &router,
        Method::GET,
        "/v2/docs/assets/swagger-ui-bundle.js",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(compressed.header("content-encoding"), Some("gzip"));
    assert!(
        compressed.body.len() < 1_000_000,
        "{}",
        compressed.body.len()
    );
}

const APP: &str = "https://app.example.com";

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_lists_the_paths_methods() {
    let router = service(None);
    let preflight = send(
        &router,
        Method::OPTIONS,
        "/v2/items/7",
        &[
            ("origin", APP),
            ("access-control-request-method", "DELETE"),
            ("access-control-request-headers", "authorization"),
        ],
    )
    .await;
    assert_eq!(preflight.status, StatusCode::OK);
    assert_eq!(preflight.header("access-control-allow-origin"), Some(APP));
    assert_eq!(
        preflight.header("access-control-allow-methods"),
        Some("GET, DELETE, HEAD")
    );
    assert_eq!(
        preflight.header("access-control-allow-headers"),
        Some("authorization")
    );
    assert_eq!(preflight.header("access-control-max-age"), Some("600"));
    // Another path, other methods.
    let limited = send(
        &router,
        Method::OPTIONS,
        "/v2/limited",
        &[("origin", APP), ("access-control-request-method", "GET")],
    )
    .await;
    assert_eq!(
        limited.header("access-control-allow-methods"),
        Some("GET, HEAD")
    );
    // A subdomain of a `*.` pattern is allowed; the bare domain is not.
    let sub = send(
        &router,
        Method::OPTIONS,
        "/v2/limited",
        &[
            ("origin", "https://shop.example.org"),
            ("access-control-request-method", "GET"),
        ],
    )
    .await;
    assert_eq!(
        sub.header("access-control-allow-origin"),
        Some("https://shop.example.org")
    );
    let bare = send(
        &router,
        Method::OPTIONS,
        "/v2/limited",
        &[
            ("origin", "https://example.org"),
            ("access-control-request-method", "GET"),
        ],
    )
    .await;
    assert_eq!(bare.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn a_refused_origin_gets_no_cors_headers() {
    let router = service(None);
    for (method, headers) in [
        (
            Method::OPTIONS,
            vec![
                ("origin", "https://evil.example.net"),
                ("access-control-request-method", "GET"),
            ],
        ),
        (Method::GET, vec![("origin", "https://evil.example.net")]),
    ] {
        let answer = send(&router, method.clone(), "/v2/items/1", &headers).await;
        assert_eq!(
            answer.header("access-control-allow-origin"),
            None,
            "{method}"
        );
        assert_eq!(
            answer.header("access-control-allow-methods"),
            None,
            "{method}"
        );
    }
}

#[tokio::test]
async fn simple_requests_expose_specjets_headers_and_preflights_skip_rate_limits() {
    let router = service(None);
    let first = send(&router, Method::GET, "/v2/limited", &[("origin", APP)]).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header("access-control-allow-origin"), Some(APP));
    let exposed = first.header("access-control-expose-headers").unwrap_or("");
    for name in [
        "ratelimit",
        "ratelimit-policy",
        "retry-after",
        "cache-status",
        "x-request-id",
    ] {
        assert!(exposed.contains(name), "{name} in {exposed}");
    }
    let refused = send(&router, Method::GET, "/v2/limited", &[("origin", APP)]).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    // The browser can read the 429 (and its Retry-After).
    assert_eq!(refused.header("access-control-allow-origin"), Some(APP));
    // The budget is spent, yet a preflight is answered: it never reaches the limiter.
    let preflight = send(
        &router,
        Method::OPTIONS,
        "/v2/limited",
        &[("origin", APP), ("access-control-request-method", "GET")],
    )
    .await;
    assert_eq!(preflight.status, StatusCode::OK);
    // An OPTIONS that is not a preflight is the route's: this path serves no OPTIONS.
    let options = send(&router, Method::OPTIONS, "/v2/limited", &[("origin", APP)]).await;
    assert_eq!(options.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn moved_docs_link_to_the_moved_document_and_switched_off_ones_are_gone() {
    let mut settings = settings();
    settings.docs.openapi = Some("/spec.json".to_owned());
    settings.docs.openapi_yaml = None;
    settings.docs.ui = Some("/reference/ui".to_owned());
    let router = router_with(Service, &specjet::Services::new(settings, None));
    let page = get(&router, "/v2/reference/ui").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains(r#"url: "../spec.json""#), "{html}");
    assert!(
        html.contains(r#"src="ui/assets/swagger-ui-bundle.js""#),
        "{html}"
    );
    let asset = get(&router, "/v2/reference/ui/assets/swagger-ui.css").await;
    assert_eq!(asset.status, StatusCode::OK);
    assert_eq!(
        get(&router, "/v2/spec.json").await.json()["info"]["title"],
        "Serving"
    );
    for gone in [
        "/v2/openapi.json",
        "/v2/openapi.yaml",
        "/v2/spec.yaml",
        "/v2/docs",
    ] {
        assert_eq!(
            get(&router, gone).await.status,
            StatusCode::NOT_FOUND,
            "{gone}"
        );
    }

    let mut settings = self::settings();
    settings.document = None;
    let router = router_with(Service, &specjet::Services::new(settings, None));
    for gone in ["/v2/openapi.json", "/v2/docs"] {
        assert_eq!(
            get(&router, gone).await.status,
            StatusCode::NOT_FOUND,
            "{gone}"
        );
    }
}

#[test]
fn connection_settings_come_from_the_spec() {
    use std::time::Duration;
    let server = settings().server;
    assert_eq!(
        (
            server.header_read_timeout,
            server.idle_timeout,
            server.body_timeout,
            server.max_connections,
            server.shutdown_delay,
            server.shutdown_timeout,
        ),
        (
            Duration::from_secs(5),
            Duration::from_secs(90),
            Duration::from_secs(2),
            Some(5000),
            Duration::from_secs(10),
            Duration::from_secs(20),
        )
    );
}
