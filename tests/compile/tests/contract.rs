//! The request's contract from `tests/compile/specs/contract.yaml`: strings checked against
//! the formats whose check is cheap and sure (`date`, `date-time`, `uuid`, `ipv4`, `ipv6`) in
//! bodies and parameters, other formats left annotations, a pattern the regex engine cannot
//! compile left out while the rest of its schema is checked; `x-specjet.validation.formats:
//! false` (`contract-no-formats.yaml`) switching formats off; and every problem of an
//! operation answered through `Api::reject`, in the spec's own error shape where the API says
//! so, with the service's headers kept.

use std::net::SocketAddr;

use specjet::axum::body::{to_bytes, Body};
use specjet::axum::extract::ConnectInfo;
use specjet::axum::response::Response;
use specjet::axum::Router;
use specjet::http::{HeaderMap, Method, Request, StatusCode};
use specjet::serde_json::{self, json, Value};
use specjet::Problem;
use tower::ServiceExt;

/// One implementation for both generated services (they differ only in the switch).
macro_rules! events_api {
    ($module:ident) => {
        mod $module {
            use super::*;
            use specjet_compile_tests::$module::operations::{
                create_event, get_event, list_events,
            };
            use specjet_compile_tests::$module::{types, Api, OperationId};

            #[derive(Clone)]
            pub struct Events;

            /// The id of an event whose store is down: the handler answers a `Problem`.
            pub const BROKEN: &str = "00000000-0000-0000-0000-000000000000";

            impl Api for Events {
                async fn list_events(
                    &self,
                    _request: list_events::Request,
                ) -> list_events::Response {
                    list_events::Response::Ok(Vec::new())
                }

                async fn create_event(
                    &self,
                    _request: create_event::Request,
                ) -> create_event::Response {
                    create_event::Response::Created
                }

                async fn get_event(&self, request: get_event::Request) -> get_event::Response {
                    if request.id == BROKEN {
                        return Problem::new(StatusCode::SERVICE_UNAVAILABLE)
                            .with_detail("the event store is down")
                            .into();
                    }
                    get_event::Response::Default {
                        status: 404,
                        body: types::Error {
                            code: 404,
                            message: "no such event".to_owned(),
                            invalid: None,
                        },
                    }
                }

                /// `listEvents` documents no error: problem+json, as by default. The others
                /// answer in the spec's `Error`.
                fn reject(operation: OperationId, problem: Problem) -> Response {
                    if operation == OperationId::ListEvents {
                        return specjet::reject::problem_json_response(problem);
                    }
                    let invalid: Vec<String> = problem
                        .invalid_params
                        .iter()
                        .map(|param| param.name.clone())
                        .collect();
                    let error = types::Error {
                        code: i64::from(problem.status),
                        message: problem.detail.map_or(problem.title, String::from),
                        invalid: (!invalid.is_empty()).then_some(invalid),
                    };
                    specjet::respond::json(
                        StatusCode::from_u16(error.code as u16)
                            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                        "application/json",
                        &error,
                    )
                }
            }

            pub fn router() -> Router {
                let settings = specjet_compile_tests::$module::settings();
                specjet_compile_tests::$module::router_with(
                    Events,
                    &specjet::Services::new(settings, None),
                )
            }
        }
    };
}

events_api!(contract);
events_api!(contract_no_formats);

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The invalid inputs the spec-shaped error names.
    fn invalid(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.body["invalid"]
            .as_array()
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        names.sort_unstable();
        names
    }
}

async fn send(
    router: &Router,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let client: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(client));
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

fn event() -> Value {
    json!({
        "id": "5b7c1a9e-3f2d-4c8b-9a1e-2d3c4b5a6f70",
        "at": "2026-12-01T10:00:00Z",
        "day": "2026-12-01",
        "origin": "192.0.2.7",
        "peer": "2001:db8::7",
        "contact": "not an email address",
        "format": "short",
        "code": "zz",
        "label": "fine"
    })
}

fn broken_formats() -> Value {
    let mut body = event();
    body["id"] = json!("5b7c1a9e");
    body["at"] = json!("yesterday at noon");
    body["day"] = json!("2026-13-45");
    body["origin"] = json!("999.0.2.7");
    body["peer"] = json!("2001:db8::g");
    body
}

#[tokio::test]
async fn bodies_are_checked_against_the_checked_formats_only() {
    let router = contract::router();
    let created = send(&router, Method::POST, "/events", &[], Some(event())).await;
    // `contact` is no email and `code` breaks a pattern no engine here compiles: neither is
    // checked. `format` is a property, not the keyword.
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);

    let refused = send(
        &router,
        Method::POST,
        "/events",
        &[],
        Some(broken_formats()),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.header("content-type"), Some("application/json"));
    assert_eq!(refused.body["code"], 422);
    assert_eq!(
        refused.invalid(),
        ["/at", "/day", "/id", "/origin", "/peer"],
        "{}",
        refused.body
    );

    // The pattern that compiles is still checked beside the one left out.
    let mut shouting = event();
    shouting["label"] = json!("LOUD");
    let refused = send(&router, Method::POST, "/events", &[], Some(shouting)).await;
    assert_eq!(refused.invalid(), ["/label"], "{}", refused.body);
}

#[tokio::test]
async fn parameters_are_checked_against_their_formats() {
    let router = contract::router();
    let fine = send(
        &router,
        Method::GET,
        "/events?since=2026-12-01",
        &[("x-origin", "192.0.2.7")],
        None,
    )
    .await;
    assert_eq!(fine.status, StatusCode::OK, "{}", fine.body);

    // `listEvents` documents no error shape: problem+json, naming each parameter.
    let refused = send(
        &router,
        Method::GET,
        "/events?since=2026-02-30",
        &[("x-origin", "192.0.2.700")],
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    let mut named: Vec<&str> = refused.body["invalid-params"]
        .as_array()
        .expect("invalid-params")
        .iter()
        .filter_map(|param| param["name"].as_str())
        .collect();
    named.sort_unstable();
    assert_eq!(named, ["since", "x-origin"], "{}", refused.body);

    // `getEvent` answers in its own shape.
    let refused = send(&router, Method::GET, "/events/not-a-uuid", &[], None).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.header("content-type"), Some("application/json"));
    assert_eq!(refused.invalid(), ["id"], "{}", refused.body);
}

#[tokio::test]
async fn formats_switched_off_are_annotations() {
    let router = contract_no_formats::router();
    let created = send(
        &router,
        Method::POST,
        "/events",
        &[],
        Some(broken_formats()),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let listed = send(&router, Method::GET, "/events?since=someday", &[], None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    // Other bounds still hold.
    let mut shouting = event();
    shouting["label"] = json!("LOUD");
    let refused = send(&router, Method::POST, "/events", &[], Some(shouting)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn every_problem_of_an_operation_goes_through_reject_with_the_service_headers_kept() {
    let router = contract::router();
    // A handler's own problem.
    let down = send(
        &router,
        Method::GET,
        &format!("/events/{}", contract::BROKEN),
        &[],
        None,
    )
    .await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.header("content-type"), Some("application/json"));
    assert_eq!(
        down.body,
        json!({"code": 503, "message": "the event store is down"})
    );

    // The rate limit (3 a minute): the fourth is a 429 in the spec's shape, and the limiter's
    // headers are still there for the client.
    for _ in 0..3 {
        let created = send(&router, Method::POST, "/events", &[], Some(event())).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }
    let limited = send(&router, Method::POST, "/events", &[], Some(event())).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.header("content-type"), Some("application/json"));
    assert_eq!(limited.body["code"], 429);
    assert!(
        limited.header("retry-after").is_some(),
        "{:?}",
        limited.headers
    );
    assert!(
        limited
            .header("ratelimit")
            .is_some_and(|state| state.contains("r=0")),
        "{:?}",
        limited.headers
    );

    // Outside every operation the service's own problem+json stays.
    let nowhere = send(&router, Method::GET, "/nowhere", &[], None).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    assert_eq!(
        nowhere.header("content-type"),
        Some("application/problem+json")
    );
}
