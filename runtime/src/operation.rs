//! What a generated router knows of each operation, for the layers that serve them all from
//! one table (rate limits, compression): they find a request's operation by method and
//! matched path.

use std::collections::HashMap;

use axum::extract::MatchedPath;

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

/// Values per operation, found from a request by method and matched path (the layers run after
/// routing, so axum has put `MatchedPath` in the request).
#[derive(Debug)]
pub(crate) struct ByRoute<T> {
    table: HashMap<(http::Method, &'static str), T>,
}

impl<T> ByRoute<T> {
    /// The table of `entries`; the first entry of a route wins (operations sharing one route
    /// shape are rare).
    pub(crate) fn new(
        entries: impl IntoIterator<Item = (&'static OperationInfo, T)>,
    ) -> ByRoute<T> {
        let mut table = HashMap::new();
        for (operation, value) in entries {
            table
                .entry((operation.method.clone(), operation.path))
                .or_insert(value);
        }
        ByRoute { table }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The value of the request's operation (axum answers HEAD with the GET handler).
    pub(crate) fn get<'a, B>(&'a self, request: &'a http::Request<B>) -> Option<&'a T> {
        if self.table.is_empty() {
            return None;
        }
        let path = request.extensions().get::<MatchedPath>()?.as_str();
        let method = request.method();
        let found = |method: &http::Method| self.table.get(&(method.clone(), path));
        found(method).or_else(|| {
            (method == http::Method::HEAD)
                .then(|| found(&http::Method::GET))
                .flatten()
        })
    }
}
