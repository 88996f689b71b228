//! The rate limiter on a real axum router: budgets per key, the draft's headers and 429
//! problems, client IPs through trusted proxies, exact budgets under concurrency, one budget
//! shared by two replicas through Redis, and a Redis that dies. Redis tests use `REDIS_URL`
//! (CI sets it) or a private `redis-server`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::Router;
use http::{Method, Request, StatusCode};
use specjet::rate_limit::{
    Backend, KeyPart, OnBackendError, RateLimitPolicy, RateLimitSettings, RateLimiter, Window,
};
use specjet::{OperationInfo, Policies};
use tower::ServiceExt;

mod support;
use support::{free_port, redis_url, services, unique_prefix, PrivateRedis};

static GET_ITEM: OperationInfo =
    OperationInfo::new("getItem", Method::GET, "/items/{id}").with_params(&[("id", "id")]);

fn settings(prefix: &str) -> RateLimitSettings {
    RateLimitSettings {
        key_prefix: prefix.to_owned(),
        ..RateLimitSettings::default()
    }
}

fn policy(limit: u32, period: Duration, key: Vec<KeyPart>) -> RateLimitPolicy {
    // Policies are `'static` tables in generated code; a test makes a few at run time.
    let windows = vec![Window::new(limit, period)].leak();
    RateLimitPolicy::new("items", windows).keyed_by(key.leak())
}

/// `GET /items/{id}` under `policy`, counting the calls that reach the handler.
fn app(limiter: &RateLimiter, policy: RateLimitPolicy, calls: Arc<AtomicUsize>) -> Router {
    let handler = move || {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            "item"
        }
    };
    let services = services(None, Some(limiter.clone()));
    let policies = Policies {
        rate_limit: Some(policy),
        ..Policies::NONE
    };
    services.apply(
        Router::new().route("/items/{id}", get(handler)),
        &[(&GET_ITEM, policies)],
    )
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// A request from `peer`, optionally forwarded for someone else.
fn from(peer: &str, forwarded_for: Option<&str>, uri: &str) -> Request<Body> {
    let mut builder = Request::get(uri);
    if let Some(client) = forwarded_for {
        builder = builder.header("x-forwarded-for", client);
    }
    let mut request = builder.body(Body::empty()).unwrap();
    let peer: SocketAddr = peer.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

fn get_req(uri: &str) -> Request<Body> {
    from("192.0.2.10:4000", None, uri)
}

#[tokio::test]
async fn each_key_has_its_budget_announced_in_headers_and_refusals_are_problems() {
    let limiter = RateLimiter::new(settings("memory"), None);
    let calls = Arc::new(AtomicUsize::new(0));
    let router = app(
        &limiter,
        policy(3, Duration::from_secs(60), vec![KeyPart::Path("id")]),
        calls.clone(),
    );
    for remaining in [2, 1, 0] {
        let reply = send(&router, get_req("/items/a")).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("ratelimit-policy"), Some("\"items\";q=3;w=60"));
        let state = reply.header("ratelimit").unwrap();
        assert!(
            state.starts_with(&format!("\"items\";r={remaining};t=")),
            "{state}"
        );
    }
    let refused = send(&router, get_req("/items/a")).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    // One unit comes back every 20 s.
    assert_eq!(refused.header("retry-after"), Some("20"));
    let problem: serde_json::Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(problem["status"], 429);
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("rate limit `items` exceeded (3 per min)"));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "a refusal never runs the handler"
    );
    // Another item is another key.
    assert_eq!(
        send(&router, get_req("/items/b")).await.status,
        StatusCode::OK
    );
    // HEAD is served by the GET route and shares its budget.
    let head = Request::head("/items/a").body(Body::empty()).unwrap();
    assert_eq!(
        send(&router, head).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let limiter = RateLimiter::new(
        RateLimitSettings {
            trusted_proxies: vec!["10.0.0.0/8".to_owned()],
            ..settings("proxies")
        },
        None,
    );
    let router = app(
        &limiter,
        policy(1, Duration::from_secs(60), vec![KeyPart::Ip]),
        Arc::new(AtomicUsize::new(0)),
    );
    let status = |request| {
        let router = router.clone();
        async move { send(&router, request).await.status }
    };
    // Behind the proxy, each client has a budget.
    assert_eq!(
        status(from("10.0.0.1:1", Some("198.51.100.1"), "/items/x")).await,
        StatusCode::OK
    );
    assert_eq!(
        status(from("10.0.0.2:1", Some("198.51.100.1"), "/items/x")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        status(from("10.0.0.1:1", Some("198.51.100.2"), "/items/x")).await,
        StatusCode::OK
    );
    // A client that prepends an address to look like someone else is still itself.
    assert_eq!(
        status(from(
            "10.0.0.1:1",
            Some("198.51.100.3, 198.51.100.1"),
            "/items/x"
        ))
        .await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // An untrusted peer cannot claim an address.
    assert_eq!(
        status(from("203.0.113.5:1", Some("198.51.100.9"), "/items/x")).await,
        StatusCode::OK
    );
    assert_eq!(
        status(from("203.0.113.5:1", Some("198.51.100.10"), "/items/x")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Sends `n` requests at once through clones of `routers` (round robin); the statuses.
async fn concurrently(routers: &[Router], n: usize) -> Vec<StatusCode> {
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let router = routers[i % routers.len()].clone();
            tokio::spawn(async move { send(&router, get_req("/items/hot")).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.unwrap());
    }
    statuses
}

fn allowed(statuses: &[StatusCode]) -> usize {
    statuses.iter().filter(|s| **s == StatusCode::OK).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_requests_get_exactly_the_budget() {
    let limiter = RateLimiter::new(settings("concurrent"), None);
    let router = app(
        &limiter,
        policy(10, Duration::from_secs(60), vec![KeyPart::Global]),
        Arc::new(AtomicUsize::new(0)),
    );
    let statuses = concurrently(&[router], 100).await;
    assert_eq!(allowed(&statuses), 10);
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::OK || *s == StatusCode::TOO_MANY_REQUESTS));
}

async fn wait_connected(limiter: &RateLimiter) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !limiter.redis_connected() {
        assert!(Instant::now() < deadline, "no redis connection");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_one_budget_through_redis() {
    let Some(url) = redis_url() else {
        return;
    };
    let prefix = unique_prefix("replicas");
    let replica = || {
        let limiter = RateLimiter::new(
            settings(&prefix),
            Some(specjet::SharedRedis::connect(&url).unwrap()),
        );
        let router = app(
            &limiter,
            policy(5, Duration::from_secs(60), vec![KeyPart::Global]),
            Arc::new(AtomicUsize::new(0)),
        );
        (limiter, router)
    };
    let (a_limiter, a) = replica();
    let (b_limiter, b) = replica();
    wait_connected(&a_limiter).await;
    wait_connected(&b_limiter).await;
    for router in [&a, &a, &a, &b, &b] {
        assert_eq!(
            send(router, get_req("/items/1")).await.status,
            StatusCode::OK
        );
    }
    for router in [&a, &b] {
        let refused = send(router, get_req("/items/1")).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.header("ratelimit").unwrap().contains(";r=0;"));
    }
    // Under concurrency, across both replicas, the budget is exact too.
    let prefix = unique_prefix("replicas-concurrent");
    let fresh = |prefix: &str| {
        let limiter = RateLimiter::new(
            settings(prefix),
            Some(specjet::SharedRedis::connect(&url).unwrap()),
        );
        let router = app(
            &limiter,
            policy(20, Duration::from_secs(60), vec![KeyPart::Global]),
            Arc::new(AtomicUsize::new(0)),
        );
        (limiter, router)
    };
    let (c_limiter, c) = fresh(&prefix);
    let (d_limiter, d) = fresh(&prefix);
    wait_connected(&c_limiter).await;
    wait_connected(&d_limiter).await;
    let statuses = concurrently(&[c, d], 60).await;
    assert_eq!(allowed(&statuses), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_clients_share_redis_round_trips_and_each_keeps_its_own_budget() {
    let Some(url) = redis_url() else {
        return;
    };
    let limiter = RateLimiter::new(
        settings(&unique_prefix("clients")),
        Some(specjet::SharedRedis::connect(&url).unwrap()),
    );
    let router = app(
        &limiter,
        policy(4, Duration::from_secs(60), vec![KeyPart::Ip]),
        Arc::new(AtomicUsize::new(0)),
    );
    wait_connected(&limiter).await;
    // 90 requests at once from three clients: their takes go to Redis together, and each
    // client gets exactly its 4.
    let clients = ["192.0.2.1:1", "192.0.2.2:1", "192.0.2.3:1"];
    let handles: Vec<_> = (0..90)
        .map(|i| {
            let router = router.clone();
            let peer = clients[i % clients.len()];
            tokio::spawn(async move { (peer, send(&router, from(peer, None, "/items/1")).await) })
        })
        .collect();
    let mut allowed_per_client = std::collections::HashMap::new();
    for handle in handles {
        let (peer, reply) = handle.await.unwrap();
        assert!(
            reply.status == StatusCode::OK || reply.status == StatusCode::TOO_MANY_REQUESTS,
            "{}",
            reply.status
        );
        if reply.status == StatusCode::OK {
            *allowed_per_client.entry(peer).or_insert(0) += 1;
        }
    }
    for peer in clients {
        assert_eq!(allowed_per_client.get(peer), Some(&4), "{peer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_is_met_as_configured_and_never_stalls_a_request() {
    let port = free_port();
    let Some(redis) = PrivateRedis::start(port) else {
        eprintln!("skipped: redis-server is not installed");
        return;
    };
    let limited = |on_backend_error| {
        let limiter = RateLimiter::new(
            RateLimitSettings {
                backend: Backend::Redis,
                on_backend_error,
                ..settings(&unique_prefix("dead"))
            },
            Some(specjet::SharedRedis::connect(&redis.url()).unwrap()),
        );
        let router = app(
            &limiter,
            policy(2, Duration::from_secs(60), vec![KeyPart::Global]),
            Arc::new(AtomicUsize::new(0)),
        );
        (limiter, router)
    };
    let (local_limiter, local) = limited(OnBackendError::Local);
    let (deny_limiter, deny) = limited(OnBackendError::Deny);
    let (allow_limiter, allow) = limited(OnBackendError::Allow);
    for limiter in [&local_limiter, &deny_limiter, &allow_limiter] {
        wait_connected(limiter).await;
    }
    assert_eq!(
        send(&local, get_req("/items/1")).await.status,
        StatusCode::OK
    );
    drop(redis);

    let started = Instant::now();
    // `local`: the limit holds in process meanwhile.
    let statuses: Vec<StatusCode> = {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(send(&local, get_req("/items/1")).await.status);
        }
        statuses
    };
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // `deny`: 503 as a problem, with a hint to retry.
    let denied = send(&deny, get_req("/items/1")).await;
    assert_eq!(denied.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        denied.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(denied.header("retry-after"), Some("1"));
    // `allow`: through, with no claim about a budget nobody could read.
    let allowed = send(&allow, get_req("/items/1")).await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(allowed.header("ratelimit"), None);
    // Every answer came within the command timeout, not after a connection timeout.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
