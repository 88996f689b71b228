//! The spec's security, enforced before the handler: each operation's `security` (or the
//! root's), a list of alternatives (OR) each naming schemes that must all pass (AND), with
//! the scopes they require; `[]` or an empty alternative lets anonymous callers in.
//!
//! Each scheme of `components.securitySchemes` has one verifier: the handlers' own (a method
//! of the generated `Api` trait per scheme, given the credential, the operation and its
//! scopes) or, configured in `x-specjet.security`, a built-in one (JWT, hashed API keys, a
//! client certificate forwarded by a trusted proxy). What passes becomes the request's
//! [`Principal`], which the handler receives and every policy that depends on who calls keys
//! on (`principal` rate limits, private cache entries): never the bytes a client sent.
//!
//! A refused request is answered 401 with `WWW-Authenticate` naming every scheme that would
//! do (`error="invalid_token"` when a token was sent and refused), or 403 `insufficient_scope`
//! naming the missing scopes, both problem+json. A client address whose credentials keep
//! failing is answered 429 before any verification work (`failures` in `x-specjet.security`).
//!
//! - `credential.rs`: reading a scheme's credential off a request.
//! - `check.rs`: the step: alternatives, scopes, the answers, the failure limit.
//! - `principal.rs`: who passed.
//! - `api_key.rs`, `jwt.rs`, `certificate.rs`: the built-in verifiers.
//! - `x-specjet.security`'s settings are `specjet_model::security`'s.

mod api_key;
mod certificate;
mod check;
mod credential;
#[cfg(feature = "jwt")]
mod jwt;
mod principal;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use api_key::ApiKeys;
pub(crate) use check::{authenticate, Gate};
pub use credential::Credential;
pub(crate) use principal::caller_key;
pub use principal::{Principal, Refusal};
pub use specjet_model::security::{
    BuiltIn, JwtSettings, KeySource, SchemeSettings, SecuritySettings,
};

/// Where an API key is sent (`in` of an `apiKey` scheme).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyIn {
    /// A request header.
    Header,
    /// A query parameter.
    Query,
    /// A cookie.
    Cookie,
}

/// What kind of credential a scheme takes (`type` of a security scheme).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemeKind {
    /// `http` `bearer`, and `oauth2` and `openIdConnect` (a bearer token with scopes).
    Bearer,
    /// `http` `basic`: a user name and password.
    Basic,
    /// `apiKey`: a key in a header, query parameter or cookie named `name`.
    ApiKey {
        /// Where it is sent.
        location: KeyIn,
        /// The header, parameter or cookie name.
        name: &'static str,
    },
    /// `mutualTLS`: a client certificate, as a terminating proxy forwards it (only from the
    /// trusted proxies of `x-specjet.rate-limit`).
    MutualTls,
    /// An `http` scheme other than bearer and basic (`digest`, ...): its whole
    /// `Authorization` value goes to the handlers' verifier.
    OtherHttp {
        /// The scheme name (`Digest`), as a challenge names it.
        scheme: &'static str,
    },
}

/// One scheme of the spec's `components.securitySchemes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheme {
    /// Its name in `securitySchemes`.
    pub name: &'static str,
    /// What it takes.
    pub kind: SchemeKind,
}

/// One scheme of a requirement object, with the scopes (or roles) it requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemeUse {
    /// The scheme, by its index in the service's schemes.
    pub scheme: usize,
    /// The scopes the operation requires of it.
    pub scopes: &'static [&'static str],
}

impl SchemeUse {
    /// The scheme at `scheme`, requiring no scopes.
    pub const fn new(scheme: usize) -> SchemeUse {
        SchemeUse {
            scheme,
            scopes: &[],
        }
    }

    /// The same use, requiring `scopes`.
    pub const fn with_scopes(self, scopes: &'static [&'static str]) -> SchemeUse {
        SchemeUse { scopes, ..self }
    }
}

/// One requirement object: every scheme in it must pass. Empty: anonymous callers pass.
pub type Requirement = &'static [SchemeUse];

/// A credential to verify, handed to a scheme's verifier.
#[derive(Debug)]
pub struct Verify {
    /// The scheme's name.
    pub scheme: &'static str,
    /// The credential the request carried for it.
    pub credential: Credential,
    /// The operation asked for (its `operationId`).
    pub operation: &'static str,
    /// The scopes the operation requires of this scheme (checked again after the verifier:
    /// a principal without them is answered 403).
    pub scopes: &'static [&'static str],
    builtin: Option<Arc<dyn BuiltInVerifier>>,
}

impl Verify {
    /// Verifies the credential with the built-in verifier `x-specjet.security` configures for
    /// the scheme (what the generated default of a scheme's verifier calls); a refusal when
    /// none is configured.
    pub async fn builtin(self) -> Result<Principal, Refusal> {
        match &self.builtin {
            Some(builtin) => builtin.verify(self.scheme, &self.credential).await,
            None => Err(Refusal::unavailable(format!(
                "no verifier is configured for the scheme `{}`",
                self.scheme
            ))),
        }
    }
}

/// A boxed verification.
pub type Verifying = Pin<Box<dyn Future<Output = Result<Principal, Refusal>> + Send>>;

/// A built-in verifier of one scheme.
pub(crate) trait BuiltInVerifier: Send + Sync + std::fmt::Debug {
    fn verify<'a>(
        &'a self,
        scheme: &'static str,
        credential: &'a Credential,
    ) -> Pin<Box<dyn Future<Output = Result<Principal, Refusal>> + Send + 'a>>;
}

/// The service's schemes and their verifiers: the generated router's `security()` makes it
/// from the handlers (each scheme's method of the `Api` trait).
#[derive(Clone)]
pub struct Security {
    schemes: &'static [Scheme],
    verify: Arc<dyn Fn(usize, Verify) -> Verifying + Send + Sync>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("schemes", &self.schemes)
            .finish_non_exhaustive()
    }
}

impl Security {
    /// `schemes`, each verified by `verify` (given the scheme's index and what to verify).
    pub fn new(
        schemes: &'static [Scheme],
        verify: impl Fn(usize, Verify) -> Verifying + Send + Sync + 'static,
    ) -> Security {
        Security {
            schemes,
            verify: Arc::new(verify),
        }
    }

    /// `schemes`, each verified through `api` by `verify` (given `api`, the scheme's index and
    /// what to verify): how a generated router hands a credential to its scheme's method of
    /// the `Api` trait.
    pub fn with_api<A, F, Verified>(schemes: &'static [Scheme], api: Arc<A>, verify: F) -> Security
    where
        A: Send + Sync + 'static,
        F: Fn(Arc<A>, usize, Verify) -> Verified + Send + Sync + 'static,
        Verified: Future<Output = Result<Principal, Refusal>> + Send + 'static,
    {
        Security::new(schemes, move |scheme, request| {
            Box::pin(verify(Arc::clone(&api), scheme, request))
        })
    }

    /// No scheme: every operation is open.
    pub fn none() -> Security {
        Security::new(&[], |_, verify| {
            Box::pin(async move { verify.builtin().await })
        })
    }

    /// The schemes.
    pub fn schemes(&self) -> &'static [Scheme] {
        self.schemes
    }

    /// Where a request may carry credentials: the headers (`Authorization`, `Cookie` and the
    /// API-key headers of the schemes; `certificate_header`) and the query parameters (the
    /// API-key parameters). What a batch item may not set: it runs as the batch's caller.
    pub(crate) fn credential_places(
        &self,
        certificate_header: &str,
    ) -> (Vec<http::HeaderName>, Vec<&'static str>) {
        let mut headers = vec![
            http::header::AUTHORIZATION,
            http::header::PROXY_AUTHORIZATION,
            http::header::COOKIE,
        ];
        headers.extend(http::HeaderName::try_from(certificate_header).ok());
        let mut queries = Vec::new();
        for scheme in self.schemes {
            if let SchemeKind::ApiKey { location, name } = scheme.kind {
                match location {
                    KeyIn::Header => headers.extend(http::HeaderName::try_from(name).ok()),
                    KeyIn::Query => queries.push(name),
                    KeyIn::Cookie => {}
                }
            }
        }
        (headers, queries)
    }
}
