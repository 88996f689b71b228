//! The typed client a generated module carries: one method per operation, taking the
//! operation's `Request` and returning its `Response`, the same types the server reads and
//! answers. This module is what those methods share: [`Client`] (the transport, the
//! credentials, the retry policy and the deadline of every call), [`Call`] and [`Answer`]
//! (a request as generated code writes it and an answer as it reads it), and the transports
//! (`InProcess` through a router, feature `server`; `Http` over the network, feature
//! `client`).
//!
//! ```ignore
//! let client = api::Client::new(specjet::client::Http::new("http://127.0.0.1:8080")?)
//!     .with_bearer("token");
//! let answer = client.show_pet_by_id(show_pet_by_id::Request::new(7)).await?;
//! ```

mod call;
mod retry;
mod revalidate;
mod transport;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use http::{header, HeaderName, HeaderValue, StatusCode};

pub use call::{Answer, Call};
pub use retry::Retry;
pub use specjet_model::params::Written;
#[cfg(feature = "client")]
pub use transport::Http;
#[cfg(feature = "server")]
pub use transport::InProcess;
pub use transport::{Sending, Transport};

use crate::problem::Problem;

/// Why a call has no answer the spec describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// A parameter or the body cannot be written as the spec says.
    Encode {
        /// The operation called.
        operation: &'static str,
        /// What cannot be written.
        reason: String,
    },
    /// The service could not be reached: the request was not sent.
    Connect {
        /// The operation called.
        operation: &'static str,
        /// Why.
        reason: String,
    },
    /// The request was sent but its answer was lost (the connection broke).
    Transport {
        /// The operation called.
        operation: &'static str,
        /// Why.
        reason: String,
    },
    /// No answer within the call's deadline (the operation's `x-timeout`, or the client's),
    /// retries included.
    Timeout {
        /// The operation called.
        operation: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// The answer is not one the spec documents for the operation, or does not parse as the
    /// documented type.
    Decode {
        /// The operation called.
        operation: &'static str,
        /// The answer's status.
        status: u16,
        /// What does not match.
        reason: String,
    },
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Encode { operation, reason } => {
                write!(f, "`{operation}`: cannot write the request: {reason}")
            }
            ClientError::Connect { operation, reason } => {
                write!(f, "`{operation}`: cannot reach the service: {reason}")
            }
            ClientError::Transport { operation, reason } => {
                write!(f, "`{operation}`: the answer was lost: {reason}")
            }
            ClientError::Timeout { operation, after } => {
                write!(f, "`{operation}`: no answer within {after:?}")
            }
            ClientError::Decode {
                operation,
                status,
                reason,
            } => write!(
                f,
                "`{operation}`: the answer ({status}) is not as documented: {reason}"
            ),
        }
    }
}

impl std::error::Error for ClientError {}

/// `?` on a failed call in a handler: a timeout is 504, anything else 502; the reason stays
/// in the log, not in the answer.
impl From<ClientError> for Problem {
    fn from(error: ClientError) -> Problem {
        tracing::warn!(%error, "a call to another service failed");
        match error {
            ClientError::Timeout { .. } => Problem::new(StatusCode::GATEWAY_TIMEOUT)
                .with_detail("an upstream service timed out"),
            _ => Problem::new(StatusCode::BAD_GATEWAY)
                .with_detail("an upstream service did not answer as documented"),
        }
    }
}

/// What a generated client holds: where calls go, the caller's credentials, and how calls
/// are retried and bounded. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    transport: Arc<dyn Transport>,
    retry: Retry,
    timeout: Option<Duration>,
    headers: http::HeaderMap,
    query: Vec<(String, String)>,
    cookies: Vec<String>,
    prefix: String,
    revalidation: Option<revalidate::Revalidation>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials are never printed.
        f.debug_struct("Client")
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("prefix", &self.prefix)
            .field("revalidation", &self.revalidation)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client sending through `transport`, retrying as [`Retry::default`] says.
    pub fn new(transport: impl Transport) -> Client {
        Client {
            transport: Arc::new(transport),
            retry: Retry::default(),
            timeout: None,
            headers: http::HeaderMap::new(),
            query: Vec::new(),
            cookies: Vec::new(),
            prefix: String::new(),
            revalidation: Some(revalidate::Revalidation::new(DEFAULT_CACHED_ANSWERS)),
        }
    }

    /// The same client keeping at most `answers` answers of the operations the spec caches
    /// (revalidated with `If-None-Match` at every call; 304 reuses the stored body), or none
    /// (`0`). Clones made after share the cache.
    pub fn with_cache(mut self, answers: u64) -> Client {
        self.revalidation = (answers > 0).then(|| revalidate::Revalidation::new(answers));
        self
    }

    /// The same client putting `prefix` before every operation's path: the path the service
    /// serves its operations under (its base path; a generated client sets the spec's).
    pub fn with_path_prefix(mut self, prefix: &str) -> Client {
        self.prefix = prefix.trim_end_matches('/').to_owned();
        self
    }

    /// The same client retrying as `retry` says ([`Retry::never`] turns retries off).
    pub fn with_retry(mut self, retry: Retry) -> Client {
        self.retry = retry;
        self
    }

    /// The deadline of every call, retries included (an operation's `x-timeout`, when
    /// shorter, wins).
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = Some(timeout);
        self
    }

    /// A credential sent as a header with every call (an API key, a token); it is marked
    /// sensitive, so that it stays out of logs. Ignored, with a warning, if it is not a
    /// valid header.
    pub fn with_header(mut self, name: &str, value: &str) -> Client {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(name), Ok(mut value)) => {
                value.set_sensitive(true);
                self.headers.insert(name, value);
            }
            _ => tracing::warn!(
                header = name,
                "a credential is not a valid header: not sent"
            ),
        }
        self
    }

    /// A credential sent as a query parameter with every call (an API key `in: query`).
    pub fn with_query(mut self, name: &str, value: &str) -> Client {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A credential sent as a cookie with every call (an API key `in: cookie`).
    pub fn with_cookie(mut self, name: &str, value: &str) -> Client {
        self.cookies.push(format!("{name}={value}"));
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn with_bearer(self, token: &str) -> Client {
        self.with_header(header::AUTHORIZATION.as_str(), &format!("Bearer {token}"))
    }

    /// `Authorization: Basic ...` (RFC 7617).
    pub fn with_basic(self, user: &str, password: &str) -> Client {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.with_header(header::AUTHORIZATION.as_str(), &format!("Basic {encoded}"))
    }

    /// Sends `call` with the client's credentials, again while the answer is 429 or 503 (or
    /// the service could not be reached) and the call is safe to repeat, and returns the
    /// answer: the last one when retries run out or the next wait would pass the deadline.
    pub async fn send(&self, mut call: Call) -> Result<Answer, ClientError> {
        let operation = call.operation;
        // The tighter of the operation's `x-timeout` and the client's own deadline.
        let timeout = match (call.timeout, self.timeout) {
            (Some(operation), Some(client)) => Some(operation.min(client)),
            (operation, client) => operation.or(client),
        };
        let started = Instant::now();
        let deadline = timeout.map(|timeout| started + timeout);
        for (name, value) in &self.headers {
            call.headers.insert(name, value.clone());
        }
        call.add_client_parts(&self.prefix, &self.query, &self.cookies);
        let idempotent = call.idempotent;
        let revalidation = self.revalidation.as_ref().filter(|_| call.revalidated);
        let request = call.into_request()?;
        let mut attempt = 1;
        loop {
            let mut attempted = copy(&request);
            // Revalidation reads what was asked (its `If-None-Match`) beside the answer; a
            // call without it sends its one copy.
            let asked = revalidation.map(|cache| {
                cache.ask(&mut attempted);
                copy(&attempted)
            });
            let sent = self.transport.send(operation, attempted);
            let result: Result<http::Response<bytes::Bytes>, ClientError> = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline.into(), sent)
                    .await
                    .unwrap_or_else(|_| {
                        Err(ClientError::Timeout {
                            operation,
                            after: timeout.unwrap_or_default(),
                        })
                    }),
                None => sent.await,
            };
            let result = match (revalidation, &asked) {
                (Some(cache), Some(asked)) => result.map(|response| cache.answer(asked, response)),
                _ => result,
            };
            let again = match &result {
                Ok(response) if idempotent && Retry::retries_status(response.status().as_u16()) => {
                    Some(Some(response.headers()))
                }
                Err(ClientError::Connect { .. }) => Some(None),
                Err(ClientError::Transport { .. }) if idempotent => Some(None),
                _ => None,
            };
            let wait = again
                .filter(|_| attempt < self.retry.attempts)
                .and_then(|headers| self.retry.wait(attempt, headers))
                .filter(|wait| deadline.is_none_or(|deadline| Instant::now() + *wait < deadline));
            if let Some(wait) = wait {
                tracing::debug!(operation, attempt, ?wait, "retrying a call");
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            let status = match &result {
                Ok(response) => response.status().as_str().to_owned(),
                Err(_) => "error".to_owned(),
            };
            metrics::counter!("specjet_client_calls_total", "operation" => operation, "status" => status)
                .increment(1);
            metrics::histogram!("specjet_client_call_duration_seconds", "operation" => operation)
                .record(started.elapsed().as_secs_f64());
            return result.map(|response| Answer::new(operation, response));
        }
    }
}

/// Answers a client keeps for revalidation unless told otherwise.
const DEFAULT_CACHED_ANSWERS: u64 = 1024;

/// Another copy of a request to send (the body's bytes are shared, not copied).
fn copy(request: &http::Request<bytes::Bytes>) -> http::Request<bytes::Bytes> {
    let mut copy = http::Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.headers_mut() = request.headers().clone();
    copy
}
