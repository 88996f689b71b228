//! Who passed verification, and why a credential did not.

use std::any::Any;
use std::sync::Arc;
use std::time::SystemTime;

/// The verified caller of a request: the handler receives it, and `principal` rate limits and
/// private cache entries key on its subject. Cheap to clone.
///
/// Its `Debug` shows a digest of the subject, never the subject itself: logs and spans name a
/// caller only as the service is configured to.
#[derive(Clone)]
pub struct Principal {
    subject: Arc<str>,
    scheme: &'static str,
    scopes: Arc<[String]>,
    claims: Arc<serde_json::Map<String, serde_json::Value>>,
    expires: Option<SystemTime>,
    data: Option<Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("subject", &self.subject_digest())
            .field("scheme", &self.scheme)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl Principal {
    /// A caller named `subject` (a user id, a client id), verified by whatever verifier
    /// returns it.
    pub fn new(subject: impl Into<Arc<str>>) -> Principal {
        Principal {
            subject: subject.into(),
            scheme: "",
            scopes: Arc::from(Vec::new()),
            claims: Arc::default(),
            expires: None,
            data: None,
        }
    }

    /// The principal of a request a client builds (`Client::delete_pet(Request::new(id,
    /// Principal::unverified()))`): nobody yet. A client sends its credentials, not this; the
    /// server verifies them, and its handler sees the principal they prove.
    pub fn unverified() -> Principal {
        Principal::new("")
    }

    /// With these scopes (or roles).
    pub fn with_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// With these claims (a verified token's).
    pub fn with_claims(mut self, claims: serde_json::Map<String, serde_json::Value>) -> Self {
        self.claims = Arc::new(claims);
        self
    }

    /// Valid until `expires` (a token's `exp`): a verified credential is remembered no longer.
    pub fn expiring(mut self, expires: SystemTime) -> Self {
        self.expires = Some(expires);
        self
    }

    /// With a value of the handlers' own (their user record, their tenant), which they read
    /// back with [`Principal::data`].
    pub fn with_data<T: Any + Send + Sync>(mut self, data: T) -> Self {
        self.data = Some(Arc::new(data));
        self
    }

    /// Who the caller is.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// A digest of the subject (32 hex digits): what policies key on and logs show.
    pub fn subject_digest(&self) -> String {
        crate::policy::caller::short_digest(&self.subject)
    }

    /// The scheme that verified it.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// Its scopes (or roles).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether it has `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|held| held == scope)
    }

    /// The claims of the token it was verified from (empty for other credentials).
    pub fn claims(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.claims
    }

    /// When it stops being valid, if it does.
    pub fn expires(&self) -> Option<SystemTime> {
        self.expires
    }

    /// The handlers' own value given with [`Principal::with_data`], if it is a `T`.
    pub fn data<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.data.as_deref()?.downcast_ref()
    }

    pub(crate) fn verified_by(mut self, scheme: &'static str) -> Self {
        self.scheme = scheme;
        self
    }
}

/// Why a credential did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub(crate) kind: RefusalKind,
    /// What was wrong, for the client (`error_description`): never the credential itself.
    pub(crate) reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RefusalKind {
    /// Not a valid credential (unknown, expired, tampered, for another audience...): 401.
    Invalid,
    /// A valid credential without the scopes the operation requires: 403.
    InsufficientScope(Vec<String>),
    /// The verifier could not decide (its key source does not answer): 503.
    Unavailable,
}

impl Refusal {
    /// The credential is not valid: 401, `error="invalid_token"`.
    pub fn invalid(reason: impl Into<String>) -> Refusal {
        Refusal {
            kind: RefusalKind::Invalid,
            reason: reason.into(),
        }
    }

    /// The caller lacks `scopes`: 403, `error="insufficient_scope"`.
    pub fn insufficient_scope<S: Into<String>>(scopes: impl IntoIterator<Item = S>) -> Refusal {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        Refusal {
            reason: format!("requires the scopes: {}", scopes.join(" ")),
            kind: RefusalKind::InsufficientScope(scopes),
        }
    }

    /// The verifier cannot decide now (its keys do not load): 503 with `Retry-After`.
    pub fn unavailable(reason: impl Into<String>) -> Refusal {
        Refusal {
            kind: RefusalKind::Unavailable,
            reason: reason.into(),
        }
    }

    /// What was wrong.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// The caller of a request as a key (of budgets, of held streams): the verified principal,
/// never the bytes it sent (a respelled header or another token of the same subject is the
/// same caller); unverified, the client's address.
pub(crate) fn caller_key(
    client_ip: &crate::policy::caller::ClientIp,
    parts: &http::request::Parts,
) -> String {
    match parts.extensions.get::<Principal>() {
        Some(principal) => format!("p={}", principal.subject_digest()),
        None => client_ip.key(parts),
    }
}
