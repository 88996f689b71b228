//! Caching, rate limits and compression set in code on handlers win over the spec's
//! `x-cache`, `x-rate-limit` and `x-compress`.

use specjet::axum::body::Body;
use specjet::http::{header, Request};
use tower::ServiceExt;

mod api {
    specjet::include_api!("tests/ui/petstore.yaml");
}

use api::operations::{create_pet, delete_pet, list_pets, show_pet_by_id};

#[derive(Clone)]
struct Store;

#[specjet::api("tests/ui/petstore.yaml")]
impl api::Api for Store {
    // The spec says 60s, 100/s and 3000/min, and compresses.
    #[cache(ttl = "5s", vary = ["Accept-Language"])]
    #[rate_limit("2/min", key = "global")]
    #[no_compress]
    async fn list_pets(&self, _request: list_pets::Request) -> list_pets::Response {
        let pets = (1..=30)
            .map(|id| api::types::Pet {
                id,
                name: format!("pet number {id}"),
                tag: Some("a tag long enough to be worth compressing".to_owned()),
                status: None,
            })
            .collect();
        list_pets::Response::Ok {
            body: pets,
            x_next: None,
        }
    }

    // The spec limits it with the `writes` policy, and its body to the service's 64 KiB.
    #[no_rate_limit]
    #[max_body_size("64B")]
    async fn create_pet(&self, _request: create_pet::Request) -> create_pet::Response {
        specjet::Problem::not_implemented("createPet").into()
    }

    // The spec caches it for 60s.
    #[no_cache]
    async fn show_pet_by_id(&self, _request: show_pet_by_id::Request) -> show_pet_by_id::Response {
        specjet::Problem::new(specjet::http::StatusCode::NOT_FOUND).into()
    }

    async fn delete_pet(&self, _request: delete_pet::Request) -> delete_pet::Response {
        delete_pet::Response::NoContent
    }
}

async fn headers(path: &str) -> specjet::http::HeaderMap {
    let services = specjet::Services::new(api::settings(), None);
    let router = api::server::router_with(Store, &services);
    let response = router
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    response.headers().clone()
}

/// The statuses and headers of `requests` sent in turn to one service.
async fn replies(
    requests: Vec<Request<Body>>,
) -> Vec<(specjet::http::StatusCode, specjet::http::HeaderMap)> {
    let services = specjet::Services::new(api::settings(), None);
    let router = api::server::router_with(Store, &services);
    let mut replies = Vec::new();
    for request in requests {
        let response = router.clone().oneshot(request).await.unwrap();
        replies.push((response.status(), response.headers().clone()));
    }
    replies
}

#[tokio::test]
async fn a_body_limit_in_code_wins_over_the_services() {
    let post = |size: usize| {
        let body = format!(r#"{{"name":"{}"}}"#, "x".repeat(size));
        Request::post("/pets")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let statuses: Vec<u16> = replies(vec![post(40), post(60)])
        .await
        .into_iter()
        .map(|(status, _)| status.as_u16())
        .collect();
    // 51 bytes reach the handler (which answers 501); 71 are refused before it.
    assert_eq!(statuses, [501, 413]);
}

#[tokio::test]
async fn rate_limits_and_compression_in_code_win_over_the_spec() {
    let list = || {
        Request::get("/pets")
            .header(header::ACCEPT_ENCODING, "gzip")
            .body(Body::empty())
            .unwrap()
    };
    let create = || {
        Request::post("/pets")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"name":"Rex"}"#))
            .unwrap()
    };
    let delete = Request::delete("/pets/1").body(Body::empty()).unwrap();
    let replies = replies(vec![list(), list(), list(), create(), create(), delete]).await;
    let (first, second, third) = (&replies[0], &replies[1], &replies[2]);
    assert_eq!(first.0, 200);
    assert_eq!(first.1["ratelimit-policy"], "\"listPets\";q=2;w=60");
    // 30 pets are well above the spec's 512-byte minimum, yet sent as they are.
    assert!(first.1.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(second.0, 200);
    assert_eq!(third.0, 429);
    // `#[no_rate_limit]`: the spec's `writes` policy is off for createPet...
    for (status, headers) in &replies[3..5] {
        assert_eq!(*status, 501);
        assert!(headers.get("ratelimit").is_none());
    }
    // ...and still on for deletePet, which has no attribute.
    assert_eq!(replies[5].1["ratelimit-policy"], "\"writes\";q=30;w=60");
}

#[tokio::test]
async fn code_wins_over_the_spec() {
    let list = headers("/pets").await;
    assert_eq!(list[header::CACHE_CONTROL], "public, max-age=5");
    assert!(list[header::VARY]
        .to_str()
        .unwrap()
        .starts_with("accept-language"));
    let pet = headers("/pets/1").await;
    assert!(
        pet.get("cache-status").is_none(),
        "#[no_cache] turned the spec's caching off"
    );
}
