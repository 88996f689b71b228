//! Answers in the spec's own error shape. Every problem the service answers for an operation
//! (a parameter or body that breaks the contract, a refused media type, a rate limit, load
//! shedding, a timeout, or a `Problem` a handler returns) goes through the API's `reject`
//! hook, which by default sends it as `application/problem+json` unchanged.
//!
//! A [`Problem`] turned into a response leaves itself in the response's extensions; the
//! observability layer ([`crate::observability::observe`]), outside every other layer of the operation,
//! takes it from there and asks the hook for the answer. Headers the service set beside it
//! (`Retry-After`, `RateLimit-*`, `Vary`) are kept unless the hook's answer sets them itself.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::header;

use crate::request::problem::Problem;
use crate::serving::operation::OperationInfo;

/// The hook: the answer to `problem` for a request to the operation.
pub type RejectHook = Arc<dyn Fn(&'static OperationInfo, Problem) -> Response + Send + Sync>;

/// The answer to a request of `operation` that got `response`: the hook's answer when the
/// response is a [`Problem`], else the response as it is. `request_id` names the occurrence.
pub(crate) fn answer(
    hook: &RejectHook,
    operation: Option<&'static OperationInfo>,
    mut response: Response,
    request_id: Option<&Arc<str>>,
) -> Response {
    let (Some(operation), Some(mut problem)) =
        (operation, response.extensions_mut().remove::<Problem>())
    else {
        return response;
    };
    // The occurrence named by the request's id, so that a client's report finds the logs.
    if let (None, Some(id)) = (&problem.instance, request_id) {
        problem.instance = Some(format!("urn:request-id:{id}").into());
    }
    let mut answer = hook(operation, problem);
    // What describes the problem's body is the answer's own; what the service said of the
    // request (how long to wait, the limit in force, what the answer varies by) stays.
    const BODY_HEADERS: [header::HeaderName; 5] = [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_ENCODING,
        header::TRANSFER_ENCODING,
        header::ETAG,
    ];
    let kept: Vec<_> = response
        .headers()
        .iter()
        .filter(|(name, _)| !BODY_HEADERS.contains(name) && !answer.headers().contains_key(*name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    for (name, value) in kept {
        answer.headers_mut().append(name, value);
    }
    answer
}

/// The default hook: the problem as `application/problem+json`.
pub fn problem_json(_operation: &'static OperationInfo, problem: Problem) -> Response {
    problem_json_response(problem)
}

/// `problem` as `application/problem+json` (what `Api::reject` answers by default).
pub fn problem_json_response(problem: Problem) -> Response {
    problem.into_response()
}
