//! Building responses from typed bodies; used by the generated `IntoResponse` impls.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderName, HeaderValue, StatusCode};
use serde::Serialize;

use crate::request::problem::Problem;

/// The status for a documented code; 500 for a code outside 100..=999.
pub fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A status an answer is sent with: a [`StatusCode`], or a code as the spec writes it (`200`;
/// 500 for a code outside 100..=999, see [`status`]).
pub trait IntoStatus {
    /// The status.
    fn into_status(self) -> StatusCode;
}

impl IntoStatus for StatusCode {
    fn into_status(self) -> StatusCode {
        self
    }
}

impl IntoStatus for u16 {
    fn into_status(self) -> StatusCode {
        status(self)
    }
}

/// A JSON body with the given media type (`application/json` or a `+json` type).
pub fn json<T: Serialize>(
    status: impl IntoStatus,
    content_type: &'static str,
    body: &T,
) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => with_content_type(status.into_status(), content_type, bytes.into()),
        Err(error) => {
            tracing::error!(%error, "response body could not be serialized");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
                .with_detail("the response could not be serialized")
                .into_response()
        }
    }
}

/// An `application/x-www-form-urlencoded` body.
pub fn form<T: Serialize>(
    status: impl IntoStatus,
    content_type: &'static str,
    body: &T,
) -> Response {
    match serde_html_form::to_string(body) {
        Ok(text) => with_content_type(status.into_status(), content_type, text.into()),
        Err(error) => {
            tracing::error!(%error, "response body could not be form-encoded");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
                .with_detail("the response could not be serialized")
                .into_response()
        }
    }
}

/// A `multipart/*` body (`media_type` such as `multipart/form-data`), its boundary named in
/// the `Content-Type`.
pub fn multipart(
    status: impl IntoStatus,
    media_type: &'static str,
    form: &crate::MultipartForm,
) -> Response {
    let (boundary, body) = form.encode();
    let mut response = (status.into_status(), body).into_response();
    // The boundary is `specjet-` and hex digits: always a valid header value.
    if let Ok(value) = HeaderValue::from_str(&format!("{media_type}; boundary={boundary}")) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// A body sent as it is (text, binary, or a media type the generator does not model).
pub fn raw(
    status: impl IntoStatus,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response {
    with_content_type(status.into_status(), content_type, body.into())
}

/// No body.
pub fn empty(status: impl IntoStatus) -> Response {
    status.into_status().into_response()
}

fn with_content_type(status: StatusCode, content_type: &'static str, body: Bytes) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Sets a documented response header from a typed value (plain text for scalars and enums,
/// comma-separated for lists). A value that is not a valid header is dropped with a warning
/// rather than failing the whole response.
pub fn header<T: Serialize>(response: &mut Response, name: &'static str, value: &T) {
    let text = match serde_json::to_value(value) {
        Ok(serde_json::Value::Null) => return,
        Ok(serde_json::Value::String(text)) => text,
        Ok(serde_json::Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        Ok(other) => other.to_string(),
        Err(error) => {
            tracing::warn!(%error, header = name, "response header could not be serialized");
            return;
        }
    };
    match (HeaderName::try_from(name), HeaderValue::try_from(text)) {
        (Ok(name), Ok(value)) => {
            response.headers_mut().append(name, value);
        }
        _ => tracing::warn!(header = name, "response header value is not a valid header"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_from_typed_values() {
        let mut response = empty(StatusCode::OK);
        header(&mut response, "x-next", &Some("abc"));
        header(&mut response, "x-count", &3);
        header(&mut response, "x-ids", &vec![1, 2]);
        header(&mut response, "x-absent", &None::<i32>);
        header(&mut response, "x-bad", &"line\nbreak");
        let headers = response.headers();
        assert_eq!(headers["x-next"], "abc");
        assert_eq!(headers["x-count"], "3");
        assert_eq!(headers["x-ids"], "1,2");
        assert!(headers.get("x-absent").is_none());
        assert!(headers.get("x-bad").is_none());
    }

    #[test]
    fn json_sets_status_and_type() {
        let response = json(StatusCode::CREATED, "application/json", &[1, 2]);
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    }
}
