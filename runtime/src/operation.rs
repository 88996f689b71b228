//! What a generated router knows of each operation, for the layers that serve them all from
//! one table (rate limits, compression): they find a request's operation by method and
//! matched path.

/// One operation of the API.
#[derive(Debug, Clone)]
pub struct OperationInfo {
    /// The spec's `operationId`.
    pub id: &'static str,
    pub method: http::Method,
    /// The route's path as given to axum (what `MatchedPath` reports).
    pub path: &'static str,
    /// Whether the operation requires credentials (`security`).
    pub secured: bool,
    /// Path parameters as (name, capture key of the segment that holds it) pairs.
    pub params: &'static [(&'static str, &'static str)],
}

impl OperationInfo {
    /// Whether a request with this method and matched path is served by this operation
    /// (axum answers HEAD with the GET handler).
    pub fn serves(&self, method: &http::Method, path: &str) -> bool {
        self.path == path
            && (self.method == method
                || (method == http::Method::HEAD && self.method == http::Method::GET))
    }
}
