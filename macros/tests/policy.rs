//! Caching set in code on handlers wins over the spec's `x-cache`.

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
    // The spec says 60s.
    #[cache(ttl = "5s", vary = ["Accept-Language"])]
    async fn list_pets(&self, _request: list_pets::Request) -> list_pets::Response {
        list_pets::Response::Ok {
            body: Vec::new(),
            x_next: None,
        }
    }

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
    let services = specjet::Services::new(api::server::settings(), None);
    let router = api::server::router_with(Store, &services);
    let response = router
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    response.headers().clone()
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
