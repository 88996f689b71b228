//! The pooled HTTP client `x-specjet.http-client` declares, for handlers that call upstream
//! services: one reqwest client per service (keep-alive connections reused across requests,
//! HTTP/2 where the upstream offers it over TLS), with connect and request timeouts, so that
//! a slow upstream costs a bounded wait and a clear answer, never a hung request.

use http::StatusCode;

use crate::request::problem::Problem;
use crate::serving::start::{env_duration, StartError};

pub use specjet_model::http_client::HttpClientSettings;

/// The service's HTTP client; cheap to clone (every clone shares the connection pool).
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
}

impl HttpClient {
    /// The client for `settings`, with the environment's overrides
    /// (`HTTP_CLIENT_CONNECT_TIMEOUT`, `HTTP_CLIENT_TIMEOUT`).
    pub fn new(settings: &HttpClientSettings) -> Result<HttpClient, StartError> {
        let mut settings = settings.clone();
        if let Some(timeout) = env_duration("HTTP_CLIENT_CONNECT_TIMEOUT")? {
            settings.connect_timeout = timeout;
        }
        if let Some(timeout) = env_duration("HTTP_CLIENT_TIMEOUT")? {
            settings.timeout = timeout;
        }
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .pool_idle_timeout(settings.idle_timeout)
            .pool_max_idle_per_host(settings.max_idle_per_host)
            .tcp_nodelay(true)
            .user_agent(settings.user_agent)
            .build()
            .map_err(|error| StartError::new(format!("cannot build the HTTP client: {error}")))?;
        Ok(HttpClient { client })
    }

    /// The reqwest client: `http.client().get(url).send().await?`.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

/// `?` on a failed upstream call in a handler: a timeout is 504, an upstream that cannot be
/// reached or that answered an error status (`error_for_status`) is 502; the upstream's
/// address stays in the log, not in the answer.
impl From<reqwest::Error> for Problem {
    fn from(error: reqwest::Error) -> Problem {
        tracing::warn!(%error, "upstream call failed");
        if error.is_timeout() {
            Problem::new(StatusCode::GATEWAY_TIMEOUT).with_detail("an upstream service timed out")
        } else if let Some(status) = error.status() {
            Problem::new(StatusCode::BAD_GATEWAY)
                .with_detail(format!("an upstream service answered {}", status.as_u16()))
        } else {
            Problem::new(StatusCode::BAD_GATEWAY)
                .with_detail("an upstream service could not be reached")
        }
    }
}
