//! RFC 9457 problem details: the one error shape every generated service answers with.

#[cfg(feature = "server")]
use axum::response::{IntoResponse, Response};
use http::StatusCode;
#[cfg(feature = "server")]
use http::{header, HeaderValue};
use serde::{Deserialize, Serialize};

/// The media type of problem details (RFC 9457 §3).
pub const CONTENT_TYPE: &str = "application/problem+json";

/// One invalid input: where it was (`path`, `query`, `header`, `cookie`, `body`), its name (a
/// parameter name, or a JSON pointer into the body) and why it was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidParam {
    /// `path`, `query`, `header`, `cookie` or `body`.
    #[serde(rename = "in")]
    pub location: String,
    /// The parameter's name, or a JSON pointer into the body.
    pub name: String,
    /// Why it was rejected.
    pub reason: String,
}

/// An `application/problem+json` response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// A URI reference naming the problem type; `about:blank` when the status says it all.
    #[serde(rename = "type", default = "about_blank")]
    pub type_uri: String,
    /// A short summary of the problem type (the status's reason phrase by default).
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    // Boxed strings keep `Result<T, Problem>` small (clippy's `result_large_err`).
    /// A human-readable explanation of this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Box<str>>,
    /// A URI reference naming this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<Box<str>>,
    /// The inputs that made the request invalid, each named.
    #[serde(
        rename = "invalid-params",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub invalid_params: Vec<InvalidParam>,
    /// Seconds after which a retry may succeed, sent as `Retry-After` (not in the body).
    #[serde(skip)]
    pub retry_after: Option<u32>,
}

fn about_blank() -> String {
    "about:blank".to_owned()
}

impl Problem {
    /// A problem whose title is the status' reason phrase.
    pub fn new(status: StatusCode) -> Self {
        Problem {
            type_uri: about_blank(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: None,
            instance: None,
            invalid_params: Vec::new(),
            retry_after: None,
        }
    }

    /// Adds a human-readable explanation of this occurrence.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into().into_boxed_str());
        self
    }

    /// Tells the client when to retry (`Retry-After`, in seconds).
    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 400 Bad Request naming every invalid parameter.
    pub fn invalid_params(params: Vec<InvalidParam>) -> Self {
        let detail = match params.as_slice() {
            [one] => format!(
                "invalid {} parameter `{}`: {}",
                one.location, one.name, one.reason
            ),
            many => format!("{} invalid parameters", many.len()),
        };
        let mut problem = Problem::new(StatusCode::BAD_REQUEST).with_detail(detail);
        problem.invalid_params = params;
        problem
    }

    /// 501 Not Implemented: the answer of a handler nobody has written yet.
    pub fn not_implemented(operation: &str) -> Self {
        Problem::new(StatusCode::NOT_IMPLEMENTED)
            .with_detail(format!("operation `{operation}` is not implemented yet"))
    }

    /// The HTTP status, falling back to 500 for a value outside 100..=999.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.title)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

#[cfg(feature = "server")]
impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        // Serializing this struct cannot fail: it holds only strings and numbers.
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        // For the API's `reject` hook, which may answer it in the spec's own shape.
        response.extensions_mut().insert(self);
        response
    }
}

/// Fallback for paths the API does not define.
#[cfg(feature = "server")]
pub async fn not_found(uri: http::Uri) -> Problem {
    Problem::new(StatusCode::NOT_FOUND).with_detail(format!("no operation at `{}`", uri.path()))
}

/// Fallback for a known path with a method the API does not define there.
#[cfg(feature = "server")]
pub async fn method_not_allowed(method: http::Method, uri: http::Uri) -> Problem {
    Problem::new(StatusCode::METHOD_NOT_ALLOWED)
        .with_detail(format!("`{method}` is not defined for `{}`", uri.path()))
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;

    #[test]
    fn serializes_rfc9457_members_and_invalid_params() {
        let problem = Problem::invalid_params(vec![InvalidParam {
            location: "query".into(),
            name: "limit".into(),
            reason: "invalid digit found in string".into(),
        }]);
        let json = serde_json::to_value(&problem).unwrap();
        assert_eq!(json["type"], "about:blank");
        assert_eq!(json["status"], 400);
        assert_eq!(json["title"], "Bad Request");
        assert_eq!(json["invalid-params"][0]["in"], "query");
        assert_eq!(json["invalid-params"][0]["name"], "limit");
        assert!(json["detail"].as_str().unwrap().contains("`limit`"));
    }

    #[test]
    fn response_has_problem_content_type_and_status() {
        let response = Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE).into_response();
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
    }
}
