//! How a client's requests reach a service: over HTTP ([`Http`], feature `http-client`), or
//! through a router in the same process ([`InProcess`]), every layer applied and no socket.

use std::future::Future;
#[cfg(feature = "server")]
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;

#[cfg(feature = "server")]
use axum::extract::ConnectInfo;
use bytes::Bytes;

use super::ClientError;

/// A boxed future of a transport's answer.
pub type Sending<'a> =
    Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, ClientError>> + Send + 'a>>;

/// Sends one request and reads its whole answer. The request's URI is `path?query`; the
/// transport knows where the service is.
pub trait Transport: Send + Sync + 'static {
    /// The answer to `request`, or why there is none: [`ClientError::Connect`] when it
    /// cannot have reached the service (so that it is safe to send again).
    fn send(&self, operation: &'static str, request: http::Request<Bytes>) -> Sending<'_>;
}

#[cfg(feature = "server")]
/// Calls through a router in process: the request meets every layer a request over the
/// network meets (validation, security, limits, caching), from a loopback client address.
#[derive(Debug, Clone)]
pub struct InProcess {
    router: axum::Router,
}

#[cfg(feature = "server")]
impl InProcess {
    /// The transport into `router` (a generated `router(api)`, or one with more routes).
    pub fn new(router: axum::Router) -> InProcess {
        InProcess { router }
    }
}

#[cfg(feature = "server")]
impl Transport for InProcess {
    fn send(&self, _operation: &'static str, request: http::Request<Bytes>) -> Sending<'_> {
        let mut request = request.map(axum::body::Body::from);
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))));
        let router = self.router.clone();
        Box::pin(async move {
            let (status, headers, body) = crate::compose::dispatch::send_raw(router, request).await;
            let mut response = http::Response::new(body);
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            Ok(response)
        })
    }
}

#[cfg(feature = "client")]
pub use over_http::Http;

#[cfg(feature = "client")]
mod over_http {
    use super::{Bytes, ClientError, Sending, Transport};

    /// Calls over HTTP with a pooled reqwest client (keep-alive connections reused, HTTP/2
    /// where the service offers it over TLS).
    #[derive(Debug, Clone)]
    pub struct Http {
        client: reqwest::Client,
        /// The origin, parsed once: each call sets its path and query on a copy (parsing
        /// a whole URL per call costs more than the rest of the client's work).
        base: reqwest::Url,
    }

    impl Http {
        /// The transport to the service at `base_url` (`http://127.0.0.1:8080`, or one of
        /// the spec's `servers`; a path in it prefixes every operation's path).
        pub fn new(base_url: &str) -> Result<Http, ClientError> {
            let client = reqwest::Client::builder()
                .tcp_nodelay(true)
                .build()
                .map_err(|error| ClientError::Transport {
                    operation: "",
                    reason: error.to_string(),
                })?;
            Http::with_client(client, base_url)
        }

        /// The transport over a client of your own (its pool, TLS and proxy settings), or
        /// the service's `HttpClient`'s.
        pub fn with_client(client: reqwest::Client, base_url: &str) -> Result<Http, ClientError> {
            let base = reqwest::Url::parse(base_url.trim_end_matches('/')).map_err(|error| {
                ClientError::Connect {
                    operation: "",
                    reason: format!("`{base_url}` is not a URL: {error}"),
                }
            })?;
            if base.cannot_be_a_base() {
                return Err(ClientError::Connect {
                    operation: "",
                    reason: format!("`{base_url}` is not an http(s) origin"),
                });
            }
            Ok(Http { client, base })
        }
    }

    impl Transport for Http {
        fn send(&self, operation: &'static str, request: http::Request<Bytes>) -> Sending<'_> {
            let (parts, body) = request.into_parts();
            let mut url = self.base.clone();
            let prefix = url.path().trim_end_matches('/');
            let path = format!("{prefix}{}", parts.uri.path());
            url.set_path(&path);
            url.set_query(parts.uri.query());
            let sent = self
                .client
                .request(parts.method, url)
                .headers(parts.headers)
                .body(body);
            Box::pin(async move {
                let failed = |error: reqwest::Error| {
                    if error.is_connect() {
                        ClientError::Connect {
                            operation,
                            reason: error.to_string(),
                        }
                    } else {
                        ClientError::Transport {
                            operation,
                            reason: error.to_string(),
                        }
                    }
                };
                let response = sent.send().await.map_err(failed)?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = response.bytes().await.map_err(failed)?;
                let mut answer = http::Response::new(body);
                *answer.status_mut() = status;
                *answer.headers_mut() = headers;
                Ok(answer)
            })
        }
    }
}
