// include_api! expands the service module, and #[api] accepts a complete implementation
// with caching, rate limits and compression set in code.
mod api {
    specjet::include_api!("petstore.yaml");
}

use api::operations::{create_pet, delete_pet, list_pets, show_pet_by_id};

#[derive(Clone)]
struct Store;

#[specjet::api("petstore.yaml")]
impl api::Api for Store {
    #[cache(ttl = "5s", stale_while_revalidate = "1m", scope = "public", vary = ["Accept-Language"])]
    async fn list_pets(&self, _request: list_pets::Request) -> list_pets::Response {
        list_pets::Response::Ok { body: Vec::new(), x_next: None }
    }

    #[rate_limit("10/s", "100/min", key = ["principal", "header:X-Tenant"], cost = 2)]
    async fn create_pet(&self, _request: create_pet::Request) -> create_pet::Response {
        specjet::Problem::not_implemented("createPet").into()
    }

    #[no_cache]
    #[no_compress]
    #[rate_limit("5/s", key = "path:petId", burst = 10)]
    async fn show_pet_by_id(&self, _request: show_pet_by_id::Request) -> show_pet_by_id::Response {
        specjet::Problem::not_implemented("showPetById").into()
    }

    #[rate_limit(policy = "writes", cost = 2)]
    async fn delete_pet(&self, _request: delete_pet::Request) -> delete_pet::Response {
        delete_pet::Response::NoContent
    }
}

fn main() {
    let _router: specjet::axum::Router = api::router(Store);
}
