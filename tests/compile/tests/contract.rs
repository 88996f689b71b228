//! The request's contract from `tests/compile/specs/contract.yaml`: strings checked against
//! the formats whose check is cheap and sure (`date`, `date-time`, `uuid`, `ipv4`, `ipv6`) in
//! bodies and parameters, other formats left annotations, a pattern the regex engine cannot
//! compile left out while the rest of its schema is checked; `x-specjet.validation.formats:
//! false` (`contract-no-formats.yaml`) switching formats off; and every problem of an
//! operation answered through `Api::reject`, in the spec's own error shape where the API says
//! so, with the service's headers kept.

use specjet::axum::response::Response;
use specjet::axum::Router;
use specjet::http::{Method, StatusCode};
use specjet::serde_json::{json, Value};
use specjet::Problem;
use support::{send, send_body, Answer};

mod support;

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

/// The invalid inputs a spec-shaped error names, sorted.
fn invalid(answer: &Answer) -> Vec<String> {
    let mut names: Vec<String> = answer.json()["invalid"]
        .as_array()
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    names.sort_unstable();
    names
}

/// The parameters a problem+json answer's `invalid-params` names, sorted.
fn invalid_params(answer: &Answer) -> Vec<String> {
    let mut names: Vec<String> = answer.json()["invalid-params"]
        .as_array()
        .expect("invalid-params")
        .iter()
        .filter_map(|param| param["name"].as_str())
        .map(str::to_owned)
        .collect();
    names.sort_unstable();
    names
}

/// `POST /events` with a JSON body.
async fn post(router: &Router, body: Value) -> Answer {
    let body = Some(("application/json", body.to_string().into_bytes()));
    send_body(router, Method::POST, "/events", &[], body).await
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
    let created = post(&router, event()).await;
    // `contact` is no email and `code` breaks a pattern no engine here compiles: neither is
    // checked. `format` is a property, not the keyword.
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());

    let refused = post(&router, broken_formats()).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.header("content-type"), Some("application/json"));
    assert_eq!(refused.json()["code"], 422);
    assert_eq!(
        invalid(&refused),
        ["/at", "/day", "/id", "/origin", "/peer"],
        "{}",
        refused.json()
    );

    // The pattern that compiles is still checked beside the one left out.
    let mut shouting = event();
    shouting["label"] = json!("LOUD");
    let refused = post(&router, shouting).await;
    assert_eq!(invalid(&refused), ["/label"], "{}", refused.json());
}

#[tokio::test]
async fn parameters_are_checked_against_their_formats() {
    let router = contract::router();
    let fine = send(
        &router,
        Method::GET,
        "/events?since=2026-12-01",
        &[("x-origin", "192.0.2.7")],
    )
    .await;
    assert_eq!(fine.status, StatusCode::OK, "{}", fine.json());

    // `listEvents` documents no error shape: problem+json, naming each parameter.
    let refused = send(
        &router,
        Method::GET,
        "/events?since=2026-02-30",
        &[("x-origin", "192.0.2.700")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(
        invalid_params(&refused),
        ["since", "x-origin"],
        "{}",
        refused.json()
    );

    // `getEvent` answers in its own shape.
    let refused = send(&router, Method::GET, "/events/not-a-uuid", &[]).await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{}",
        refused.json()
    );
    assert_eq!(refused.header("content-type"), Some("application/json"));
    assert_eq!(invalid(&refused), ["id"], "{}", refused.json());
}

#[tokio::test]
async fn one_answer_names_every_wrong_parameter_whether_unreadable_or_out_of_bounds() {
    let router = contract::router();
    // `offset` cannot be read as an integer; `limit` and `since` are read but break their
    // schemas: the client hears of all three at once, not of `offset` first.
    let refused = send(
        &router,
        Method::GET,
        "/events?since=2026-02-30&limit=500&offset=ten",
        &[],
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let problem = refused.json();
    assert_eq!(
        invalid_params(&refused),
        ["limit", "offset", "since"],
        "{problem}"
    );
    assert_eq!(problem["detail"], "3 invalid parameters", "{problem}");

    let within = send(&router, Method::GET, "/events?limit=100&offset=3", &[]).await;
    assert_eq!(within.status, StatusCode::OK, "{}", within.json());
}

#[tokio::test]
async fn formats_switched_off_are_annotations() {
    let router = contract_no_formats::router();
    let created = post(&router, broken_formats()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    let listed = send(&router, Method::GET, "/events?since=someday", &[]).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.json());
    // Other bounds still hold.
    let mut shouting = event();
    shouting["label"] = json!("LOUD");
    let refused = post(&router, shouting).await;
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
    )
    .await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.header("content-type"), Some("application/json"));
    assert_eq!(
        down.json(),
        json!({"code": 503, "message": "the event store is down"})
    );

    // The rate limit (3 a minute): the fourth is a 429 in the spec's shape, and the limiter's
    // headers are still there for the client.
    for _ in 0..3 {
        let created = post(&router, event()).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.json());
    }
    let limited = post(&router, event()).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.header("content-type"), Some("application/json"));
    assert_eq!(limited.json()["code"], 429);
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
    let nowhere = send(&router, Method::GET, "/nowhere", &[]).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    assert_eq!(
        nowhere.header("content-type"),
        Some("application/problem+json")
    );
}

/// Every answer carries its request's id (the client's when valid) and its total time, a
/// problem names the id as its `instance`, and `/metrics` counts each operation by status
/// class with a latency histogram; a path no operation serves is `unknown`, not its raw path.
#[tokio::test]
async fn answers_carry_request_ids_timings_and_per_operation_metrics() {
    let router = contract::router();
    let given = send(
        &router,
        Method::GET,
        "/events",
        &[("x-request-id", "trace-42")],
    )
    .await;
    assert_eq!(given.status, StatusCode::OK);
    assert_eq!(given.header("x-request-id"), Some("trace-42"));
    assert!(
        given.header("server-timing").is_some_and(
            |timing| timing.starts_with("handler;dur=") && timing.contains(", total;dur=")
        ),
        "{:?}",
        given.headers
    );
    let made = send(
        &router,
        Method::GET,
        "/events",
        &[("x-request-id", "no spaces")],
    )
    .await;
    let id = made.header("x-request-id").unwrap_or_default().to_owned();
    assert_eq!(id.len(), 32, "{id}");
    assert_ne!(id, "no spaces");

    let refused = send(&router, Method::GET, "/events?since=someday", &[]).await;
    let id = refused.header("x-request-id").unwrap_or_default();
    assert_eq!(
        refused.json()["instance"],
        format!("urn:request-id:{id}"),
        "{}",
        refused.json()
    );
    let nowhere = send(&router, Method::GET, "/no/such/path/4711", &[]).await;
    assert!(nowhere.header("x-request-id").is_some());

    let metrics = send(&router, Method::GET, "/metrics", &[]).await;
    let text = String::from_utf8(metrics.body).unwrap();
    let line = |parts: &[&str]| {
        text.lines()
            .any(|line| parts.iter().all(|part| line.contains(part)))
    };
    assert!(
        line(&[
            "specjet_http_requests_total{",
            "operation=\"listEvents\"",
            "method=\"GET\"",
            "status=\"2xx\""
        ]),
        "{text}"
    );
    assert!(
        line(&[
            "specjet_http_requests_total{",
            "operation=\"listEvents\"",
            "status=\"4xx\""
        ]),
        "{text}"
    );
    assert!(
        line(&[
            "specjet_http_request_duration_seconds_bucket{",
            "operation=\"listEvents\"",
            "le=\"0.005\""
        ]),
        "{text}"
    );
    assert!(
        line(&[
            "specjet_http_requests_total{",
            "operation=\"unknown\"",
            "status=\"4xx\""
        ]),
        "{text}"
    );
    assert!(!text.contains("4711"), "no raw path as a label");
    assert!(
        line(&[
            "specjet_http_requests_in_flight{",
            "operation=\"listEvents\""
        ]),
        "{text}"
    );
}
