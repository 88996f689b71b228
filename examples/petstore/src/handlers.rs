//! The handlers: an in-memory pet store behind the generated `Api` trait.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use specjet::axum::response::Response;
use specjet::http::StatusCode;
use specjet::Problem;

use crate::api::operations::{create_pet, delete_pet, list_pets, show_pet_by_id};
use crate::api::types::{Error, ErrorDetail, NewPet, Pet};
use crate::api::{Api, OperationId};

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

impl PetStore {
    /// The pet with this id, if there is one.
    pub fn find(&self, id: i64) -> Result<Option<Pet>, Problem> {
        let store = self.pets.read().map_err(|_| poisoned())?;
        Ok(store.pets.get(&id).cloned())
    }
}

fn not_found(id: i64) -> Error {
    Error {
        code: 404,
        message: format!("no pet has id {id}"),
        details: None,
    }
}

fn poisoned() -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR).with_detail("the store is unavailable")
}

impl Api for PetStore {
    async fn list_pets(&self, request: list_pets::Request) -> list_pets::Response {
        // 1 to 100: the router checked it against the spec's bounds.
        let limit = usize::try_from(request.limit).unwrap_or(0);
        let Ok(store) = self.pets.read() else {
            return poisoned().into();
        };
        let tags = request.tag.unwrap_or_default();
        let pets: Vec<Pet> = store
            .pets
            .values()
            .filter(|pet| tags.is_empty() || pet.tag.as_ref().is_some_and(|t| tags.contains(t)))
            .filter(|pet| request.status.is_none() || pet.status == request.status)
            .take(limit)
            .cloned()
            .collect();
        list_pets::Response::Ok {
            body: pets,
            x_next: None,
        }
    }

    async fn create_pet(&self, request: create_pet::Request) -> create_pet::Response {
        // The spec's `minLength: 1` was checked before this ran; any name it allows is one.
        let NewPet { name, tag, status } = request.body;
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
        match self.find(request.pet_id) {
            Ok(Some(pet)) => show_pet_by_id::Response::Ok(pet),
            Ok(None) => show_pet_by_id::Response::NotFound(not_found(request.pet_id)),
            Err(problem) => problem.into(),
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

    /// Every problem with a request (a bad parameter, a body that breaks its schema, a rate
    /// limit, a timeout, a handler's own) answered in the spec's `Error` shape.
    fn reject(_operation: OperationId, problem: Problem) -> Response {
        let status = problem.status_code();
        let details = problem
            .invalid_params
            .into_iter()
            .map(|param| ErrorDetail {
                in_: param.location,
                name: param.name,
                reason: param.reason,
            })
            .collect::<Vec<_>>();
        let error = Error {
            code: i32::from(problem.status),
            message: problem.detail.map_or(problem.title, String::from),
            details: (!details.is_empty()).then_some(details),
        };
        specjet::respond::json(status, "application/json", &error)
    }
}

/// Operations called in process: typed, straight to a handler, and as HTTP requests through
/// the generated router with all its layers but no socket.
#[cfg(test)]
mod tests {
    use specjet::axum::body::{to_bytes, Body};
    use specjet::http::{header, Request, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::api::types::NewPet;

    #[tokio::test]
    async fn an_operation_is_a_typed_call() {
        let store = PetStore::default();
        let new_pet = NewPet {
            name: "Rex".to_owned(),
            tag: Some("dog".to_owned()),
            status: None,
        };
        let create_pet::Response::Created(pet) =
            store.create_pet(create_pet::Request::new(new_pet)).await
        else {
            panic!("the pet is created");
        };
        match store
            .show_pet_by_id(show_pet_by_id::Request::new(pet.id))
            .await
        {
            show_pet_by_id::Response::Ok(shown) => assert_eq!(shown, pet),
            other => panic!("expected the pet, got {other:?}"),
        }
        // Optional values start at the spec's defaults and can be set.
        let mut request = list_pets::Request::new();
        assert_eq!(request.limit, 20);
        request.tag = Some(vec!["cat".to_owned()]);
        match store.list_pets(request).await {
            list_pets::Response::Ok { body, .. } => assert!(body.is_empty(), "{body:?}"),
            other => panic!("expected a page, got {other:?}"),
        }
        // A secured operation's request names its caller: handlers get the verified one.
        let staff = specjet::security::Principal::new("staff");
        match store
            .delete_pet(delete_pet::Request::new(pet.id, staff))
            .await
        {
            delete_pet::Response::NoContent => {}
            other => panic!("expected 204, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_request_goes_through_every_layer_without_a_socket() {
        let services = specjet::Services::new(crate::api::settings(), None);
        let router = crate::api::router_with(PetStore::default(), &services);
        let send = |request: Request<Body>| router.clone().oneshot(request);

        let created = send(
            Request::post("/pets")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"name":"Rex"}"#))
                .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        // The `writes` rate limit of the spec answered too.
        assert!(created.headers()["ratelimit-policy"]
            .to_str()
            .unwrap()
            .starts_with("\"writes\""));

        let read = || Request::get("/pets/1").body(Body::empty()).unwrap();
        let first = send(read()).await.unwrap();
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(first.headers()["cache-status"], "specjet; fwd=miss; stored");
        let second = send(read()).await.unwrap();
        assert_eq!(
            second.headers()["cache-status"],
            "specjet; hit; detail=memory"
        );
        let body = to_bytes(second.into_body(), usize::MAX).await.unwrap();
        let pet: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(pet["name"], "Rex");

        // Validation runs before the handler: a path value that is not an id is a 400, in
        // the spec's `Error` shape (`reject`), naming the parameter.
        let bad = send(Request::get("/pets/rex").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        assert_eq!(bad.headers()[header::CONTENT_TYPE], "application/json");
        let body = to_bytes(bad.into_body(), usize::MAX).await.unwrap();
        // `Error` is a response: the service writes it, a test reads it as JSON.
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error["code"], 400);
        let details = error["details"].as_array().cloned().unwrap_or_default();
        assert_eq!(details.len(), 1);
        assert_eq!(
            (details[0]["in"].as_str(), details[0]["name"].as_str()),
            (Some("path"), Some("petId"))
        );
    }
}
