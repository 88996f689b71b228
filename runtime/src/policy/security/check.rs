//! The security step of the policy layer: an operation's alternatives tried in order, each
//! scheme's credential verified (a built-in verifier's verdict remembered until the token
//! expires), the scopes checked, the principal put in the request; or the answer that says
//! why not (401, 403, 429, 503).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};

use super::credential::{read, Source};
use super::principal::RefusalKind;
use super::{BuiltIn, SecuritySettings};
use super::{BuiltInVerifier, Credential, Principal, Refusal, SchemeKind, Security, Verify};
use crate::policy::caller::ClientIp;
use crate::policy::rate_limit::local::LocalBudget;
use crate::policy::rate_limit::Window;
use crate::request::problem::Problem;
use crate::serving::operation::OperationInfo;

/// What the step keeps for the service: the built-in verifiers, the verdicts remembered,
/// the failures per client address. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Gate {
    inner: Arc<Inner>,
}

struct Inner {
    builtins: HashMap<String, Arc<dyn BuiltInVerifier>>,
    /// Failed verifications per client address, and the addresses that used their budget
    /// (until when they wait).
    failures: Option<(LocalBudget, moka::sync::Cache<IpAddr, Instant>)>,
    /// How long one failure takes to come back to the budget.
    failure_interval: Duration,
    certificate_header: String,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("builtins", &self.inner.builtins.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// How long a remembered verdict lives at most, whatever its token says.
const REMEMBER_AT_MOST: Duration = Duration::from_secs(300);

struct UntilExpiry;

impl moka::Expiry<[u8; 32], Principal> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        principal: &Principal,
        _now: Instant,
    ) -> Option<Duration> {
        let left = principal.expires().map_or(REMEMBER_AT_MOST, |expires| {
            expires
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        });
        Some(left.min(REMEMBER_AT_MOST))
    }
}

impl Gate {
    /// The gate `settings` describe; the error names a built-in verifier that cannot be made
    /// (a missing environment variable, a key that does not read).
    pub(crate) fn new(settings: &SecuritySettings) -> Result<Gate, String> {
        let mut builtins: HashMap<String, Arc<dyn BuiltInVerifier>> = HashMap::new();
        for scheme in &settings.schemes {
            let verifier: Arc<dyn BuiltInVerifier> = match &scheme.builtin {
                BuiltIn::ApiKeys { env } => Arc::new(super::ApiKeys::from_env(env)?),
                BuiltIn::Certificate => Arc::new(super::certificate::ForwardedCertificate),
                #[cfg(feature = "jwt")]
                BuiltIn::Jwt(jwt) => Arc::new(
                    super::jwt::JwtVerifier::new(jwt)
                        .map_err(|error| format!("the scheme `{}`: {error}", scheme.scheme))?,
                ),
                #[cfg(not(feature = "jwt"))]
                BuiltIn::Jwt(_) => {
                    return Err(format!(
                        "the scheme `{}` verifies JWTs: enable the `jwt` feature of specjet",
                        scheme.scheme
                    ))
                }
            };
            builtins.insert(scheme.scheme.clone(), verifier);
        }
        let failures = (settings.failures > 0).then(|| {
            (
                LocalBudget::new(&[Window::new(settings.failures, settings.failures_per)]),
                moka::sync::Cache::builder()
                    .max_capacity(100_000)
                    .time_to_live(settings.failures_per)
                    .build(),
            )
        });
        // A built-in verifier's principal per credential digest, until its token expires
        // (none with `verified-tokens: 0`: every credential is verified each time).
        let verified = (settings.verified_tokens > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(settings.verified_tokens)
                .expire_after(UntilExpiry)
                .build()
        });
        // Each built-in verifier's verdicts remembered, once for all requests.
        if let Some(verified) = &verified {
            for builtin in builtins.values_mut() {
                *builtin = Arc::new(Remembered {
                    inner: builtin.clone(),
                    verified: verified.clone(),
                });
            }
        }
        Ok(Gate {
            inner: Arc::new(Inner {
                builtins,
                failures,
                failure_interval: settings.failures_per / settings.failures.max(1),
                certificate_header: settings.certificate_header.to_ascii_lowercase(),
            }),
        })
    }

    /// [`Gate::new`], or, when it fails, a gate whose built-in verifiers answer 503 (the
    /// error logged): what services made without [`crate::Services::start`] get.
    pub(crate) fn or_unavailable(settings: &SecuritySettings) -> Gate {
        Gate::new(settings).unwrap_or_else(|error| {
            tracing::error!("security: {error}; its schemes refuse every request");
            let mut without = settings.clone();
            without.schemes.clear();
            Gate::new(&without).unwrap_or_else(|_| unreachable!("no built-in verifier to fail"))
        })
    }

    /// How long `ip` must wait, when its failed verifications have used its budget.
    fn blocked(&self, ip: Option<IpAddr>) -> Option<Duration> {
        let ((_, blocked), ip) = (self.inner.failures.as_ref()?, ip?);
        let until = blocked.get(&ip)?;
        let now = Instant::now();
        (until > now).then(|| until - now)
    }

    /// Counts a failed verification of `ip`; the one that uses up its budget blocks it until
    /// a unit of the budget is back.
    fn failed(&self, ip: Option<IpAddr>) {
        if let (Some((budget, blocked)), Some(ip)) = (&self.inner.failures, ip) {
            let decision = budget.take(&ip.to_string(), 1);
            let wait = if decision.allowed {
                (decision.remaining == 0).then_some(self.inner.failure_interval)
            } else {
                Some(decision.retry_after)
            };
            if let Some(wait) = wait {
                blocked.insert(ip, Instant::now() + wait);
            }
        }
    }

    /// `verify` with the scheme's built-in verifier attached, when it has one.
    fn request(
        &self,
        scheme: &'static str,
        credential: Credential,
        operation: &'static str,
        scopes: &'static [&'static str],
    ) -> Verify {
        let builtin = self.inner.builtins.get(scheme).cloned();
        Verify {
            scheme,
            credential,
            operation,
            scopes,
            builtin,
        }
    }
}

/// A built-in verifier whose verdicts are remembered per credential (a digest of it, never
/// the credential) until the principal expires.
#[derive(Debug)]
struct Remembered {
    inner: Arc<dyn BuiltInVerifier>,
    verified: moka::sync::Cache<[u8; 32], Principal>,
}

impl BuiltInVerifier for Remembered {
    fn verify<'a>(
        &'a self,
        scheme: &'static str,
        credential: &'a Credential,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Principal, Refusal>> + Send + 'a>>
    {
        Box::pin(async move {
            let mut digest = Sha256::new();
            digest.update(scheme.as_bytes());
            digest.update([0]);
            digest.update(credential.secret());
            let key: [u8; 32] = digest.finalize().into();
            if let Some(principal) = self.verified.get(&key) {
                if principal
                    .expires()
                    .is_none_or(|expires| expires > SystemTime::now())
                {
                    return Ok(principal);
                }
            }
            let principal = self.inner.verify(scheme, credential).await?;
            self.verified.insert(key, principal.clone());
            Ok(principal)
        })
    }
}

/// How a request fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Missing,
    Invalid,
    Forbidden,
    Limited,
    Unavailable,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Missing => "missing",
            Outcome::Invalid => "invalid",
            Outcome::Forbidden => "forbidden",
            Outcome::Limited => "limited",
            Outcome::Unavailable => "unavailable",
        }
    }
}

fn count(operation: &'static str, scheme: &'static str, outcome: Outcome) {
    metrics::counter!(
        "specjet_auth_total",
        "operation" => operation,
        "scheme" => scheme,
        "outcome" => outcome.label()
    )
    .increment(1);
}

/// Checks `operation`'s security on a request: `Ok` with the verified principal (if any) put
/// in its extensions, or the answer to give instead.
pub(crate) async fn authenticate(
    gate: &Gate,
    security: &Security,
    client_ip: &ClientIp,
    operation: &'static OperationInfo,
    parts: &mut http::request::Parts,
) -> Result<(), Response> {
    let alternatives = operation.security;
    if alternatives.is_empty() {
        return Ok(());
    }
    let schemes = security.schemes();
    let ip = client_ip.of(&parts.headers, &parts.extensions);
    let anonymous = alternatives
        .iter()
        .any(|alternative| alternative.is_empty());
    let mut refusals: Vec<(usize, Refusal)> = Vec::new();
    let mut presented = false;
    for alternative in alternatives.iter().filter(|a| !a.is_empty()) {
        let mut principal: Option<Principal> = None;
        let mut passed = true;
        for need in alternative.iter() {
            let Some(scheme) = schemes.get(need.scheme) else {
                passed = false;
                break;
            };
            let source = Source {
                parts,
                trusted_peer: client_ip.peer_is_trusted(&parts.extensions),
                certificate_header: &gate.inner.certificate_header,
            };
            let Some(credential) = read(scheme, &source) else {
                passed = false;
                break;
            };
            presented = true;
            // A caller whose credentials keep failing pays no verification any more.
            if let Some(wait) = gate.blocked(ip) {
                count(operation.id, scheme.name, Outcome::Limited);
                return Err(too_many_failures(wait));
            }
            let request = gate.request(scheme.name, credential, operation.id, need.scopes);
            let verdict = (security.verify)(need.scheme, request).await;
            match verdict {
                Ok(verified) => {
                    let missing: Vec<&str> = need
                        .scopes
                        .iter()
                        .copied()
                        .filter(|scope| !verified.has_scope(scope))
                        .collect();
                    if !missing.is_empty() {
                        refusals.push((need.scheme, Refusal::insufficient_scope(missing)));
                        passed = false;
                        break;
                    }
                    principal.get_or_insert(verified.verified_by(scheme.name));
                }
                Err(refusal) => {
                    refusals.push((need.scheme, refusal));
                    passed = false;
                    break;
                }
            }
        }
        if passed {
            if let Some(principal) = principal {
                tracing::debug!(
                    operation = operation.id,
                    scheme = principal.scheme(),
                    subject = %principal.subject_digest(),
                    "verified"
                );
                count(operation.id, principal.scheme(), Outcome::Ok);
                parts.extensions.insert(principal);
                return Ok(());
            }
        }
    }
    if anonymous && !presented {
        return Ok(());
    }
    let invalid = refusals
        .iter()
        .any(|(_, refusal)| refusal.kind == RefusalKind::Invalid);
    if invalid {
        gate.failed(ip);
    }
    Err(refusal_answer(operation, schemes, &refusals, presented))
}

/// 429 for a client address whose failed verifications used its budget.
fn too_many_failures(wait: Duration) -> Response {
    Problem::new(StatusCode::TOO_MANY_REQUESTS)
        .with_detail("too many requests with credentials that do not verify; retry later")
        .with_retry_after(u32::try_from(wait.as_secs().max(1)).unwrap_or(u32::MAX))
        .into_response()
}

/// The answer to a request no alternative let in: 403 when a credential was valid but lacked
/// scopes, 503 when a verifier could not decide, else 401 with a challenge per scheme.
fn refusal_answer(
    operation: &'static OperationInfo,
    schemes: &[super::Scheme],
    refusals: &[(usize, Refusal)],
    presented: bool,
) -> Response {
    let scheme_name = |index: usize| schemes.get(index).map_or("", |scheme| scheme.name);
    if let Some((index, refusal)) = refusals
        .iter()
        .find(|(_, refusal)| matches!(refusal.kind, RefusalKind::InsufficientScope(_)))
    {
        count(operation.id, scheme_name(*index), Outcome::Forbidden);
        let RefusalKind::InsufficientScope(missing) = &refusal.kind else {
            unreachable!("found as insufficient scope");
        };
        let mut response = Problem::new(StatusCode::FORBIDDEN)
            .with_detail(format!(
                "`{}` requires the scopes: {}",
                operation.id,
                missing.join(" ")
            ))
            .into_response();
        let challenge = format!(
            "Bearer error=\"insufficient_scope\", scope=\"{}\"",
            quoted(&missing.join(" "))
        );
        if let Ok(challenge) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        return response;
    }
    if let Some((index, refusal)) = refusals
        .iter()
        .find(|(_, refusal)| refusal.kind == RefusalKind::Unavailable)
    {
        count(operation.id, scheme_name(*index), Outcome::Unavailable);
        tracing::warn!(operation = operation.id, reason = %refusal.reason, "credentials could not be verified");
        return Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail("credentials cannot be verified now; retry shortly")
            .with_retry_after(1)
            .into_response();
    }
    let refused = refusals.first();
    let outcome = if presented {
        Outcome::Invalid
    } else {
        Outcome::Missing
    };
    count(
        operation.id,
        refused.map_or("", |(index, _)| scheme_name(*index)),
        outcome,
    );
    let detail = match refused {
        Some((_, refusal)) => format!("the credentials were refused: {}", refusal.reason),
        None => format!("`{}` requires credentials", operation.id),
    };
    let mut response = Problem::new(StatusCode::UNAUTHORIZED)
        .with_detail(detail)
        .into_response();
    let mut seen: Vec<usize> = Vec::new();
    for alternative in operation.security {
        for need in alternative.iter() {
            if seen.contains(&need.scheme) {
                continue;
            }
            seen.push(need.scheme);
            let Some(scheme) = schemes.get(need.scheme) else {
                continue;
            };
            let refusal = refusals
                .iter()
                .find(|(index, _)| *index == need.scheme)
                .map(|(_, refusal)| refusal);
            if let Some(challenge) = challenge(scheme.kind, refusal) {
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response
                        .headers_mut()
                        .append(header::WWW_AUTHENTICATE, value);
                }
            }
        }
    }
    response
}

/// The challenge (RFC 7235) of one scheme: `error="invalid_token"` for a bearer token that was
/// sent and refused (RFC 6750).
fn challenge(kind: SchemeKind, refused: Option<&Refusal>) -> Option<String> {
    Some(match kind {
        SchemeKind::Bearer => match refused {
            Some(refusal) => format!(
                "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"{}\"",
                quoted(&refusal.reason)
            ),
            None => "Bearer realm=\"api\"".to_owned(),
        },
        SchemeKind::Basic => "Basic realm=\"api\", charset=\"UTF-8\"".to_owned(),
        SchemeKind::ApiKey { location, name } => {
            let location = match location {
                super::KeyIn::Header => "header",
                super::KeyIn::Query => "query",
                super::KeyIn::Cookie => "cookie",
            };
            format!(
                "ApiKey realm=\"api\", in=\"{location}\", name=\"{}\"",
                quoted(name)
            )
        }
        SchemeKind::OtherHttp { scheme } => format!("{scheme} realm=\"api\""),
        SchemeKind::MutualTls => return None,
    })
}

/// `text` safe inside a quoted-string of a header (quotes and backslashes dropped, and
/// anything that is not visible ASCII).
fn quoted(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\' || *c == ' ')
        .collect()
}
