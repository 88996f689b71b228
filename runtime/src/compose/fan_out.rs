//! Composite operations (`x-fan-out`): an operation answered by calling its parts, other
//! operations of the same service, at the same time, and answering an object with one field
//! per part. 50 + 80 + 120 ms of parts answer in 120 ms.
//!
//! Each part is sent through the service's own router, so it meets its own policies (a cached
//! part is served from the cache, a part's rate limit counts), with the composite's headers
//! and the parameters of the same name from the composite's path and query. The composite is
//! served behind its own policies too: its timeout bounds every part, and its cache entry
//! holds the composed answer. A failing part makes the composite answer that part's answer,
//! unless the part is optional (`x-fan-out-optional`): its field is then `null`.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::{FromRequestParts, RawPathParams, Request};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use tracing::Instrument;

use crate::compose::dispatch;
use crate::request::problem::Problem;

/// One part of a composite: the field it fills and the operation that fills it.
#[derive(Debug)]
pub struct Part {
    /// The field of the composite's answer.
    pub field: &'static str,
    /// The part's path as the spec writes it (`/users/{userId}`).
    pub path: &'static str,
    /// The part's parameters and where the composite's request holds them.
    pub args: &'static [Arg],
    /// A failure makes the field `null` instead of failing the composite.
    pub optional: bool,
}

/// A parameter of a part.
#[derive(Debug)]
pub struct Arg {
    /// The part's parameter name.
    pub name: &'static str,
    /// Whether it goes into the part's path (else its query).
    pub in_path: bool,
    /// Where the composite's request holds it.
    pub from: Source,
}

/// Where the composite's request holds a value.
#[derive(Debug)]
pub enum Source {
    /// The path capture with this route key.
    Path(&'static str),
    /// The query parameter with this name.
    Query(&'static str),
}

/// The router the composites send their parts through, filled once it is finished (the
/// composites are routes of that same router).
#[derive(Debug, Clone, Default)]
pub struct Slot(Arc<OnceLock<axum::Router>>);

impl Slot {
    /// Sets the finished router (once; later calls change nothing).
    pub fn fill(&self, router: &axum::Router) {
        let _ = self.0.set(router.clone());
    }

    /// The handler of a composite with these parts.
    pub fn handler(
        &self,
        parts: &'static [Part],
    ) -> impl Fn(Request) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>
           + Clone
           + Send
           + Sync
           + 'static {
        let slot = self.clone();
        move |request| {
            let slot = slot.clone();
            Box::pin(async move { compose(slot, parts, request).await })
        }
    }
}

async fn compose(slot: Slot, parts: &'static [Part], request: Request) -> Response {
    let Some(router) = slot.0.get().cloned() else {
        return Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
            .with_detail("the composite's router is not finished")
            .into_response();
    };
    let (mut head, _) = request.into_parts();
    let captures: Vec<(String, String)> =
        match RawPathParams::from_request_parts(&mut head, &()).await {
            Ok(params) => params
                .iter()
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .collect(),
            Err(_) => Vec::new(),
        };
    let query: Vec<(String, String)> =
        form_urlencoded::parse(head.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    // Each part is a task of its own, so the runtime's threads serve the parts side by side
    // (one task would run their layers and serialization one after the other); dropping the
    // composite (its timeout, a client gone) aborts them.
    let mut tasks: Vec<PartTask> = parts
        .iter()
        .map(|part| {
            let request = part_request(&head, part, &captures, &query);
            PartTask(tokio::spawn(
                dispatch::send_raw(router.clone(), request).in_current_span(),
            ))
        })
        .collect();
    let answers: Vec<_> = futures_util::future::join_all(tasks.iter_mut().map(|task| &mut task.0))
        .await
        .into_iter()
        .map(|joined| joined.unwrap_or_else(|_| failed_part()))
        .collect();
    // The parts' JSON goes into the answer as it came, checked but not rebuilt.
    let mut body = Vec::with_capacity(
        answers
            .iter()
            .map(|(_, _, bytes)| bytes.len() + 16)
            .sum::<usize>()
            + 2,
    );
    body.push(b'{');
    for (index, (part, (status, headers, bytes))) in parts.iter().zip(answers).enumerate() {
        crate::observability::timing::add_part(part.field, &headers);
        if !status.is_success() && !part.optional {
            // The part's own answer (its status, its problem, and what tells a client when or
            // how to come back) is the composite's.
            let mut answer = (status, bytes).into_response();
            for name in [
                header::CONTENT_TYPE,
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
            ] {
                let mut values = headers.get_all(&name).iter();
                if let Some(first) = values.next() {
                    answer.headers_mut().insert(name.clone(), first.clone());
                }
                for value in values {
                    answer.headers_mut().append(name.clone(), value.clone());
                }
            }
            return answer;
        }
        if index > 0 {
            body.push(b',');
        }
        write_json_string(&mut body, part.field);
        body.push(b':');
        if !status.is_success() || bytes.is_empty() {
            body.extend_from_slice(b"null");
        } else if headers
            .get(header::CONTENT_TYPE)
            .is_some_and(dispatch::is_json)
            && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok()
        {
            body.extend_from_slice(&bytes);
        } else {
            // Not JSON: the text, as a JSON string.
            write_json_string(&mut body, &String::from_utf8_lossy(&bytes));
        }
    }
    body.push(b'}');
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// The answer of a part whose task panicked: a 500 problem, which fails the composite.
fn failed_part() -> (StatusCode, http::HeaderMap, bytes::Bytes) {
    let problem = Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
        .with_detail("a part of the composite failed");
    let mut headers = http::HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::request::problem::CONTENT_TYPE),
    );
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    (StatusCode::INTERNAL_SERVER_ERROR, headers, body.into())
}

/// A part's task, aborted when dropped before it finished.
struct PartTask(tokio::task::JoinHandle<(StatusCode, http::HeaderMap, bytes::Bytes)>);

impl Drop for PartTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn write_json_string(out: &mut Vec<u8>, text: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// The request of one part: its path with the composite's values, its query, the composite's
/// headers (but those of its body and encoding), from the same client.
fn part_request(
    head: &http::request::Parts,
    part: &Part,
    captures: &[(String, String)],
    query: &[(String, String)],
) -> http::Request<Body> {
    let mut path = part.path.to_owned();
    let mut part_query = form_urlencoded::Serializer::new(String::new());
    for arg in part.args {
        let value = match &arg.from {
            Source::Path(key) => captures.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Source::Query(name) => query.iter().find(|(k, _)| k == name).map(|(_, v)| v),
        };
        let Some(value) = value else { continue };
        if arg.in_path {
            let encoded: String = form_urlencoded::byte_serialize(value.as_bytes())
                .collect::<String>()
                .replace('+', "%20");
            path = path.replace(&format!("{{{}}}", arg.name), &encoded);
        } else {
            part_query.append_pair(arg.name, value);
        }
    }
    let part_query = part_query.finish();
    let uri = if part_query.is_empty() {
        path
    } else {
        format!("{path}?{part_query}")
    };
    let uri = uri.parse().unwrap_or_else(|_| http::Uri::from_static("/"));
    dispatch::inner_request(head, http::Method::GET, uri, Body::empty())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use axum::routing::get;

    use super::*;

    static PARTS: [Part; 2] = [
        Part {
            field: "slow",
            path: "/slow",
            args: &[],
            optional: false,
        },
        Part {
            field: "fast",
            path: "/fast",
            args: &[],
            optional: false,
        },
    ];

    /// A composite of a part that finishes after 150 ms (counting its finishes) and a quick one.
    fn composite() -> (Slot, Arc<AtomicUsize>) {
        let finished = Arc::new(AtomicUsize::new(0));
        let counter = finished.clone();
        let router = axum::Router::new()
            .route(
                "/slow",
                get(move || async move {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    counter.fetch_add(1, Ordering::SeqCst);
                    axum::Json(serde_json::json!({"done": true}))
                }),
            )
            .route(
                "/fast",
                get(|| async { axum::Json(serde_json::json!([1, 2])) }),
            );
        let slot = Slot::default();
        slot.fill(&router);
        (slot, finished)
    }

    fn request() -> Request {
        http::Request::get("/dashboard")
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parts_answer_together_and_a_dropped_composite_stops_them() {
        let (slot, finished) = composite();
        let answer = slot.handler(&PARTS)(request()).await;
        assert_eq!(answer.status(), StatusCode::OK);
        let body = axum::body::to_bytes(answer.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&body[..], br#"{"slow":{"done":true},"fast":[1,2]}"#);
        assert_eq!(finished.load(Ordering::SeqCst), 1);

        // Past its timeout the composite is dropped: its parts are aborted, not left running.
        let cut = tokio::time::timeout(Duration::from_millis(30), slot.handler(&PARTS)(request()));
        assert!(cut.await.is_err());
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            finished.load(Ordering::SeqCst),
            1,
            "the slow part was stopped"
        );
    }
}
