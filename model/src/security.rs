//! `x-specjet.security`: the built-in verifier of each scheme that has one, and the limit on
//! failed verifications per client address.

use std::time::Duration;

/// `x-specjet.security`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecuritySettings {
    /// The schemes verified by a built-in verifier (the others by the handlers' own).
    pub schemes: Vec<SchemeSettings>,
    /// Failed verifications a client address may make per [`SecuritySettings::failures_per`]
    /// (`failures: 20/min`); past them its requests to secured operations are answered 429
    /// before any verification work. `0`: no limit.
    pub failures: u32,
    /// The window of [`SecuritySettings::failures`].
    pub failures_per: Duration,
    /// The header a trusted terminating proxy forwards a client certificate in, for
    /// `mutualTLS` schemes (`certificate-header`; default `X-Forwarded-Client-Cert`).
    pub certificate_header: String,
    /// Verified tokens remembered at most (never past their `exp`), so that a token's
    /// signature is checked once, not on every request (`verified-tokens`).
    pub verified_tokens: u64,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        SecuritySettings {
            schemes: Vec::new(),
            failures: 20,
            failures_per: Duration::from_secs(60),
            certificate_header: "x-forwarded-client-cert".to_owned(),
            verified_tokens: 10_000,
        }
    }
}

/// A scheme verified by a built-in verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemeSettings {
    /// The scheme's name in `securitySchemes`.
    pub scheme: String,
    /// Its verifier.
    pub builtin: BuiltIn,
}

/// A built-in verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuiltIn {
    /// Bearer tokens that are JWTs (`jwt`; feature `jwt`).
    Jwt(JwtSettings),
    /// API keys, each compared in constant time with the SHA-256 digests listed in an
    /// environment variable (`api-keys: {env: NAME}`): `subject:hexdigest` pairs separated by
    /// commas or newlines.
    ApiKeys {
        /// The environment variable that lists the digests.
        env: String,
    },
    /// A client certificate forwarded by a trusted proxy (`certificate: {}`): the principal
    /// is its subject (`Subject="..."` of an `X-Forwarded-Client-Cert` value), else its hash.
    Certificate,
}

/// `jwt`: how bearer tokens are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// The algorithms accepted (`HS256`, `RS256`, `PS256`, `ES256`, `EdDSA`, ...); a token
    /// signed otherwise is refused, and each must fit its key's kind (an HMAC token is never
    /// checked with a public key).
    pub algorithms: Vec<String>,
    /// Where the keys are.
    pub keys: KeySource,
    /// Accepted `iss` values (empty: not checked).
    pub issuer: Vec<String>,
    /// Accepted `aud` values (empty: not checked).
    pub audience: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// Claims a token must have (`exp` and `sub` always).
    pub required_claims: Vec<String>,
    /// A JWKS fetched from a URL is fetched again for an unknown `kid` at most this often.
    pub refresh: Duration,
}

impl JwtSettings {
    /// `algorithms` with keys from `keys`, the other checks at their defaults.
    pub fn new(algorithms: &[&str], keys: KeySource) -> JwtSettings {
        JwtSettings {
            algorithms: algorithms.iter().map(|a| (*a).to_owned()).collect(),
            keys,
            issuer: Vec::new(),
            audience: Vec::new(),
            leeway: Duration::from_secs(30),
            required_claims: Vec::new(),
            refresh: Duration::from_secs(60),
        }
    }
}

/// Where a JWT verifier's keys are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An HMAC secret in this environment variable (`secret-env`).
    SecretEnv(String),
    /// A PEM public key in this file (`public-key-file`).
    PublicKeyFile(String),
    /// A PEM public key in this environment variable (`public-key-env`).
    PublicKeyEnv(String),
    /// A JWKS in this file (`jwks-file`).
    JwksFile(String),
    /// A JWKS at this URL (`jwks-url`), or at the URL in an environment variable
    /// (`jwks-url-env`, [`KeySource::JwksUrlEnv`]).
    JwksUrl(String),
    /// A JWKS at the URL this environment variable holds.
    JwksUrlEnv(String),
}
