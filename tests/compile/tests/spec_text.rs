//! Documents as tools and people write them, which generated code once refused: text with
//! invisible and bidirectional characters (`tests/compile/specs/invisible.yaml`), kept in
//! every string the service reads or serves; and operations written as `[]`, `null` and `{}`
//! (`tests/compile/specs/empty-operations.yaml`), served like any other operation.

use specjet::http::{Method, StatusCode};
use specjet::serde_json::{self, json, Value};
use specjet_compile_tests::empty_operations;
use specjet_compile_tests::invisible::operations::{get_note, list_notes};
use specjet_compile_tests::invisible::{self, openapi, types};
use support::{get, send};

mod support;

#[derive(Clone)]
struct Notes;

impl invisible::Api for Notes {
    async fn list_notes(&self, request: list_notes::Request) -> list_notes::Response {
        list_notes::Response::Ok(vec![types::Note {
            id: 1,
            text: request.q,
            state: request.state,
        }])
    }

    async fn get_note(&self, request: get_note::Request) -> get_note::Response {
        match request.id {
            1 => get_note::Response::Ok(types::Note {
                id: 1,
                text: "\u{202E}!".to_owned(),
                state: Some(types::State::Empty),
            }),
            _ => get_note::Response::NotFound,
        }
    }
}

#[test]
fn hidden_characters_are_kept_in_the_document_and_on_the_wire() {
    let document: Value = serde_json::from_str(openapi::DOCUMENT).expect("the document is JSON");
    assert_eq!(
        document["info"]["title"],
        "Invi\u{200B}sible \u{202E}text\u{202C}"
    );
    assert_eq!(
        document["paths"]["/notes\u{200B}"]["get"]["operationId"],
        "list\u{200D}Notes"
    );
    assert_eq!(types::State::Open.as_str(), "open");
    assert_eq!(types::State::Open2.as_str(), "open\u{200B}");
    assert_eq!(types::State::Empty.as_str(), "\u{202E}");
    assert_eq!(types::State::Closed.as_str(), "clo\u{AD}sed");
    assert_eq!(
        invisible::OperationId::ListNotes.as_str(),
        "list\u{200D}Notes"
    );
}

#[tokio::test]
async fn hidden_characters_in_paths_parameters_and_values_are_read_as_written() {
    let router = invisible::router(Notes);
    // `/notes\u{200B}?state\u{2060}=open\u{200B}`, percent-encoded as a client sends it.
    let listed = get(&router, "/v1/notes%E2%80%8B?state%E2%81%A0=open%E2%80%8B").await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.json());
    assert_eq!(
        listed.json(),
        json!([{"id": 1, "text\u{200C}": "zero\u{200B}width", "state": "open\u{200B}"}])
    );
    let note = get(&router, "/v1/notes%E2%80%8B/1").await;
    assert_eq!(note.status, StatusCode::OK);
    assert_eq!(
        note.json(),
        json!({"id": 1, "text\u{200C}": "\u{202E}!", "state": "\u{202E}"})
    );
    let served = get(&router, "/v1/openapi.json").await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(
        served.json()["info"]["description"],
        serde_json::from_str::<Value>(openapi::DOCUMENT).unwrap()["info"]["description"]
    );
}

#[derive(Clone)]
struct Unwritten;

/// The handlers of operations that declare nothing, as `specjet init` writes them: 501 until
/// written.
impl empty_operations::Api for Unwritten {
    async fn get_array(
        &self,
        _request: empty_operations::operations::get_array::Request,
    ) -> empty_operations::operations::get_array::Response {
        specjet::Problem::not_implemented("get /array").into()
    }

    async fn post_array(
        &self,
        _request: empty_operations::operations::post_array::Request,
    ) -> empty_operations::operations::post_array::Response {
        empty_operations::operations::post_array::Response::NoContent
    }

    async fn get_null_id(
        &self,
        request: empty_operations::operations::get_null_id::Request,
    ) -> empty_operations::operations::get_null_id::Response {
        specjet::Problem::not_implemented(&format!("get /null/{}", request.id)).into()
    }

    async fn put_object(
        &self,
        _request: empty_operations::operations::put_object::Request,
    ) -> empty_operations::operations::put_object::Response {
        specjet::Problem::not_implemented("put /object").into()
    }
}

#[tokio::test]
async fn operations_written_as_empty_are_served_like_any_other() {
    use empty_operations::OperationId;
    assert_eq!(
        OperationId::ALL.map(OperationId::as_str),
        ["get /array", "postArray", "get /null/{id}", "put /object"]
    );
    let router = empty_operations::router(Unwritten);
    for (method, path) in [
        (Method::GET, "/array"),
        (Method::GET, "/null/7"),
        (Method::PUT, "/object"),
    ] {
        let answer = send(&router, method.clone(), path, &[]).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_IMPLEMENTED,
            "{method} {path}"
        );
        assert_eq!(
            answer.header("content-type"),
            Some("application/problem+json")
        );
    }
    // The path item's parameter is read as for any operation; the others answer as written.
    assert_eq!(
        get(&router, "/null/x").await.status,
        StatusCode::BAD_REQUEST
    );
    let posted = send(&router, Method::POST, "/array", &[]).await;
    assert_eq!(posted.status, StatusCode::NO_CONTENT);
    // Path items written as `[]` and `null` hold no operation.
    assert_eq!(
        get(&router, "/item-array").await.status,
        StatusCode::NOT_FOUND
    );
}
