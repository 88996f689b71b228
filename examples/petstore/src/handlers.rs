//! The handlers: an in-memory pet store behind the generated `Api` trait.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use specjet::http::StatusCode;
use specjet::Problem;

use crate::api::operations::{create_pet, delete_pet, list_pets, show_pet_by_id};
use crate::api::types::{Error, NewPet, Pet};
use crate::api::Api;

/// Pets by id; cloned into every request (the map itself is shared).
#[derive(Clone, Default)]
pub struct PetStore {
    pets: Arc<RwLock<Store>>,
}

#[derive(Default)]
struct Store {
    next_id: i64,
    pets: BTreeMap<i64, Pet>,
}

const MAX_LIMIT: i32 = 100;

fn not_found(id: i64) -> Error {
    Error {
        code: 404,
        message: format!("no pet has id {id}"),
    }
}

fn poisoned() -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR).with_detail("the store is unavailable")
}

impl Api for PetStore {
    async fn list_pets(&self, request: list_pets::Request) -> list_pets::Response {
        let limit = request.limit;
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Problem::new(StatusCode::BAD_REQUEST)
                .with_detail(format!("`limit` must be between 1 and {MAX_LIMIT}"))
                .into();
        }
        let Ok(store) = self.pets.read() else {
            return poisoned().into();
        };
        let tags = request.tag.unwrap_or_default();
        let pets: Vec<Pet> = store
            .pets
            .values()
            .filter(|pet| tags.is_empty() || pet.tag.as_ref().is_some_and(|t| tags.contains(t)))
            .filter(|pet| request.status.is_none() || pet.status == request.status)
            .take(limit as usize)
            .cloned()
            .collect();
        list_pets::Response::Ok {
            body: pets,
            x_next: None,
        }
    }

    async fn create_pet(&self, request: create_pet::Request) -> create_pet::Response {
        let NewPet { name, tag, status } = request.body;
        if name.trim().is_empty() {
            return create_pet::Response::UnprocessableEntity(Error {
                code: 422,
                message: "`name` must not be empty".to_owned(),
            });
        }
        let Ok(mut store) = self.pets.write() else {
            return poisoned().into();
        };
        store.next_id += 1;
        let pet = Pet {
            id: store.next_id,
            name,
            tag,
            status,
        };
        store.pets.insert(pet.id, pet.clone());
        create_pet::Response::Created(pet)
    }

    async fn show_pet_by_id(&self, request: show_pet_by_id::Request) -> show_pet_by_id::Response {
        let Ok(store) = self.pets.read() else {
            return poisoned().into();
        };
        match store.pets.get(&request.pet_id) {
            Some(pet) => show_pet_by_id::Response::Ok(pet.clone()),
            None => show_pet_by_id::Response::NotFound(not_found(request.pet_id)),
        }
    }

    async fn delete_pet(&self, request: delete_pet::Request) -> delete_pet::Response {
        let Ok(mut store) = self.pets.write() else {
            return poisoned().into();
        };
        match store.pets.remove(&request.pet_id) {
            Some(_) => delete_pet::Response::NoContent,
            None => delete_pet::Response::NotFound(not_found(request.pet_id)),
        }
    }
}
