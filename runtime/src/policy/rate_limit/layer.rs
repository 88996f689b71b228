//! Enforcing one operation's rate limit, as a step of the policy layer (`crate::serving::pipeline`):
//! the budget key of a request, the decision, the headers and the 429/503 answers.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderName, HeaderValue, StatusCode};

use super::local::LocalBudget;
use super::{Decision, KeyPart, RateLimitPolicy, RateLimiter, Unavailable};
use crate::policy::caller::{header_text, short_digest};
use crate::policy::load::{load, Overload};
use crate::request::problem::Problem;
use crate::serving::operation::OperationInfo;

/// `RateLimit-Policy` (IETF httpapi draft): the quota of every window.
pub const RATE_LIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`: what is left in the tightest window, and when it is whole again.
pub const RATE_LIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Key values longer than this are replaced by a digest, bounding the memory a key takes.
const LONGEST_KEY_VALUE: usize = 64;

/// A limited operation with what every response of it shares, built once.
pub(crate) struct Prepared {
    operation: &'static OperationInfo,
    normal: Budget,
    /// The tighter budget of `adaptive`, and whether the service is loaded.
    adaptive: Option<(Budget, Arc<Overload>)>,
    allowed: metrics::Counter,
    limited: metrics::Counter,
    unavailable: metrics::Counter,
}

/// One set of windows with its budget and the headers that describe it.
struct Budget {
    policy: RateLimitPolicy,
    local: Arc<LocalBudget>,
    /// Told apart from the normal budget's key in a shared store.
    key_suffix: &'static str,
    /// The name of each window in the headers.
    window_names: Vec<String>,
    policy_header: HeaderValue,
}

impl Budget {
    fn new(limiter: &RateLimiter, policy: RateLimitPolicy, adaptive: bool) -> Budget {
        let base = if adaptive {
            format!("{}.adaptive", policy.name)
        } else {
            policy.name.to_owned()
        };
        let window_names: Vec<String> = (0..policy.windows.len())
            .map(|index| match index {
                0 => base.clone(),
                n => format!("{base}.{n}"),
            })
            .collect();
        let items: Vec<String> = policy
            .windows
            .iter()
            .zip(&window_names)
            .map(|(window, name)| {
                format!(
                    "{};q={};w={}",
                    quoted(name),
                    window.limit,
                    whole_seconds(window.period)
                )
            })
            .collect();
        let policy_header = HeaderValue::from_str(&items.join(", "))
            .unwrap_or_else(|_| HeaderValue::from_static("\"default\""));
        Budget {
            local: limiter.local(&policy, adaptive),
            key_suffix: if adaptive { "|adaptive" } else { "" },
            window_names,
            policy_header,
            policy,
        }
    }
}

impl Prepared {
    pub(crate) fn new(
        limiter: &RateLimiter,
        operation: &'static OperationInfo,
        policy: RateLimitPolicy,
    ) -> Prepared {
        // A `match`, not `Option::map`: a closure capturing the policy's fields one by one
        // meets a compiler bug with the model's form-generic fields.
        let adaptive = match policy.adaptive {
            Some(adaptive) => {
                let tighter = RateLimitPolicy {
                    windows: adaptive.windows,
                    adaptive: None,
                    ..policy
                };
                let overload = Arc::new(Overload::new(
                    policy.name,
                    adaptive.in_flight,
                    adaptive.p95_above,
                    adaptive.hold,
                ));
                load().watch(&overload);
                Some((Budget::new(limiter, tighter, true), overload))
            }
            None => None,
        };
        let counter = |result: &'static str| metrics::counter!("specjet_rate_limit_requests_total", "operation" => operation.id, "result" => result);
        Prepared {
            normal: Budget::new(limiter, policy, false),
            adaptive,
            allowed: counter("allowed"),
            limited: counter("limited"),
            unavailable: counter("unavailable"),
            operation,
        }
    }

    /// The policy as the spec states it.
    fn policy(&self) -> &RateLimitPolicy {
        &self.normal.policy
    }

    /// Takes the request's units from its budget (and from the adaptive budget while the
    /// service is loaded): `Ok(Some(..))` lets it through (the decision's headers go on the
    /// answer), `Ok(None)` lets it through unmetered (the shared budget did not answer and the
    /// service allows), `Err` is the answer instead (429, 503).
    pub(crate) async fn admit(
        &self,
        limiter: &RateLimiter,
        parts: &mut http::request::Parts,
    ) -> Result<Option<Admitted>, Response> {
        let key = key_of(limiter, self, parts).await;
        let mut admitted = None;
        let loaded = self
            .adaptive
            .as_ref()
            .filter(|(_, overload)| overload.engaged())
            .map(|(budget, _)| budget);
        for budget in std::iter::once(&self.normal).chain(loaded) {
            let key: std::borrow::Cow<'_, str> = match budget.key_suffix {
                "" => key.as_str().into(),
                suffix => format!("{key}{suffix}").into(),
            };
            let decision = match limiter.take(&budget.policy, &budget.local, &key).await {
                Ok(decision) => decision,
                Err(Unavailable::Backend) => {
                    self.unavailable.increment(1);
                    if limiter.settings().on_backend_error == super::OnBackendError::Deny {
                        return Err(unavailable(self));
                    }
                    return Ok(None);
                }
            };
            if !decision.allowed {
                self.limited.increment(1);
                return Err(limited(budget, &decision));
            }
            admitted = Some(Admitted {
                decision,
                adaptive: !budget.key_suffix.is_empty(),
            });
        }
        self.allowed.increment(1);
        Ok(admitted)
    }

    /// The `RateLimit` and `RateLimit-Policy` headers of an admitted request's answer: of the
    /// limit in force.
    pub(crate) fn annotate(&self, admitted: &Admitted, headers: &mut http::HeaderMap) {
        let budget = match &self.adaptive {
            Some((budget, _)) if admitted.adaptive => budget,
            _ => &self.normal,
        };
        add_headers(budget, &admitted.decision, headers);
    }
}

/// A request let through, and by which budget's decision its headers are written.
pub(crate) struct Admitted {
    decision: Decision,
    adaptive: bool,
}

/// A structured-field string (RFC 8941): quoted, with `"` and `\` escaped and anything
/// outside printable ASCII dropped.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars().filter(|c| (' '..='~').contains(c)) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Seconds, rounded up (a wait of 0.2 s is announced as 1 s, never as 0).
fn whole_seconds(duration: Duration) -> u64 {
    let seconds = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        seconds + 1
    } else {
        seconds
    }
}

/// The budget key of a request: its parts joined by `|`.
async fn key_of(
    limiter: &RateLimiter,
    route: &Prepared,
    parts: &mut http::request::Parts,
) -> String {
    let auto = [if route.operation.secured {
        KeyPart::Principal
    } else {
        KeyPart::Ip
    }];
    let key_parts: &[KeyPart] = if route.policy().key.is_empty() {
        &auto
    } else {
        route.policy().key
    };
    let mut key = String::new();
    for (index, part) in key_parts.iter().enumerate() {
        if index > 0 {
            key.push('|');
        }
        let value = match part {
            KeyPart::Global => "*".to_owned(),
            KeyPart::Ip => limiter.inner.client_ip.key(parts),
            // The verified caller, never the bytes it sent: a respelled header or another
            // token of the same subject is the same budget. Unverified, the client address.
            KeyPart::Principal => {
                crate::policy::security::caller_key(&limiter.inner.client_ip, parts)
            }
            KeyPart::Header(name) => bounded(&header_text(&parts.headers, name)),
            KeyPart::Query(name) => {
                let value = parts.uri.query().and_then(|query| {
                    form_urlencoded::parse(query.as_bytes())
                        .find(|(key, _)| key == name)
                        .map(|(_, value)| value.into_owned())
                });
                bounded(&value.unwrap_or_default())
            }
            KeyPart::Path(name) => {
                let capture = route
                    .operation
                    .params
                    .iter()
                    .find(|(param, _)| param == name)
                    .map(|(_, capture)| *capture);
                let value = match (capture, RawPathParams::from_request_parts(parts, &()).await) {
                    (Some(capture), Ok(params)) => params
                        .iter()
                        .find(|(key, _)| *key == capture)
                        .map(|(_, value)| value.to_owned()),
                    _ => None,
                };
                bounded(&value.unwrap_or_default())
            }
        };
        key.push_str(&value);
    }
    key
}

fn bounded(value: &str) -> String {
    if value.len() > LONGEST_KEY_VALUE {
        short_digest(value)
    } else {
        value.replace('|', "%7C")
    }
}

fn add_headers(budget: &Budget, decision: &Decision, headers: &mut http::HeaderMap) {
    headers.insert(RATE_LIMIT_POLICY, budget.policy_header.clone());
    let name = budget
        .window_names
        .get(decision.window)
        .map(String::as_str)
        .unwrap_or(budget.policy.name);
    let value = format!(
        "{};r={};t={}",
        quoted(name),
        decision.remaining,
        whole_seconds(decision.reset)
    );
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(RATE_LIMIT, value);
    }
}

/// 429 Too Many Requests as problem+json, with `Retry-After` and the limit headers.
fn limited(budget: &Budget, decision: &Decision) -> Response {
    let retry = whole_seconds(decision.retry_after).max(1);
    let loaded = if budget.key_suffix.is_empty() {
        ""
    } else {
        ", the tighter limit while the service is loaded"
    };
    let detail = match budget.policy.windows.get(decision.window) {
        Some(window) => format!(
            "rate limit `{}` exceeded ({} per {}{loaded}); retry in {retry} s",
            budget.policy.name,
            window.limit,
            describe_period(window.period)
        ),
        None => format!(
            "rate limit `{}` exceeded{loaded}; retry in {retry} s",
            budget.policy.name
        ),
    };
    let mut response = Problem::new(StatusCode::TOO_MANY_REQUESTS)
        .with_detail(detail)
        .into_response();
    add_headers(budget, decision, response.headers_mut());
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry));
    response
}

/// 503 when the shared budget cannot be consulted and the service is set to deny.
fn unavailable(route: &Prepared) -> Response {
    let mut response = Problem::new(StatusCode::SERVICE_UNAVAILABLE)
        .with_detail(format!(
            "the budget of rate limit `{}` cannot be consulted; retry shortly",
            route.policy().name
        ))
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(1u64));
    response
}

fn describe_period(period: Duration) -> String {
    let ms = period.as_millis();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("min", 60_000),
        ("s", 1_000),
    ] {
        if ms >= size && ms.is_multiple_of(size) {
            return match ms / size {
                1 => unit.to_owned(),
                n => format!("{n}{unit}"),
            };
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_follow_the_draft() {
        assert_eq!(quoted("list\"Pets"), "\"list\\\"Pets\"");
        assert_eq!(whole_seconds(Duration::from_millis(200)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(60)), 60);
        assert_eq!(describe_period(Duration::from_secs(60)), "min");
        assert_eq!(describe_period(Duration::from_secs(600)), "10min");
        assert_eq!(describe_period(Duration::from_millis(1500)), "1500ms");
    }
}
