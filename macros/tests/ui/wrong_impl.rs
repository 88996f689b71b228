// Every mismatch between an implementation and the spec, reported at once.
mod api {
    specjet::include_api!("petstore.yaml");
}

use api::operations::{create_pet, list_pets, show_pet_by_id};

#[derive(Clone)]
struct Store;

#[specjet::api("petstore.yaml")]
impl Store {
    async fn list_pets(&self, _request: create_pet::Request) -> list_pets::Response {
        list_pets::Response::Ok { body: Vec::new(), x_next: None }
    }

    async fn show_pet_by_id(&self, _request: show_pet_by_id::Request) -> String {
        String::new()
    }

    async fn adopt_pet(&self) {}
}

fn main() {}
