//! `POST /batch`: many calls of the operations in a batch group (`x-batch-group`) in one
//! round trip, in the envelope of Microsoft Graph's JSON batching.
//!
//! ```json
//! {"requests": [{"id": "1", "method": "GET", "url": "/products/7"},
//!               {"id": "2", "method": "POST", "url": "/orders", "body": {...}, "dependsOn": ["1"]}]}
//! ```
//!
//! answers `{"responses": [{"id", "status", "headers", "body"}]}` in request order. Each item
//! is sent through the service's own router, so it meets every layer a direct call meets
//! (validation, caching, rate limits: a batch of 20 costs 20 from the caller's budget), with
//! the outer request's headers (credentials, forwarding) unless it sets its own. Every item
//! runs as the batch's caller: each operation's `security` is checked on each item with the
//! batch's credentials, and an item that carries credentials of its own (`Authorization`,
//! `Cookie`, an API key in a header or its query) makes the whole batch a 400. An item that
//! fails answers its own status; one that depends on a failed item answers 424 unrun. A batch
//! that is wrong as a whole (malformed, too big, an item outside every batch group, a nested
//! batch, duplicate ids, an unknown or circular `dependsOn`) answers a problem and runs nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{FuturesUnordered, StreamExt};
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::compose::dispatch;
use crate::request::problem::Problem;
use crate::serving::operation::OperationInfo;

pub use specjet_model::batch::BatchSettings;

/// The batch endpoint's state: the router items are sent through, and which routes belong to
/// a batch group.
#[derive(Clone)]
pub(crate) struct Batch {
    router: axum::Router,
    /// Per route path, the methods whose operations are all in a batch group.
    routes: Arc<matchit::Router<Vec<(Method, bool)>>>,
    settings: Arc<BatchSettings>,
    /// The base path the service is served under, which an item's URL may start with.
    base_path: Arc<str>,
    /// The longest pause in the batch's body (`x-specjet.server.body-timeout`).
    body_timeout: std::time::Duration,
    /// The headers and query parameters that carry credentials, which an item may not set.
    credentials: Arc<(Vec<HeaderName>, Vec<&'static str>)>,
}

impl Batch {
    /// The endpoint over `router` (already served with every layer), for `operations`;
    /// `None` when no operation is in a batch group.
    pub(crate) fn new(
        router: axum::Router,
        operations: &[(&'static OperationInfo, crate::Policies)],
        service: &crate::ServiceSettings,
        security: &crate::policy::security::Security,
    ) -> Option<Batch> {
        let settings = &service.batch;
        if !operations
            .iter()
            .any(|(_, policies)| policies.batch_group.is_some())
        {
            return None;
        }
        let mut by_path: BTreeMap<&str, Vec<(Method, bool)>> = BTreeMap::new();
        for (operation, policies) in operations {
            let methods = by_path.entry(operation.path).or_default();
            let batchable = policies.batch_group.is_some();
            match methods.iter_mut().find(|(m, _)| *m == operation.method) {
                // Operations sharing a route and method: batchable only if all of them are.
                Some((_, all)) => *all &= batchable,
                None => methods.push((operation.method.clone(), batchable)),
            }
        }
        let mut routes = matchit::Router::new();
        for (path, methods) in by_path {
            // Paths come from a router axum accepted; one it would refuse is left out (its
            // items are then outside every batch group).
            let _ = routes.insert(path, methods);
        }
        Some(Batch {
            router,
            routes: Arc::new(routes),
            settings: Arc::new(settings.clone()),
            base_path: service.base_path.as_str().into(),
            body_timeout: service.server.body_timeout,
            credentials: Arc::new(security.credential_places(&service.security.certificate_header)),
        })
    }

    /// Whether `method` on `path` is an operation of a batch group.
    fn batchable(&self, method: &Method, path: &str) -> bool {
        let Ok(found) = self.routes.at(path) else {
            return false;
        };
        let wanted = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        found
            .value
            .iter()
            .any(|(m, batchable)| m == wanted && *batchable)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    requests: Vec<Item>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Item {
    id: String,
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    depends_on: Vec<String>,
}

#[derive(Serialize)]
struct Answer {
    id: String,
    status: u16,
    headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Value::is_null")]
    body: Value,
}

/// An item checked and ready to send.
struct Prepared {
    request: http::Request<Body>,
    depends_on: Vec<usize>,
}

/// The endpoint (`POST` at the batch path).
pub(crate) async fn handle(State(batch): State<Batch>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let limit = batch.settings.max_body_size;
    let bytes = match crate::request::request_body::read(body, limit, batch.body_timeout).await {
        Ok(bytes) => bytes,
        Err(error) => return error.answer("the batch", limit),
    };
    let envelope: Envelope = match serde_json::from_slice(&bytes) {
        Ok(envelope) => envelope,
        Err(error) => {
            return bad(
                StatusCode::BAD_REQUEST,
                format!("the batch is not a `{{\"requests\": [...]}}` envelope: {error}"),
            )
        }
    };
    let prepared = match prepare(&batch, &parts, &envelope.requests) {
        Ok(prepared) => prepared,
        Err(problem) => return problem.into_response(),
    };
    let answers = run(&batch, prepared).await;
    let responses: Vec<Answer> = envelope
        .requests
        .into_iter()
        .zip(answers)
        .map(|(item, (status, headers, body))| Answer {
            id: item.id,
            status,
            headers,
            body,
        })
        .collect();
    let body =
        serde_json::to_vec(&serde_json::json!({ "responses": responses })).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn bad(status: StatusCode, detail: String) -> Response {
    Problem::new(status).with_detail(detail).into_response()
}

/// Every item checked, and turned into a request, before any runs.
fn prepare(
    batch: &Batch,
    outer: &http::request::Parts,
    items: &[Item],
) -> Result<Vec<Prepared>, Problem> {
    let invalid = |detail: String| Problem::new(StatusCode::BAD_REQUEST).with_detail(detail);
    let max = batch.settings.max_requests;
    if items.is_empty() {
        return Err(invalid("the batch has no requests".to_owned()));
    }
    if items.len() > max {
        return Err(invalid(format!(
            "the batch has {} requests; at most {max} are allowed",
            items.len()
        )));
    }
    let mut index = HashMap::new();
    for (position, item) in items.iter().enumerate() {
        if index.insert(item.id.as_str(), position).is_some() {
            return Err(invalid(format!("two requests have the id `{}`", item.id)));
        }
    }
    let mut prepared = Vec::with_capacity(items.len());
    for item in items {
        let at = |reason: String| invalid(format!("request `{}`: {reason}", item.id));
        let method = Method::from_bytes(item.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| at(format!("`{}` is not an HTTP method", item.method)))?;
        let mut uri: Uri = item
            .url
            .parse()
            .ok()
            .filter(|uri: &Uri| uri.scheme().is_none() && uri.path().starts_with('/'))
            .ok_or_else(|| at(format!("`{}` is not a path such as `/items/1`", item.url)))?;
        // A URL as clients write it, under the base path, names the spec's path below it.
        if !batch.base_path.is_empty() && !batch.batchable(&method, uri.path()) {
            if let Some(below) = crate::compose::dispatch::below(&uri, &batch.base_path) {
                uri = below;
            }
        }
        if uri.path() == batch.settings.path {
            return Err(at("a batch cannot hold a batch".to_owned()));
        }
        if !batch.batchable(&method, uri.path()) {
            return Err(at(format!(
                "`{method} {}` is not an operation of a batch group",
                uri.path()
            )));
        }
        let depends_on = item
            .depends_on
            .iter()
            .map(|id| {
                index.get(id.as_str()).copied().ok_or_else(|| {
                    at(format!(
                        "`dependsOn` names `{id}`, which is not in the batch"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (headers, queries) = &*batch.credentials;
        if let Some(name) = item.headers.keys().find(|name| {
            headers
                .iter()
                .any(|h| h.as_str().eq_ignore_ascii_case(name))
        }) {
            return Err(at(format!(
                "an item cannot carry credentials (`{name}`): every item runs as the batch's caller"
            )));
        }
        if let Some(query) = uri.query() {
            if let Some((name, _)) = form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| queries.contains(&name.as_ref()))
            {
                return Err(at(format!(
                    "an item cannot carry credentials (`{name}`): every item runs as the batch's caller"
                )));
            }
        }
        let request = item_request(outer, item, method, uri).map_err(at)?;
        prepared.push(Prepared {
            request,
            depends_on,
        });
    }
    if let Some(id) = in_a_cycle(&prepared, items) {
        return Err(invalid(format!(
            "request `{id}` depends on itself through `dependsOn`"
        )));
    }
    Ok(prepared)
}

/// The request of one item: the outer request's headers under the item's own, its body as
/// JSON (a string with a media type of its own as it is), from the same client.
fn item_request(
    outer: &http::request::Parts,
    item: &Item,
    method: Method,
    uri: Uri,
) -> Result<http::Request<Body>, String> {
    let mut own = HeaderMap::new();
    for (name, value) in &item.headers {
        let name: HeaderName = name
            .parse()
            .map_err(|_| format!("`{name}` is not a header name"))?;
        let value: HeaderValue = value
            .parse()
            .map_err(|_| format!("the value of header `{name}` is not a header value"))?;
        own.insert(name, value);
    }
    let body = match &item.body {
        None | Some(Value::Null) => Body::empty(),
        Some(Value::String(text))
            if own
                .get(header::CONTENT_TYPE)
                .is_some_and(|media| !dispatch::is_json(media)) =>
        {
            Body::from(text.clone())
        }
        Some(value) => {
            own.entry(header::CONTENT_TYPE)
                .or_insert(HeaderValue::from_static("application/json"));
            Body::from(serde_json::to_vec(value).unwrap_or_default())
        }
    };
    let mut request = dispatch::inner_request(outer, method, uri, body);
    for (name, value) in &own {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    Ok(request)
}

/// The id of an item that depends on itself, directly or through others.
fn in_a_cycle<'a>(prepared: &[Prepared], items: &'a [Item]) -> Option<&'a str> {
    // 0: not visited, 1: on the current path, 2: done.
    fn visit(node: usize, prepared: &[Prepared], state: &mut [u8]) -> bool {
        match state[node] {
            1 => return true,
            2 => return false,
            _ => {}
        }
        state[node] = 1;
        for &next in &prepared[node].depends_on {
            if visit(next, prepared, state) {
                return true;
            }
        }
        state[node] = 2;
        false
    }
    let mut state = vec![0u8; prepared.len()];
    (0..prepared.len())
        .find(|&node| visit(node, prepared, &mut state))
        .map(|node| items[node].id.as_str())
}

type Outcome = (u16, BTreeMap<String, String>, Value);

/// Runs the items, at most `concurrency` at once, each after the items it depends on; an item
/// whose dependency failed answers 424 without running.
async fn run(batch: &Batch, prepared: Vec<Prepared>) -> Vec<Outcome> {
    let count = prepared.len();
    let mut waiting_on: Vec<usize> = prepared.iter().map(|p| p.depends_on.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (item, p) in prepared.iter().enumerate() {
        for &dependency in &p.depends_on {
            dependents[dependency].push(item);
        }
    }
    let mut requests: Vec<Option<http::Request<Body>>> =
        prepared.into_iter().map(|p| Some(p.request)).collect();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; count];
    let mut ready: Vec<usize> = (0..count).rev().filter(|&i| waiting_on[i] == 0).collect();
    let mut running = FuturesUnordered::new();
    let concurrency = batch.settings.concurrency.max(1);
    let mut remaining = count;
    while remaining > 0 {
        while running.len() < concurrency {
            let Some(item) = ready.pop() else { break };
            let Some(request) = requests[item].take() else {
                continue;
            };
            let router = batch.router.clone();
            running.push(async move { (item, send(router, request).await) });
        }
        let Some((item, outcome)) = running.next().await else {
            break;
        };
        let failed = outcome.0 >= 400;
        outcomes[item] = Some(outcome);
        remaining -= 1;
        let mut finished = vec![(item, failed)];
        while let Some((done, failed)) = finished.pop() {
            for &dependent in &dependents[done] {
                if outcomes[dependent].is_some() {
                    continue;
                }
                if failed {
                    // Failed without running; its own dependents fail in turn.
                    requests[dependent] = None;
                    outcomes[dependent] = Some(failed_dependency());
                    remaining -= 1;
                    finished.push((dependent, true));
                } else {
                    waiting_on[dependent] -= 1;
                    if waiting_on[dependent] == 0 {
                        ready.push(dependent);
                    }
                }
            }
        }
    }
    outcomes
        .into_iter()
        .map(|outcome| outcome.unwrap_or_else(failed_dependency))
        .collect()
}

fn failed_dependency() -> Outcome {
    let problem = Problem::new(StatusCode::FAILED_DEPENDENCY)
        .with_detail("a request it depends on failed, so it did not run");
    let body = serde_json::to_value(&problem).unwrap_or_default();
    let headers = BTreeMap::from([(
        "content-type".to_owned(),
        crate::request::problem::CONTENT_TYPE.to_owned(),
    )]);
    (StatusCode::FAILED_DEPENDENCY.as_u16(), headers, body)
}

/// One item through the router: its status, its headers (repeated ones joined) and body.
async fn send(router: axum::Router, request: http::Request<Body>) -> Outcome {
    let (status, headers, body) = dispatch::send(router, request).await;
    let mut joined: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        joined
            .entry(name.as_str().to_owned())
            .and_modify(|all| {
                all.push_str(", ");
                all.push_str(&value);
            })
            .or_insert(value);
    }
    (status.as_u16(), joined, body)
}
