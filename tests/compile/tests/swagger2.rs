//! A Swagger 2.0 document (`tests/compile/specs/swagger2.yaml`) served as the OpenAPI 3.0
//! document it describes: under its `basePath`, with its `collectionFormat`s, its body
//! parameter's schema checked, its form and multipart parameters read as bodies, its
//! `x-specjet` annotations applied, and the upgraded document served.

use specjet::axum::Router;
use specjet::http::{Method, StatusCode};
use specjet::serde_json::json;
use specjet_compile_tests::swagger2::operations::{
    add_dog, get_dog, list_dogs, rename_dog, upload_photo,
};
use specjet_compile_tests::swagger2::{router_with, settings};
use specjet_compile_tests::swagger2::{types, Api};
use support::{get, send_body, Answer};

mod support;

#[derive(Clone)]
struct Kennel;

fn dog(id: i64, name: &str) -> types::Dog {
    types::Dog {
        id,
        name: name.to_owned(),
        breed: None,
    }
}

impl Api for Kennel {
    async fn list_dogs(&self, request: list_dogs::Request) -> list_dogs::Response {
        // The query as read, in the dog's name: `tags` comma-separated, `breed` repeated.
        let name = format!(
            "{:?}|{:?}|{}",
            request.tags.unwrap_or_default(),
            request.breed.unwrap_or_default(),
            request.limit
        );
        list_dogs::Response::Ok {
            body: vec![dog(1, &name)],
            x_total: Some(1),
        }
    }

    async fn add_dog(&self, request: add_dog::Request) -> add_dog::Response {
        let mut added = dog(2, &request.body.name);
        added.breed = request.body.breed;
        add_dog::Response::Created(added)
    }

    /// The kennel's one key (its `securityDefinitions`, upgraded to a scheme of 3.0).
    async fn verify_key(
        &self,
        verify: specjet::security::Verify,
    ) -> Result<specjet::security::Principal, specjet::security::Refusal> {
        match verify.credential {
            specjet::security::Credential::ApiKey(key) if key == "secret" => {
                Ok(specjet::security::Principal::new("keeper"))
            }
            _ => Err(specjet::security::Refusal::invalid("not the kennel's key")),
        }
    }

    /// No operation of the kennel requires basic credentials: none passes.
    async fn verify_basic(
        &self,
        _verify: specjet::security::Verify,
    ) -> Result<specjet::security::Principal, specjet::security::Refusal> {
        Err(specjet::security::Refusal::invalid("the kennel takes keys"))
    }

    async fn get_dog(&self, request: get_dog::Request) -> get_dog::Response {
        get_dog::Response::Ok(dog(request.dog_id, "Rex"))
    }

    /// A form with a file: read part by part as it arrives.
    async fn upload_photo(&self, request: upload_photo::Request) -> upload_photo::Response {
        let mut form = request.body;
        let mut caption = None;
        let mut photo_bytes = 0;
        loop {
            let mut part = match form.next_part().await {
                Ok(Some(part)) => part,
                Ok(None) => break,
                Err(problem) => return problem.into(),
            };
            match part.name() {
                Some("caption") => caption = part.bytes().await.ok(),
                Some("photo") => {
                    while let Ok(Some(chunk)) = part.chunk().await {
                        photo_bytes += chunk.len();
                    }
                }
                _ => {}
            }
        }
        assert_eq!(caption.as_deref(), Some(&b"at the beach"[..]));
        assert_eq!(photo_bytes, 4);
        upload_photo::Response::NoContent
    }

    async fn rename_dog(&self, request: rename_dog::Request) -> rename_dog::Response {
        rename_dog::Response::Ok(dog(request.dog_id, &request.body.name))
    }
}

fn service() -> Router {
    router_with(Kennel, &specjet::Services::new(settings(), None))
}

/// A request with a body, as an authenticated client.
async fn send_with(router: &Router, path: &str, content_type: &str, body: &str) -> Answer {
    let body = Some((content_type, body.as_bytes().to_vec()));
    send_body(router, Method::POST, path, &[("x-key", "secret")], body).await
}

#[tokio::test]
async fn a_swagger2_document_is_served_as_it_describes() {
    let router = service();

    // `host` + `basePath`: served under /api/v1. `collectionFormat: csv` and `multi`.
    let listed = get(&router, "/api/v1/dogs?tags=a,b&breed=x&breed=y&limit=5").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.json());
    assert_eq!(
        listed.json()[0]["name"],
        r#"["a", "b"]|["x", "y"]|5"#,
        "{}",
        listed.json()
    );
    assert_eq!(listed.headers["x-total"], "1");
    // `x-cache-ttl` on a 2.0 operation: the second read is a hit.
    let again = get(&router, "/api/v1/dogs?tags=a,b&breed=x&breed=y&limit=5").await;
    assert!(
        again.header("cache-status").unwrap_or("").contains("hit"),
        "{:?}",
        again.headers
    );
    // The parameter's own bounds (`maximum: 50`).
    let refused = get(&router, "/api/v1/dogs?limit=99").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.json()["invalid-params"][0]["name"], "limit");
    assert_eq!(
        get(&router, "/dogs").await.status,
        StatusCode::NOT_FOUND,
        "not outside the base path"
    );

    // The shared body parameter: its schema (from `definitions`) checked, `x-nullable` read.
    let added = send_with(
        &router,
        "/api/v1/dogs",
        "application/json",
        r#"{"name":"Max","breed":null}"#,
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.json());
    assert_eq!(added.json(), json!({"id": 2, "name": "Max", "breed": null}));
    let unnamed = send_with(
        &router,
        "/api/v1/dogs",
        "application/json",
        r#"{"name":""}"#,
    )
    .await;
    assert_eq!(unnamed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unnamed.json()["invalid-params"][0]["name"], "/name");

    // The shared path parameter.
    let shown = get(&router, "/api/v1/dogs/7").await;
    assert_eq!(shown.json()["id"], 7);

    // `formData` parameters: a multipart body (a `type: file` among them), and a form.
    let multipart = "--B\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nat the beach\r\n--B\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p.jpg\"\r\n\r\nJPEG\r\n--B--\r\n";
    let uploaded = send_with(
        &router,
        "/api/v1/dogs/7/photo",
        "multipart/form-data; boundary=B",
        multipart,
    )
    .await;
    assert_eq!(
        uploaded.status,
        StatusCode::NO_CONTENT,
        "{}",
        uploaded.json()
    );
    let renamed = send_with(
        &router,
        "/api/v1/dogs/7/rename",
        "application/x-www-form-urlencoded",
        "name=Bolt",
    )
    .await;
    assert_eq!(renamed.json(), json!({"id": 7, "name": "Bolt"}));
}

#[tokio::test]
async fn the_upgraded_document_is_served() {
    let document = get(&service(), "/api/v1/openapi.json").await;
    assert_eq!(document.status, StatusCode::OK);
    let document = document.json();
    assert_eq!(document["openapi"], "3.0.3");
    assert!(document.get("swagger").is_none());
    assert_eq!(document["servers"], json!([{"url": "/api/v1"}]));
    assert!(document["components"]["schemas"]["Dog"].is_object());
    assert_eq!(
        document["components"]["securitySchemes"]["basic"],
        json!({"type": "http", "scheme": "basic"})
    );
    let add = &document["paths"]["/dogs"]["post"];
    assert_eq!(
        add["requestBody"],
        json!({"$ref": "#/components/requestBodies/newDog"})
    );
    assert_eq!(
        document["components"]["requestBodies"]["newDog"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/NewDog"})
    );
    let tags = &document["paths"]["/dogs"]["get"]["parameters"][0];
    assert_eq!(
        (&tags["style"], &tags["explode"], &tags["schema"]["type"]),
        (&json!("form"), &json!(false), &json!("array"))
    );
    let photo = &document["paths"]["/dogs/{dogId}/photo"]["post"]["requestBody"]["content"]
        ["multipart/form-data"]["schema"];
    assert_eq!(
        photo["properties"]["photo"],
        json!({"type": "string", "format": "binary"})
    );
    assert_eq!(photo["required"], json!(["caption"]));
}
