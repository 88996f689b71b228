// Rate-limit and compression attributes use the spec's vocabulary; every mistake is an error
// on the attribute, all of them at once.
mod api {
    specjet::include_api!("petstore.yaml");
}

use api::operations::{create_pet, delete_pet, list_pets, show_pet_by_id};

#[derive(Clone)]
struct Store;

#[specjet::api("petstore.yaml")]
impl api::Api for Store {
    #[rate_limit("10/fortnight")]
    #[no_compress(always)]
    async fn list_pets(&self, _request: list_pets::Request) -> list_pets::Response {
        list_pets::Response::Ok { body: Vec::new(), x_next: None }
    }

    #[rate_limit("10/s", key = "path:petId")]
    async fn create_pet(&self, _request: create_pet::Request) -> create_pet::Response {
        specjet::Problem::not_implemented("createPet").into()
    }

    #[rate_limit(policy = "premium")]
    async fn show_pet_by_id(&self, _request: show_pet_by_id::Request) -> show_pet_by_id::Response {
        specjet::Problem::not_implemented("showPetById").into()
    }

    #[rate_limit("2/s", colour = "blue")]
    #[no_rate_limit]
    async fn delete_pet(&self, _request: delete_pet::Request) -> delete_pet::Response {
        delete_pet::Response::NoContent
    }
}

fn main() {}
