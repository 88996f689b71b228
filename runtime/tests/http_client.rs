//! The pooled HTTP client against an upstream of the test's own on 127.0.0.1: connections
//! are reused, every call is bounded by its timeouts, and a failed call becomes the problem
//! a client of the service can act on.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, State};
use axum::routing::get;
use axum::Router;
use http::StatusCode;
use specjet::http_client::HttpClientSettings;
use specjet::{HttpClient, Problem, ServiceSettings, Services};

/// The client ports the upstream saw: one per connection.
type Peers = Arc<Mutex<HashSet<u16>>>;

async fn upstream() -> (String, Peers) {
    let peers = Peers::default();
    let record = |State(peers): State<Peers>, ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
        peers.lock().unwrap().insert(peer.port());
        "ok"
    };
    let router = Router::new()
        .route("/ok", get(record))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                "late"
            }),
        )
        .route(
            "/broken",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .with_state(peers.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    (format!("http://{addr}"), peers)
}

fn client(timeout: Duration) -> HttpClient {
    HttpClient::new(&HttpClientSettings {
        timeout,
        connect_timeout: Duration::from_millis(300),
        ..HttpClientSettings::named("test")
    })
    .unwrap()
}

#[tokio::test]
async fn calls_reuse_one_kept_alive_connection() {
    let (base, peers) = upstream().await;
    let http = client(Duration::from_secs(5));
    for _ in 0..20 {
        let answer = http
            .client()
            .get(format!("{base}/ok"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.text().await.unwrap(), "ok");
    }
    assert_eq!(
        peers.lock().unwrap().len(),
        1,
        "20 sequential calls, one connection"
    );
}

#[tokio::test]
async fn a_slow_upstream_costs_the_timeout_and_answers_504() {
    let (base, _) = upstream().await;
    let http = client(Duration::from_millis(200));
    let started = Instant::now();
    let error = http
        .client()
        .get(format!("{base}/slow"))
        .send()
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(Problem::from(error).status, 504);
}

#[tokio::test]
async fn an_unreachable_or_failing_upstream_answers_502() {
    let (base, _) = upstream().await;
    let http = client(Duration::from_secs(5));
    let unreachable = http
        .client()
        .get("http://127.0.0.1:1/")
        .send()
        .await
        .unwrap_err();
    let problem = Problem::from(unreachable);
    assert_eq!(problem.status, 502);
    assert!(
        !problem.detail.unwrap_or_default().contains("127.0.0.1"),
        "the address stays in the log"
    );
    let failing = http
        .client()
        .get(format!("{base}/broken"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap_err();
    let problem = Problem::from(failing);
    assert_eq!(problem.status, 502);
    assert_eq!(
        problem.detail.as_deref(),
        Some("an upstream service answered 500")
    );
}

#[tokio::test]
async fn started_services_hand_out_the_declared_client() {
    let settings = ServiceSettings {
        http_client: Some(HttpClientSettings::named("test")),
        ..ServiceSettings::default()
    };
    let services = Services::start(settings).await.expect("starts");
    assert!(services.require_http_client().is_ok());
    let without = Services::start(ServiceSettings::default())
        .await
        .expect("starts");
    let error = without.require_http_client().unwrap_err();
    assert!(
        error.to_string().contains("x-specjet.http-client"),
        "{error}"
    );
}
