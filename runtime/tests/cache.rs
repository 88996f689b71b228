//! The response cache on a real axum router: hits, single-flight, validators, scopes,
//! stale-while-revalidate, invalidation, and the Redis tier (shared by two instances, killed
//! and restarted). Redis tests use `REDIS_URL` (CI sets it) or a private `redis-server`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use http::{header, Method, Request, StatusCode};
use specjet::cache::{
    Backend, Cache, CachePolicy, CacheSettings, InvalidationTarget, Scope, TagPiece,
};
use specjet::{OperationInfo, ParamType, Policies};
use tower::ServiceExt;

mod support;
use support::{free_port, redis_url, services, unique_prefix, PrivateRedis};

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Reply {
    fn cache_status(&self) -> &str {
        self.headers
            .get("cache-status")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = String::from_utf8(
        to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    Reply {
        status,
        headers,
        body,
    }
}

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn settings(prefix: &str) -> CacheSettings {
    CacheSettings {
        backend: Backend::Tiered,
        capacity_bytes: 1024 * 1024,
        key_prefix: prefix.to_owned(),
    }
}

fn policy(ttl: Duration, swr: Duration) -> CachePolicy {
    let mut policy = CachePolicy::new(ttl);
    policy.stale_while_revalidate = swr;
    policy
}

static GET_ITEM: OperationInfo = OperationInfo::new("getItem", Method::GET, "/items/{id}")
    .with_params(&[("id", "id")])
    .with_param_types(&[ParamType::Integer]);
static POST_ITEM: OperationInfo = OperationInfo::new("postItem", Method::POST, "/items/{id}")
    .with_params(&[("id", "id")])
    .with_param_types(&[ParamType::Integer]);
static MISSING: OperationInfo = OperationInfo::new("missing", Method::GET, "/missing/{id}");

/// `GET /items/{id}` cached (the body says how often the handler ran), `POST /items/{id}`
/// invalidating that item, `GET /missing/{id}` answering 404: served as a generated router
/// serves them, from an operations table.
fn app(cache: &Cache, calls: Arc<AtomicUsize>, policy: CachePolicy, delay: Duration) -> Router {
    let counter = calls.clone();
    let read = move |Path(id): Path<String>| {
        let counter = counter.clone();
        async move {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(delay).await;
            (
                [(header::CONTENT_TYPE, "application/json")],
                format!("{{\"id\":\"{id}\",\"call\":{n}}}"),
            )
        }
    };
    let write = |Path(_id): Path<String>| async { StatusCode::NO_CONTENT };
    let missing = |Path(_id): Path<String>| async { StatusCode::NOT_FOUND };
    let router = Router::new()
        .route("/items/{id}", get(read).post(write))
        .route("/missing/{id}", get(missing));
    let services = services(Some(cache.clone()), None);
    let cached = Policies {
        cache: Some(policy),
        ..Policies::NONE
    };
    const INVALIDATING: Policies = Policies {
        invalidates: &[InvalidationTarget::new("getItem", &[("id", "id")])],
        ..Policies::NONE
    };
    services.apply(
        router,
        &[
            (&GET_ITEM, cached),
            (&POST_ITEM, INVALIDATING),
            (&MISSING, cached),
        ],
    )
}

fn memory_cache() -> Cache {
    Cache::new(settings("test"), None)
}

/// The app over an in-memory cache keeping entries a minute, and its handler's call count.
fn in_memory_app() -> (Router, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = app(
        &memory_cache(),
        calls.clone(),
        policy(Duration::from_secs(60), Duration::ZERO),
        Duration::ZERO,
    );
    (app, calls)
}

#[tokio::test]
async fn hits_validators_and_bypass_in_memory() {
    let calls = Arc::new(AtomicUsize::new(0));
    let cache = memory_cache();
    let app = app(
        &cache,
        calls.clone(),
        policy(Duration::from_secs(60), Duration::ZERO),
        Duration::ZERO,
    );

    let first = send(&app, get_req("/items/1?b=2&a=1")).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.cache_status(), "specjet; fwd=miss; stored");
    assert_eq!(first.headers[header::CACHE_CONTROL], "public, max-age=60");
    let etag = first.headers[header::ETAG].to_str().unwrap().to_owned();

    // Same parameters in another order: the same entry.
    let second = send(&app, get_req("/items/1?a=1&b=2")).await;
    assert_eq!(second.body, first.body);
    assert!(
        second.cache_status().starts_with("specjet; hit"),
        "{}",
        second.cache_status()
    );
    assert_eq!(second.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // If-None-Match: 304 with validators and Vary, handler not run.
    let revalidated = send(
        &app,
        Request::get("/items/1?a=1&b=2")
            .header(header::IF_NONE_MATCH, &etag)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
    assert!(revalidated.body.is_empty());
    assert_eq!(revalidated.headers[header::ETAG], etag.as_str());
    assert!(revalidated.headers.contains_key(header::VARY));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Cache-Control: no-cache from the client goes to the handler (and refreshes the entry).
    let forced = send(
        &app,
        Request::get("/items/1?a=1&b=2")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(forced.body.contains("\"call\":2"));
    assert!(send(&app, get_req("/items/1?a=1&b=2"))
        .await
        .body
        .contains("\"call\":2"));

    // The media type asked for splits the key.
    send(
        &app,
        Request::get("/items/1?a=1&b=2")
            .header(header::ACCEPT, "text/plain")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // The content-coding does not: it is applied outside the cache, so one entry serves
    // clients of every `Accept-Encoding`.
    for coding in ["gzip", "br, zstd", "identity"] {
        let coded = send(
            &app,
            Request::get("/items/1?a=1&b=2")
                .header(header::ACCEPT_ENCODING, coding)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(
            coded.cache_status(),
            "specjet; hit; detail=memory",
            "{coding}"
        );
        assert!(coded.body.contains("\"call\":2"), "{coding}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // Only successful statuses are stored.
    for _ in 0..2 {
        let missing = send(&app, get_req("/missing/1")).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(missing.cache_status(), "specjet; fwd=miss");
    }
    assert_eq!(cache.stats().stored.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_hundred_concurrent_requests_for_a_cold_key_run_the_handler_once() {
    let calls = Arc::new(AtomicUsize::new(0));
    let cache = memory_cache();
    let app = app(
        &cache,
        calls.clone(),
        policy(Duration::from_secs(60), Duration::ZERO),
        Duration::from_millis(100),
    );
    let requests = (0..100).map(|_| {
        let app = app.clone();
        tokio::spawn(async move { send(&app, get_req("/items/cold")).await })
    });
    let replies: Vec<Reply> = futures_join(requests).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(replies
        .iter()
        .all(|r| r.status == StatusCode::OK && r.body == replies[0].body));
    assert!(replies
        .iter()
        .any(|r| r.cache_status().contains("collapsed")));
}

async fn futures_join(handles: impl Iterator<Item = tokio::task::JoinHandle<Reply>>) -> Vec<Reply> {
    let mut out = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn private_scope_never_shares_one_callers_answer() {
    let calls = Arc::new(AtomicUsize::new(0));
    let cache = memory_cache();
    let app = app(
        &cache,
        calls.clone(),
        policy(Duration::from_secs(60), Duration::ZERO),
        Duration::ZERO,
    );
    let as_user = |token: &str| {
        Request::get("/items/me")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let alice = send(&app, as_user("alice")).await;
    let bob = send(&app, as_user("bob")).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "bob must not get alice's entry"
    );
    assert_ne!(alice.body, bob.body);
    assert!(alice.headers[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .starts_with("private"));
    let alice_again = send(&app, as_user("alice")).await;
    assert_eq!(alice_again.body, alice.body);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // An anonymous caller gets neither.
    send(&app, get_req("/items/me")).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let _ = Scope::Public;
}

#[tokio::test]
async fn stale_while_revalidate_answers_at_once_and_refreshes_once() {
    let calls = Arc::new(AtomicUsize::new(0));
    let cache = memory_cache();
    let app = app(
        &cache,
        calls.clone(),
        policy(Duration::from_millis(300), Duration::from_secs(30)),
        Duration::from_secs(1),
    );
    send(&app, get_req("/items/s")).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let started = Instant::now();
    let replies = futures_join((0..5).map(|_| {
        let app = app.clone();
        tokio::spawn(async move { send(&app, get_req("/items/s")).await })
    }))
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "stale answers do not wait for the 1 s handler"
    );
    assert!(replies
        .iter()
        .all(|r| r.cache_status().contains("fwd=stale") && r.body.contains("\"call\":1")));
    // One background refresh, then fresh answers.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = send(&app, get_req("/items/s")).await;
        if reply.body.contains("\"call\":2") && !reply.cache_status().contains("stale") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never refreshed: {}",
            reply.cache_status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn mutations_invalidate_by_shared_path_parameter() {
    let (app, calls) = in_memory_app();
    send(&app, get_req("/items/1")).await;
    send(&app, get_req("/items/2")).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let posted = send(&app, Request::post("/items/1").body(Body::empty()).unwrap()).await;
    assert_eq!(posted.status, StatusCode::NO_CONTENT);
    send(&app, get_req("/items/1")).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3, "item 1 was dropped");
    send(&app, get_req("/items/2")).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3, "item 2 was kept");
}

fn conditional_get(uri: &str, headers: &[(header::HeaderName, &str)]) -> Request<Body> {
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    request.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn a_304_repeats_the_validator_the_client_holds() {
    let (app, _) = in_memory_app();
    let first = send(&app, get_req("/items/3")).await;
    let strong = first.headers[header::ETAG].to_str().unwrap().to_owned();
    // A client whose 200 came compressed holds the weak form: its 304 says the same.
    let weak = format!("W/{strong}");
    for (held, answered) in [(&weak, &weak), (&strong, &strong)] {
        let reply = send(
            &app,
            conditional_get("/items/3", &[(header::IF_NONE_MATCH, held)]),
        )
        .await;
        assert_eq!(reply.status, StatusCode::NOT_MODIFIED);
        assert_eq!(reply.headers[header::ETAG], answered.as_str());
    }
}

#[tokio::test]
async fn a_conditional_request_gets_304_when_the_fresh_answer_matches() {
    let (app, calls) = in_memory_app();
    // The answer the handler will give on its first call, known to the client beforehand.
    let etag = specjet::cache::etag_for(br#"{"id":"4","call":1}"#);
    let miss = send(
        &app,
        conditional_get("/items/4", &[(header::IF_NONE_MATCH, &etag)]),
    )
    .await;
    assert_eq!(miss.status, StatusCode::NOT_MODIFIED, "on a miss");
    assert_eq!(miss.headers[header::ETAG], etag.as_str());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // `no-cache` asks the handler; its answer changed (call 2), so it is a 200...
    let etag_2 = specjet::cache::etag_for(br#"{"id":"4","call":2}"#);
    let forced = send(
        &app,
        conditional_get(
            "/items/4",
            &[
                (header::IF_NONE_MATCH, &etag),
                (header::CACHE_CONTROL, "no-cache"),
            ],
        ),
    )
    .await;
    assert_eq!(forced.status, StatusCode::OK);
    // ...and when it matches what the client holds, a 304.
    let etag_3 = specjet::cache::etag_for(br#"{"id":"4","call":3}"#);
    let list = format!("{etag_2}, {etag_3}");
    let forced = send(
        &app,
        conditional_get(
            "/items/4",
            &[
                (header::IF_NONE_MATCH, &list),
                (header::CACHE_CONTROL, "no-cache"),
            ],
        ),
    )
    .await;
    assert_eq!(forced.status, StatusCode::NOT_MODIFIED, "with no-cache");
    assert_eq!(forced.headers[header::ETAG], etag_3.as_str());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn spellings_of_one_id_share_an_entry_and_its_invalidation() {
    let (app, calls) = in_memory_app();
    send(&app, get_req("/items/+5")).await;
    for spelling in ["/items/05", "/items/5", "/items/%35"] {
        let reply = send(&app, get_req(spelling)).await;
        assert!(reply.cache_status().contains("hit"), "{spelling}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Deleting item 5 drops what was stored under `+5`: no deleted item is served.
    let posted = send(&app, Request::post("/items/5").body(Body::empty()).unwrap()).await;
    assert_eq!(posted.status, StatusCode::NO_CONTENT);
    let reply = send(&app, get_req("/items/+5")).await;
    assert!(
        !reply.cache_status().contains("hit"),
        "{}",
        reply.cache_status()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // And the other way round.
    send(
        &app,
        Request::post("/items/005").body(Body::empty()).unwrap(),
    )
    .await;
    send(&app, get_req("/items/5")).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_repeated_query_parameter_is_not_read_from_another_order() {
    let (app, calls) = in_memory_app();
    send(&app, get_req("/items/1?limit=2&limit=abc")).await;
    let reply = send(&app, get_req("/items/1?limit=abc&limit=2")).await;
    assert!(
        !reply.cache_status().contains("hit"),
        "{}",
        reply.cache_status()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

static FLAKY: OperationInfo =
    OperationInfo::new("flaky", Method::GET, "/flaky/{id}").with_params(&[("id", "id")]);

/// How the flaky handler answers: 0 well, 1 with a 503, 2 past its timeout.
static FLAKY_MODE: AtomicUsize = AtomicUsize::new(0);

/// `GET /flaky/{id}` cached 100 ms, with an hour of `stale-if-error` and a 200 ms timeout.
fn flaky_app() -> Router {
    let read = |Path(id): Path<String>| async move {
        match FLAKY_MODE.load(Ordering::SeqCst) {
            0 => (StatusCode::OK, format!("item {id}")),
            1 => (StatusCode::SERVICE_UNAVAILABLE, "down".to_owned()),
            _ => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                (StatusCode::OK, "too late".to_owned())
            }
        }
    };
    let router = Router::new().route("/flaky/{id}", get(read));
    let policies = Policies {
        cache: Some(CachePolicy {
            stale_if_error: Duration::from_secs(3600),
            ..CachePolicy::new(Duration::from_millis(100))
        }),
        timeout: Some(Duration::from_millis(200)),
        ..Policies::NONE
    };
    services(Some(memory_cache()), None).apply(router, &[(&FLAKY, policies)])
}

#[tokio::test]
async fn a_failing_handler_is_answered_by_a_stale_entry_inside_stale_if_error() {
    let app = flaky_app();
    FLAKY_MODE.store(0, Ordering::SeqCst);
    assert_eq!(send(&app, get_req("/flaky/1")).await.body, "item 1");
    tokio::time::sleep(Duration::from_millis(150)).await; // expired
    for (mode, what) in [(1, "a 503"), (2, "a timeout")] {
        FLAKY_MODE.store(mode, Ordering::SeqCst);
        let started = Instant::now();
        let reply = send(&app, get_req("/flaky/1")).await;
        assert_eq!(reply.status, StatusCode::OK, "on {what}");
        assert_eq!(reply.body, "item 1", "on {what}");
        assert_eq!(
            reply.cache_status(),
            "specjet; hit; fwd=stale; detail=stale-if-error",
            "on {what}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "bounded by the timeout"
        );
    }
    // Nothing stored: the failure is the answer.
    FLAKY_MODE.store(1, Ordering::SeqCst);
    assert_eq!(
        send(&app, get_req("/flaky/2")).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    FLAKY_MODE.store(2, Ordering::SeqCst);
    assert_eq!(
        send(&app, get_req("/flaky/3")).await.status,
        StatusCode::GATEWAY_TIMEOUT
    );
    // The handler answers again: a fresh entry.
    FLAKY_MODE.store(0, Ordering::SeqCst);
    let reply = send(&app, get_req("/flaky/1")).await;
    assert_eq!(reply.cache_status(), "specjet; fwd=miss; stored");
}

static SHELF_PET: OperationInfo =
    OperationInfo::new("shelfPet", Method::GET, "/shelves/{shelf}/pets/{petId}")
        .with_params(&[("shelf", "shelf"), ("petId", "petId")])
        .with_param_types(&[ParamType::Text, ParamType::Integer]);
static ADOPT: OperationInfo = OperationInfo::new("adopt", Method::POST, "/adoptions/{id}")
    .with_params(&[("id", "id")])
    .with_param_types(&[ParamType::Integer]);

#[tokio::test]
async fn tags_drop_entries_across_operations_by_value() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let read = move |Path((shelf, pet)): Path<(String, String)>| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move { format!("{shelf}/{pet} #{n}") }
    };
    let router = Router::new()
        .route("/shelves/{shelf}/pets/{petId}", get(read))
        .route(
            "/adoptions/{id}",
            axum::routing::post(|| async { StatusCode::NO_CONTENT }),
        );
    let cached = Policies {
        cache: Some(CachePolicy {
            tags: &[&[TagPiece::Text("pet:"), TagPiece::Param("petId")]],
            ..CachePolicy::new(Duration::from_secs(60))
        }),
        ..Policies::NONE
    };
    let adopting = Policies {
        invalidate_tags: &[&[TagPiece::Text("pet:"), TagPiece::Param("id")]],
        ..Policies::NONE
    };
    let app = services(Some(memory_cache()), None)
        .apply(router, &[(&SHELF_PET, cached), (&ADOPT, adopting)]);
    for path in [
        "/shelves/a/pets/5",
        "/shelves/b/pets/05",
        "/shelves/a/pets/6",
    ] {
        send(&app, get_req(path)).await;
        assert!(
            send(&app, get_req(path))
                .await
                .cache_status()
                .contains("hit"),
            "{path}"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let adopted = send(
        &app,
        Request::post("/adoptions/+5").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(adopted.status, StatusCode::NO_CONTENT);
    // Pet 5's entries are gone on every shelf; pet 6's stays.
    for (path, hit) in [
        ("/shelves/a/pets/5", false),
        ("/shelves/b/pets/5", false),
        ("/shelves/a/pets/6", true),
    ] {
        let reply = send(&app, get_req(path)).await;
        assert_eq!(reply.cache_status().contains("hit"), hit, "{path}");
    }
}

// ---- Redis ----

async fn wait_connected(cache: &Cache) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cache.redis_connected() {
        assert!(Instant::now() < deadline, "no redis connection");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn two_instances_share_entries_and_invalidations_through_redis() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix("shared");
    let calls = Arc::new(AtomicUsize::new(0));
    let cache_a = Cache::new(settings(&prefix), Some(&url));
    let cache_b = Cache::new(settings(&prefix), Some(&url));
    wait_connected(&cache_a).await;
    wait_connected(&cache_b).await;
    let long = policy(Duration::from_secs(60), Duration::ZERO);
    let a = app(&cache_a, calls.clone(), long, Duration::ZERO);
    let b = app(&cache_b, calls.clone(), long, Duration::ZERO);

    let stored = send(&a, get_req("/items/7")).await;
    // The answer did not wait for its Redis store; once it lands, b finds it.
    cache_a.redis_settled().await;
    let shared = send(&b, get_req("/items/7")).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "b answered from redis");
    assert_eq!(shared.body, stored.body);
    assert_eq!(shared.cache_status(), "specjet; hit; detail=redis");
    assert_eq!(
        send(&b, get_req("/items/7")).await.cache_status(),
        "specjet; hit; detail=memory"
    );

    // An invalidation on a reaches b's memory tier too.
    send(&a, Request::post("/items/7").body(Body::empty()).unwrap()).await;
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let reply = send(&b, get_req("/items/7")).await;
        if reply.cache_status().contains("fwd=miss") {
            break;
        }
        assert!(Instant::now() < deadline, "b kept the invalidated entry");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

static PART_ITEM: OperationInfo = OperationInfo::new("partItem", Method::GET, "/parts/item/{id}")
    .with_params(&[("id", "id")])
    .with_param_types(&[ParamType::Integer]);
static PART_SLOW: OperationInfo = OperationInfo::new("partSlow", Method::GET, "/parts/slow/{id}")
    .with_params(&[("id", "id")])
    .with_param_types(&[ParamType::Integer]);
static COMPOSITE: OperationInfo = OperationInfo::new("composite", Method::GET, "/composite/{id}")
    .with_params(&[("id", "id")])
    .with_param_types(&[ParamType::Integer]);
static COMPOSITE_PARTS: [specjet::fan_out::Part; 2] = [
    specjet::fan_out::Part {
        field: "item",
        path: "/parts/item/{id}",
        args: &[specjet::fan_out::Arg {
            name: "id",
            in_path: true,
            from: specjet::fan_out::Source::Path("id"),
        }],
        optional: false,
    },
    specjet::fan_out::Part {
        field: "slow",
        path: "/parts/slow/{id}",
        args: &[specjet::fan_out::Arg {
            name: "id",
            in_path: true,
            from: specjet::fan_out::Source::Path("id"),
        }],
        optional: false,
    },
];

/// A cached composite (`/composite/{id}`) of two cached parts: an item (tagged `item:{id}`)
/// and a part that answers 50 ms later, after it invalidates `item:{id}` when `invalidate`
/// is set (a write landing while the composite is made). Counts the parts' handler calls.
fn composite_app(cache: &Cache, calls: Arc<AtomicUsize>, invalidate: bool) -> Router {
    let counter = calls.clone();
    let item = move |Path(id): Path<String>| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move { axum::Json(serde_json::json!({"id": id, "call": n})) }
    };
    let (counter, writer) = (calls, cache.clone());
    let slow = move |Path(id): Path<String>| {
        counter.fetch_add(1, Ordering::SeqCst);
        let writer = writer.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if invalidate {
                writer.invalidate(&format!("item:{id}")).await;
            }
            axum::Json(serde_json::json!({"id": id}))
        }
    };
    let slot = specjet::fan_out::Slot::default();
    let router = Router::new()
        .route("/parts/item/{id}", get(item))
        .route("/parts/slow/{id}", get(slow))
        .route("/composite/{id}", get(slot.handler(&COMPOSITE_PARTS)));
    let cached = |tags| Policies {
        cache: Some(CachePolicy {
            tags,
            ..CachePolicy::new(Duration::from_secs(60))
        }),
        ..Policies::NONE
    };
    let app = services(Some(cache.clone()), None).apply(
        router,
        &[
            (
                &PART_ITEM,
                cached(&[&[TagPiece::Text("item:"), TagPiece::Param("id")]]),
            ),
            (&PART_SLOW, cached(&[])),
            (&COMPOSITE, cached(&[])),
        ],
    );
    slot.fill(&app);
    app
}

#[tokio::test]
async fn an_answer_the_handler_encoded_itself_is_not_stored() {
    // Encoded for one client's `Accept-Encoding`: an entry would serve it to every client.
    let router = Router::new().route(
        "/items/{id}",
        get(|| async {
            (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CONTENT_ENCODING, "gzip"),
                ],
                "(gzip bytes)",
            )
        }),
    );
    let cached = Policies {
        cache: Some(policy(Duration::from_secs(60), Duration::ZERO)),
        ..Policies::NONE
    };
    let cache = memory_cache();
    let app = services(Some(cache.clone()), None).apply(router, &[(&GET_ITEM, cached)]);
    for _ in 0..2 {
        let reply = send(
            &app,
            Request::get("/items/1")
                .header(header::ACCEPT_ENCODING, "gzip")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(reply.cache_status(), "specjet; fwd=miss");
    }
    assert_eq!(cache.stats().stored.load(Ordering::SeqCst), 0);
}

/// Two replicas of the composite app sharing a Redis, and their parts' call count.
struct CompositeReplicas {
    a: Router,
    b: Router,
    cache_a: Cache,
    cache_b: Cache,
    calls: Arc<AtomicUsize>,
}

/// Two replicas of the composite app sharing a Redis (`REDIS_URL`; `None` without one), the
/// first one's slow part invalidating when `invalidate` is set.
async fn composite_replicas(name: &str, invalidate: bool) -> Option<CompositeReplicas> {
    let url = redis_url()?;
    let prefix = unique_prefix(name);
    let (cache_a, cache_b) = (
        Cache::new(settings(&prefix), Some(&url)),
        Cache::new(settings(&prefix), Some(&url)),
    );
    wait_connected(&cache_a).await;
    wait_connected(&cache_b).await;
    let calls = Arc::new(AtomicUsize::new(0));
    Some(CompositeReplicas {
        a: composite_app(&cache_a, calls.clone(), invalidate),
        b: composite_app(&cache_b, calls.clone(), false),
        cache_a,
        cache_b,
        calls,
    })
}

#[tokio::test]
async fn a_composites_parts_reach_redis_as_direct_reads_do() {
    let Some(CompositeReplicas {
        a,
        b,
        cache_a,
        calls,
        ..
    }) = composite_replicas("composite", false).await
    else {
        return;
    };

    let composed = send(&a, get_req("/composite/7")).await;
    assert_eq!(composed.status, StatusCode::OK, "{}", composed.body);
    assert_eq!(
        composed.body,
        r#"{"item":{"id":"7","call":1},"slow":{"id":"7"}}"#
    );
    assert_eq!(composed.cache_status(), "specjet; fwd=miss; stored");
    // Once the stores land, the parts' entries are those of direct reads (the parts were
    // asked with `Accept-Encoding: identity`): another replica finds all three in Redis.
    cache_a.redis_settled().await;
    for path in ["/composite/7", "/parts/item/7", "/parts/slow/7"] {
        assert_eq!(
            send(&b, get_req(path)).await.cache_status(),
            "specjet; hit; detail=redis",
            "{path}"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2, "each part ran once");
}

#[tokio::test]
async fn a_part_invalidated_while_its_composite_is_made_reaches_no_tier() {
    let Some(CompositeReplicas {
        a,
        b,
        cache_a,
        cache_b,
        ..
    }) = composite_replicas("composite-write", true).await
    else {
        return;
    };

    // The item part answers first and is stored; the slow part then invalidates it (a write
    // landing while the composite is made): no tier may serve the item read before it, even
    // when its Redis store lands after the invalidation.
    let composed = send(&a, get_req("/composite/7")).await;
    assert_eq!(composed.status, StatusCode::OK, "{}", composed.body);
    cache_a.redis_settled().await;
    assert_eq!(
        send(&b, get_req("/parts/item/7")).await.cache_status(),
        "specjet; fwd=miss; stored",
        "the item read before the write is not in Redis"
    );
    cache_b.redis_settled().await;
    // Not in the memory of the replica that read it either: it finds b's fresh answer in
    // Redis.
    assert_eq!(
        send(&a, get_req("/parts/item/7")).await.cache_status(),
        "specjet; hit; detail=redis"
    );
    assert_eq!(
        send(&b, get_req("/parts/slow/7")).await.cache_status(),
        "specjet; hit; detail=redis",
        "the other part is"
    );
}

#[tokio::test]
async fn foreign_data_under_a_key_is_a_miss() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_prefix("corrupt");
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}:e:getItem:GET:/items/9"))
        .arg("not an entry")
        .query_async(&mut connection)
        .await
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let cache = Cache::new(
        CacheSettings {
            backend: Backend::Redis,
            ..settings(&prefix)
        },
        Some(&url),
    );
    wait_connected(&cache).await;
    let app = app(
        &cache,
        calls.clone(),
        policy(Duration::from_secs(60), Duration::ZERO),
        Duration::ZERO,
    );
    let reply = send(&app, get_req("/items/9")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    cache.redis_settled().await;
    // The handler's answer replaced the foreign bytes.
    assert_eq!(
        send(&app, get_req("/items/9")).await.cache_status(),
        "specjet; hit; detail=redis"
    );
}

#[tokio::test]
async fn the_service_keeps_answering_while_redis_is_down_and_recovers() {
    let port = free_port();
    let Some(redis) = PrivateRedis::start(port) else {
        eprintln!("skipped: redis-server is not installed");
        return;
    };
    let prefix = unique_prefix("fault");
    let calls = Arc::new(AtomicUsize::new(0));
    let cache = Cache::new(settings(&prefix), Some(&redis.url()));
    wait_connected(&cache).await;
    let first = app(
        &cache,
        calls.clone(),
        policy(Duration::from_secs(60), Duration::ZERO),
        Duration::ZERO,
    );
    send(&first, get_req("/items/1")).await;

    drop(redis); // killed
    let started = Instant::now();
    let cached = send(&first, get_req("/items/1")).await;
    assert_eq!(cached.status, StatusCode::OK);
    assert_eq!(cached.cache_status(), "specjet; hit; detail=memory");
    for id in 2..6 {
        let reply = send(&first, get_req(&format!("/items/{id}"))).await;
        assert_eq!(reply.status, StatusCode::OK, "no 5xx while redis is down");
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "redis faults are bounded by the command timeout"
    );
    assert_eq!(
        send(
            &first,
            Request::post("/items/1").body(Body::empty()).unwrap()
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );

    // Redis returns: entries stored by this instance reach a fresh instance again.
    let _redis = PrivateRedis::start(port).expect("restarts on the same port");
    let fresh = Cache::new(
        settings(&prefix),
        Some(&format!("redis://127.0.0.1:{port}")),
    );
    wait_connected(&fresh).await;
    let other = app(
        &fresh,
        calls.clone(),
        policy(Duration::from_secs(60), Duration::ZERO),
        Duration::ZERO,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut id = 100;
    loop {
        id += 1;
        send(&first, get_req(&format!("/items/{id}"))).await;
        cache.redis_settled().await;
        if send(&other, get_req(&format!("/items/{id}")))
            .await
            .cache_status()
            == "specjet; hit; detail=redis"
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first instance never wrote to redis again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_hung_redis_costs_one_timeout_not_one_per_request() {
    let port = free_port();
    let Some(redis) = PrivateRedis::start(port) else {
        eprintln!("skipped: redis-server is not installed");
        return;
    };
    let cache = Cache::new(settings(&unique_prefix("hung")), Some(&redis.url()));
    wait_connected(&cache).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let app = app(
        &cache,
        calls.clone(),
        policy(Duration::from_secs(60), Duration::ZERO),
        Duration::ZERO,
    );
    send(&app, get_req("/items/1")).await;

    redis.signal("STOP");
    let mut waited = 0;
    for id in 0..200 {
        let started = Instant::now();
        let reply = send(&app, get_req(&format!("/items/{}", 1000 + id))).await;
        assert_eq!(reply.status, StatusCode::OK);
        if started.elapsed() >= specjet::REDIS_COMMAND_TIMEOUT * 8 / 10 {
            waited += 1;
        }
    }
    // The requests that met the failures opening the breaker waited; no other did.
    assert!(
        waited <= specjet::REDIS_OPEN_AFTER as usize,
        "{waited} requests waited for redis"
    );
    assert!(cache.redis_skipped());
    let cached = send(&app, get_req("/items/1")).await;
    assert_eq!(cached.cache_status(), "specjet; hit; detail=memory");

    redis.signal("CONT");
    let resumed = Instant::now();
    while cache.redis_skipped() {
        assert!(
            resumed.elapsed() < Duration::from_secs(5),
            "the breaker never closed after redis came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Back within a probe interval or two.
    assert!(
        resumed.elapsed() < specjet::REDIS_PROBE_INTERVAL * 3,
        "{:?}",
        resumed.elapsed()
    );
}

/// How Redis goes away in [`no_entry_read_before_a_write_is_served_after_a_redis_outage`].
#[derive(Debug, Clone, Copy)]
enum Outage {
    /// SIGSTOP, then SIGCONT: every command times out, then Redis carries on as it was.
    Paused,
    /// Killed after a `SAVE`, started again on the same folder: back with its data.
    RestartedWithData,
    /// Killed, started again empty.
    RestartedEmpty,
}

/// A write while Redis is away cannot drop the entries stored there before it; once Redis is
/// back, neither the writer nor a replica started afterwards may be served one of them.
async fn outage_then_read(outage: Outage) {
    let port = free_port();
    let dir = std::env::temp_dir().join(unique_prefix("outage"));
    std::fs::create_dir_all(&dir).unwrap();
    let Some(redis) = PrivateRedis::start_in(port, &dir) else {
        eprintln!("skipped: redis-server is not installed");
        return;
    };
    let url = redis.url();
    let prefix = unique_prefix("outage");
    let calls = Arc::new(AtomicUsize::new(0));
    let replica = |calls: &Arc<AtomicUsize>| {
        let cache = Cache::new(settings(&prefix), Some(&url));
        let app = app(
            &cache,
            calls.clone(),
            policy(Duration::from_secs(60), Duration::ZERO),
            Duration::ZERO,
        );
        (cache, app)
    };
    let (writer, writer_app) = replica(&calls);
    wait_connected(&writer).await;
    let before = send(&writer_app, get_req("/items/1")).await;
    assert!(before.body.contains("\"call\":1"), "{}", before.body);
    writer.redis_settled().await;
    let (reader, reader_app) = replica(&calls);
    wait_connected(&reader).await;
    assert_eq!(
        send(&reader_app, get_req("/items/1")).await.cache_status(),
        "specjet; hit; detail=redis",
        "the entry is in redis before the outage"
    );

    let redis = match outage {
        Outage::Paused => {
            redis.signal("STOP");
            Some(redis)
        }
        Outage::RestartedWithData => {
            redis.save();
            drop(redis);
            None
        }
        Outage::RestartedEmpty => {
            drop(redis);
            std::fs::remove_dir_all(&dir).unwrap();
            std::fs::create_dir_all(&dir).unwrap();
            None
        }
    };
    // The write's invalidation cannot reach Redis.
    let write = send(
        &writer_app,
        Request::post("/items/1").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(write.status, StatusCode::NO_CONTENT);
    let _redis = match redis {
        Some(redis) => {
            redis.signal("CONT");
            redis
        }
        None => PrivateRedis::start_in(port, &dir).expect("restarts on the same port"),
    };

    // Reads on the writer while Redis comes back and after: never the answer from before.
    let back = Instant::now();
    let mut from_redis = 0;
    while back.elapsed() < Duration::from_secs(3) {
        let read = send(&writer_app, get_req("/items/1")).await;
        assert_eq!(read.status, StatusCode::OK);
        assert!(
            !read.body.contains("\"call\":1,") && !read.body.ends_with("\"call\":1}"),
            "{outage:?}: the writer was served the answer from before its write: {} ({})",
            read.body,
            read.cache_status()
        );
        if read.cache_status() == "specjet; hit; detail=redis" {
            from_redis += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A replica that starts now reads Redis as it is: the entry from before is gone or dead.
    writer.redis_settled().await;
    let (late, late_app) = replica(&calls);
    wait_connected(&late).await;
    let read = send(&late_app, get_req("/items/1")).await;
    assert!(
        !read.body.ends_with("\"call\":1}"),
        "{outage:?}: a replica started after the outage was served the answer from before the write: {}",
        read.body
    );
    eprintln!("{outage:?}: {from_redis} reads on the writer came from redis after it was back");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn no_entry_read_before_a_write_is_served_after_redis_was_paused() {
    outage_then_read(Outage::Paused).await;
}

#[tokio::test]
async fn no_entry_read_before_a_write_is_served_after_redis_restarted_with_its_data() {
    outage_then_read(Outage::RestartedWithData).await;
}

#[tokio::test]
async fn no_entry_read_before_a_write_is_served_after_redis_restarted_empty() {
    outage_then_read(Outage::RestartedEmpty).await;
}

static JSON_ITEM: OperationInfo =
    OperationInfo::new("getJson", Method::GET, "/files/{s1}").with_params(&[("name", "s1")]);
static META_ITEM: OperationInfo =
    OperationInfo::new("getMeta", Method::GET, "/files/{s1}").with_params(&[("name", "s1")]);

#[tokio::test]
async fn operations_sharing_a_route_are_never_cached_for_each_other() {
    // `/files/{name}.json` and `/files/{name}:meta` share one axum route and method; the
    // handler tells them apart after the layers ran, so neither's policy may cache the route.
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let handler = move || {
        let counter = counter.clone();
        async move { format!("call {}", counter.fetch_add(1, Ordering::SeqCst) + 1) }
    };
    let services = services(Some(memory_cache()), None);
    let cached = Policies {
        cache: Some(CachePolicy::new(Duration::from_secs(60))),
        ..Policies::NONE
    };
    let app = services.apply(
        Router::new().route("/files/{s1}", get(handler)),
        &[(&JSON_ITEM, cached), (&META_ITEM, Policies::NONE)],
    );
    let first = send(&app, get_req("/files/a:meta")).await;
    let second = send(&app, get_req("/files/a:meta")).await;
    assert_eq!(
        (first.body.as_str(), second.body.as_str()),
        ("call 1", "call 2")
    );
    assert!(second.headers.get("cache-status").is_none());
}
