// Caching attributes use the spec's vocabulary; every mistake is an error on the attribute.
mod api {
    specjet::include_api!("petstore.yaml");
}

use api::operations::{create_pet, delete_pet, list_pets, show_pet_by_id};

#[derive(Clone)]
struct Store;

#[specjet::api("petstore.yaml")]
impl api::Api for Store {
    #[cache(ttl = "5", colour = "blue")]
    async fn list_pets(&self, _request: list_pets::Request) -> list_pets::Response {
        list_pets::Response::Ok { body: Vec::new(), x_next: None }
    }

    #[cache(ttl = "5s")]
    async fn create_pet(&self, _request: create_pet::Request) -> create_pet::Response {
        specjet::Problem::not_implemented("createPet").into()
    }

    #[cache(scope = "shared")]
    async fn show_pet_by_id(&self, _request: show_pet_by_id::Request) -> show_pet_by_id::Response {
        specjet::Problem::not_implemented("showPetById").into()
    }

    async fn delete_pet(&self, _request: delete_pet::Request) -> delete_pet::Response {
        delete_pet::Response::NoContent
    }
}

fn main() {}
