//! The typed client generated from the petstore's spec (`x-specjet.client: true`): through the
//! router in process (every layer, no socket) and over HTTP (the built binary on a free port
//! of 127.0.0.1), with its retries, deadlines and errors.

#[path = "../../support/running.rs"]
mod running;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use petstore_example::api::operations::{create_pet, delete_pet, list_pets, show_pet_by_id};
use petstore_example::api::types::{NewPet, Pet, PetStatus};
use petstore_example::api::{self, Client};
use petstore_example::handlers::PetStore;
use specjet::client::{ClientError, Http, Retry};
use specjet::security::Principal;
use specjet::Services;

/// The development key's digest (`main.rs`), for the in-process router.
const DEVELOPMENT_KEYS: &str =
    "dev:db79e91d2d3c2370ea45699cf00a5fde04897dd9b59d5f8d5d12db2d53794b2e";

fn new_pet(name: &str, tag: &str) -> NewPet {
    NewPet {
        name: name.to_owned(),
        tag: Some(tag.to_owned()),
        status: Some(PetStatus::Available),
    }
}

/// Creates a pet with `client`, which must be answered 201.
async fn create(client: &Client, name: &str, tag: &str) -> Pet {
    match client
        .create_pet(create_pet::Request::new(new_pet(name, tag)))
        .await
        .unwrap()
    {
        create_pet::Response::Created(pet) => pet,
        other => panic!("expected 201, got {other:?}"),
    }
}

/// Finds `pet` with `client`, as it is.
async fn shown(client: &Client, pet: &Pet) {
    let shown = client
        .show_pet_by_id(show_pet_by_id::Request::new(pet.id))
        .await
        .unwrap();
    assert!(
        matches!(&shown, show_pet_by_id::Response::Ok(found) if found == pet),
        "{shown:?}"
    );
}

/// Deletes pet `id` with `client`'s key, and finds it gone (not answered from any cache).
async fn delete_and_find_gone(client: &Client, id: i64) {
    let deleted = client
        .delete_pet(delete_pet::Request::new(id, Principal::unverified()))
        .await
        .unwrap();
    assert!(
        matches!(deleted, delete_pet::Response::NoContent),
        "{deleted:?}"
    );
    let gone = client
        .show_pet_by_id(show_pet_by_id::Request::new(id))
        .await
        .unwrap();
    assert!(
        matches!(gone, show_pet_by_id::Response::NotFound(_)),
        "{gone:?}"
    );
}

/// The petstore in process, without Redis (a shared one could hold an earlier run's pets).
fn in_process() -> Client {
    std::env::set_var("PETSTORE_API_KEYS", DEVELOPMENT_KEYS);
    let services = Services::new(api::settings(), None);
    Client::in_process(api::router_with(PetStore::default(), &services))
}

#[tokio::test]
async fn typed_calls_round_trip_through_every_layer_in_process() {
    let client = in_process();
    let rex = create(&client, "Rex", "dog").await;
    assert_eq!(rex.name, "Rex");
    create(&client, "Tom", "cat").await;

    shown(&client, &rex).await;

    // Query parameters (an exploded array, a default) as the server reads them, and a
    // response header read back into its field.
    let mut request = list_pets::Request::new();
    request.tag = Some(vec!["dog".to_owned(), "fish".to_owned()]);
    request.limit = 1;
    let listed = client.list_pets(request).await.unwrap();
    let list_pets::Response::Ok { body, x_next } = listed else {
        panic!("expected 200, got {listed:?}");
    };
    assert_eq!(body, vec![rex.clone()]);
    assert_eq!(x_next, None, "one dog: no next page");

    // The server's validation answers in the spec's own error shape, a documented variant.
    let mut request = list_pets::Request::new();
    request.limit = 0;
    match client.list_pets(request).await.unwrap() {
        list_pets::Response::Default { status: 400, body } => {
            let details = body.details.unwrap_or_default();
            assert!(details.iter().any(|d| d.name == "limit"), "{details:?}");
        }
        other => panic!("expected 400, got {other:?}"),
    }

    let missing = client
        .show_pet_by_id(show_pet_by_id::Request::new(999_999))
        .await
        .unwrap();
    assert!(
        matches!(missing, show_pet_by_id::Response::NotFound(_)),
        "{missing:?}"
    );

    // The operation's security: no credential is refused; the scheme's method sends one.
    let refused = client
        .delete_pet(delete_pet::Request::new(rex.id, Principal::unverified()))
        .await
        .unwrap();
    assert!(
        matches!(refused, delete_pet::Response::Unauthorized(_)),
        "{refused:?}"
    );
    let keyed = client.clone().with_api_key("petstore-dev-key");
    delete_and_find_gone(&keyed, rex.id).await;
}

#[tokio::test]
async fn over_http_a_write_past_its_limit_is_answered_not_retried() {
    let service =
        running::Service::start(env!("CARGO_BIN_EXE_petstore-example"), &[], &["REDIS_URL"]);
    let client = Client::new(Http::new(&format!("http://{}", service.addr)).unwrap());
    let rex = create(&client, "Rex", "dog").await;
    shown(&client, &rex).await;

    // `writes` allows a burst of 10 a client: a POST past it is answered 429 with a wait of
    // seconds, which the client does not wait out (a POST without an idempotency key may
    // have been acted on).
    let mut limited = None;
    for n in 0..12 {
        let started = Instant::now();
        let answer = client
            .create_pet(create_pet::Request::new(new_pet(&format!("pet{n}"), "cat")))
            .await
            .unwrap();
        if let create_pet::Response::Default { status: 429, .. } = answer {
            limited = Some(started.elapsed());
            break;
        }
    }
    let elapsed = limited.expect("a write past the burst is limited");
    assert!(elapsed < Duration::from_millis(900), "{elapsed:?}");
}

/// A service answering 429 (`Retry-After: 1`) to the first `limited` calls of every route,
/// then the pet; and counting the calls.
fn flaky(limited: u32, retry_after: &'static str) -> (Client, Arc<AtomicU32>) {
    use specjet::axum::{
        http::{header, StatusCode},
        response::IntoResponse,
        routing::get,
        Router,
    };
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let answer = move || {
        let seen = seen.clone();
        async move {
            if seen.fetch_add(1, Ordering::SeqCst) < limited {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [
                        (header::RETRY_AFTER, retry_after),
                        (header::CONTENT_TYPE, "application/problem+json"),
                    ],
                    r#"{"type":"about:blank","title":"Too Many Requests","status":429}"#,
                )
                    .into_response();
            }
            (
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"id":7,"name":"Rex"}"#,
            )
                .into_response()
        }
    };
    let router = Router::new().route("/pets/{id}", get(answer.clone()).delete(answer.clone()));
    let router = router.route("/pets", specjet::axum::routing::post(answer));
    (Client::in_process(router), calls)
}

#[tokio::test]
async fn a_429_is_waited_out_as_the_server_asks_and_retried_once() {
    let (client, calls) = flaky(1, "1");
    let started = Instant::now();
    let shown = client
        .show_pet_by_id(show_pet_by_id::Request::new(7))
        .await
        .unwrap();
    assert!(
        matches!(&shown, show_pet_by_id::Response::Ok(pet) if pet.id == 7),
        "{shown:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );
}

#[tokio::test]
async fn a_post_is_sent_once_and_retries_are_bounded() {
    let (client, calls) = flaky(u32::MAX, "0");
    let answer = client
        .create_pet(create_pet::Request::new(new_pet("Rex", "dog")))
        .await
        .unwrap();
    assert!(
        matches!(answer, create_pet::Response::Problem(ref p) if p.status == 429),
        "{answer:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a POST is not sent again");

    let answer = client
        .show_pet_by_id(show_pet_by_id::Request::new(7))
        .await
        .unwrap();
    assert!(matches!(answer, show_pet_by_id::Response::Problem(ref p) if p.retry_after == Some(0)));
    assert_eq!(calls.load(Ordering::SeqCst), 1 + 3, "three attempts in all");
}

#[tokio::test]
async fn no_wait_goes_past_the_deadline_or_the_bound() {
    // The server asks for 5 s; the client's deadline is 1 s: the 429 is the answer, at once.
    let (client, calls) = flaky(u32::MAX, "5");
    let client = client.configure(|core| core.with_timeout(Duration::from_secs(1)));
    let started = Instant::now();
    let answer = client
        .show_pet_by_id(show_pet_by_id::Request::new(7))
        .await
        .unwrap();
    assert!(
        matches!(answer, show_pet_by_id::Response::Problem(_)),
        "{answer:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Nor past the client's longest wait.
    let (client, calls) = flaky(u32::MAX, "5");
    let client = client.configure(|core| {
        core.with_retry(Retry {
            max_wait: Duration::from_secs(2),
            ..Retry::default()
        })
    });
    let started = Instant::now();
    client
        .show_pet_by_id(show_pet_by_id::Request::new(7))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_slow_service_ends_at_the_deadline_with_a_typed_error() {
    use specjet::axum::{routing::get, Router};
    let slow = Router::new().route(
        "/pets/{id}",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let client =
        Client::in_process(slow).configure(|core| core.with_timeout(Duration::from_millis(200)));
    let started = Instant::now();
    let error = client
        .show_pet_by_id(show_pet_by_id::Request::new(7))
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Timeout { .. }), "{error}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_dead_service_is_a_typed_error_after_bounded_retries() {
    let port = running::free_port();
    let client = Client::new(Http::new(&format!("http://127.0.0.1:{port}")).unwrap());
    let started = Instant::now();
    let error = client
        .show_pet_by_id(show_pet_by_id::Request::new(7))
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Connect { .. }), "{error}");
    assert!(error.to_string().contains("showPetById"), "{error}");
    // Three attempts, 100 ms and 200 ms of backoff (and a tenth of jitter) between them.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // An answer that is not what the spec documents is an error naming the operation.
    use specjet::axum::{routing::get, Router};
    let wrong = Router::new().route(
        "/pets/{id}",
        get(|| async { ([("content-type", "application/json")], "[1]") }),
    );
    let error = Client::in_process(wrong)
        .show_pet_by_id(show_pet_by_id::Request::new(7))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::Decode { status: 200, .. }),
        "{error}"
    );
}

/// A transport into the petstore in process that notes the status of every answer it carries.
struct Recording {
    inner: specjet::client::InProcess,
    statuses: Arc<std::sync::Mutex<Vec<u16>>>,
}

impl specjet::client::Transport for Recording {
    fn send(
        &self,
        operation: &'static str,
        request: specjet::http::Request<specjet::bytes::Bytes>,
    ) -> specjet::client::Sending<'_> {
        let sent = self.inner.send(operation, request);
        let statuses = self.statuses.clone();
        Box::pin(async move {
            let answer = sent.await;
            if let Ok(response) = &answer {
                statuses.lock().unwrap().push(response.status().as_u16());
            }
            answer
        })
    }
}

#[tokio::test]
async fn a_cached_answer_is_revalidated_and_reused_on_304_never_stale() {
    std::env::set_var("PETSTORE_API_KEYS", DEVELOPMENT_KEYS);
    let services = Services::new(api::settings(), None);
    let statuses = Arc::new(std::sync::Mutex::new(Vec::new()));
    let transport = Recording {
        inner: specjet::client::InProcess::new(api::router_with(PetStore::default(), &services)),
        statuses: statuses.clone(),
    };
    let client = Client::new(transport).with_api_key("petstore-dev-key");
    let rex = create(&client, "Rex", "dog").await;
    statuses.lock().unwrap().clear();
    for _ in 0..3 {
        shown(&client, &rex).await;
    }
    // `showPetById` is cached (`x-cache`): the first answer is stored with its ETag, the next
    // two are 304s on the wire and the stored pet in the caller's hands.
    assert_eq!(*statuses.lock().unwrap(), [200, 304, 304]);

    // A write the spec says invalidates it: the next call is answered anew, not from the
    // client's store.
    delete_and_find_gone(&client, rex.id).await;

    // Off: every call is answered in full.
    let plain = client.configure(|core| core.with_cache(0));
    statuses.lock().unwrap().clear();
    plain.list_pets(list_pets::Request::new()).await.unwrap();
    plain.list_pets(list_pets::Request::new()).await.unwrap();
    assert_eq!(*statuses.lock().unwrap(), [200, 200]);
}
