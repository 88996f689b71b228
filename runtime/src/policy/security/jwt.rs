//! The built-in verifier of bearer tokens that are JWTs (jsonwebtoken, its pure-Rust crypto):
//! the algorithm must be one configured and fit its key's kind (no `none`, no HMAC checked
//! with a public key), the signature must verify, `exp`/`nbf` hold within the leeway, `iss`
//! and `aud` are the configured ones, `sub` and the required claims are present.
//!
//! Keys come from an environment variable (an HMAC secret or a PEM), a PEM file, a JWKS file
//! or a JWKS URL. Keys are found by `kid`; a JWKS URL is fetched on first use and again for
//! an unknown `kid` at most once per `refresh`, so made-up `kid`s cost no flood of fetches.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::{BuiltInVerifier, Credential, Principal, Refusal};
use super::{JwtSettings, KeySource};

/// One key, by `kid` when it has one.
struct Key {
    kid: Option<String>,
    key: DecodingKey,
}

/// Where keys are fetched from again, when they are.
struct Remote {
    url: String,
    client: reqwest::Client,
    refresh: Duration,
    /// When the keys were last fetched (`None`: never): one fetch at a time, one per
    /// `refresh` at most.
    fetched: tokio::sync::Mutex<Option<Instant>>,
}

/// A configured JWT verifier.
pub(crate) struct JwtVerifier {
    algorithms: Vec<Algorithm>,
    validation: Validation,
    required: Vec<String>,
    keys: RwLock<Arc<Vec<Key>>>,
    remote: Option<Remote>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.algorithms)
            .field("remote", &self.remote.as_ref().map(|remote| &remote.url))
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// The verifier `settings` describe, its local keys loaded; the error says what is wrong
    /// (never a secret).
    pub(crate) fn new(settings: &JwtSettings) -> Result<JwtVerifier, String> {
        let algorithms = settings
            .algorithms
            .iter()
            .map(|name| {
                Algorithm::from_str(name).map_err(|_| format!("`{name}` is not a JWT algorithm"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if algorithms.is_empty() {
            return Err("`algorithms` lists none".to_owned());
        }
        let mut validation = Validation::new(algorithms[0]);
        validation.leeway = settings.leeway.as_secs();
        validation.validate_nbf = true;
        validation.validate_aud = !settings.audience.is_empty();
        if !settings.audience.is_empty() {
            validation.set_audience(&settings.audience);
        }
        if !settings.issuer.is_empty() {
            validation.set_issuer(&settings.issuer);
        }
        validation.set_required_spec_claims(&["exp", "sub"]);
        let env = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.is_empty())
                .ok_or_else(|| format!("the environment variable `{name}` is not set"))
        };
        let mut remote = None;
        let keys = match &settings.keys {
            KeySource::SecretEnv(name) => vec![Key {
                kid: None,
                key: DecodingKey::from_secret(env(name)?.as_bytes())
                    .map_err(|error| format!("`{name}`: {error}"))?,
            }],
            KeySource::PublicKeyEnv(name) => vec![Key {
                kid: None,
                key: pem_key(env(name)?.as_bytes())
                    .map_err(|error| format!("`{name}`: {error}"))?,
            }],
            KeySource::PublicKeyFile(path) => {
                let pem = std::fs::read(path).map_err(|error| format!("`{path}`: {error}"))?;
                vec![Key {
                    kid: None,
                    key: pem_key(&pem).map_err(|error| format!("`{path}`: {error}"))?,
                }]
            }
            KeySource::JwksFile(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|error| format!("`{path}`: {error}"))?;
                jwks(&text).map_err(|error| format!("`{path}`: {error}"))?
            }
            KeySource::JwksUrl(url) => {
                remote = Some(Remote::new(url.clone(), settings.refresh)?);
                Vec::new()
            }
            KeySource::JwksUrlEnv(name) => {
                remote = Some(Remote::new(env(name)?, settings.refresh)?);
                Vec::new()
            }
        };
        for algorithm in &algorithms {
            if remote.is_none()
                && !keys
                    .iter()
                    .any(|key| key.key.family() == algorithm.family())
            {
                return Err(format!("no key fits the algorithm `{algorithm:?}`"));
            }
        }
        Ok(JwtVerifier {
            algorithms,
            validation,
            required: settings.required_claims.clone(),
            keys: RwLock::new(Arc::new(keys)),
            remote,
        })
    }

    fn keys(&self) -> Arc<Vec<Key>> {
        self.keys
            .read()
            .map(|keys| keys.clone())
            .unwrap_or_default()
    }

    /// Fetches the remote keys again, unless they were fetched within `refresh`.
    async fn refresh(&self) -> Result<(), Refusal> {
        let Some(remote) = &self.remote else {
            return Ok(());
        };
        let mut fetched = remote.fetched.lock().await;
        if fetched.is_some_and(|at| at.elapsed() < remote.refresh) {
            return Ok(());
        }
        *fetched = Some(Instant::now());
        let keys = remote.fetch().await.map_err(|error| {
            tracing::warn!(url = %remote.url, %error, "the JWKS could not be fetched");
            Refusal::unavailable("the token's keys cannot be fetched now")
        })?;
        if let Ok(mut slot) = self.keys.write() {
            *slot = Arc::new(keys);
        }
        Ok(())
    }

    /// The verified principal of `token`.
    async fn check(&self, token: &str) -> Result<Principal, Refusal> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Refusal::invalid("the token is not a JWT this service accepts"))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(Refusal::invalid(format!(
                "tokens signed with {:?} are not accepted",
                header.alg
            )));
        }
        let family = header.alg.family();
        let mut keys = self.keys();
        let known = |keys: &[Key]| match &header.kid {
            Some(kid) => keys
                .iter()
                .any(|key| key.kid.as_deref() == Some(kid.as_str())),
            None => keys.iter().any(|key| key.key.family() == family),
        };
        if !known(&keys) && self.remote.is_some() {
            self.refresh().await?;
            keys = self.keys();
        }
        let candidates = keys.iter().filter(|key| {
            // An HMAC token is never checked against a public key, nor the reverse.
            key.key.family() == family
                && match (&header.kid, &key.kid) {
                    (Some(kid), Some(key_kid)) => kid == key_kid,
                    (Some(_), None) => true,
                    (None, _) => true,
                }
        });
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        let mut refusal = Refusal::invalid("no key of this service signed the token");
        for key in candidates {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
                Ok(data) => return self.principal(data.claims),
                Err(error) => {
                    refusal = Refusal::invalid(match error.kind() {
                        ErrorKind::ExpiredSignature => "the token has expired",
                        ErrorKind::ImmatureSignature => "the token is not valid yet",
                        ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                        ErrorKind::InvalidAudience => "the token is for another audience",
                        ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                        ErrorKind::InvalidSignature => "the token's signature does not verify",
                        _ => "the token is not valid",
                    });
                    // Only a bad signature may be another key's: the rest holds for all.
                    if !matches!(error.kind(), ErrorKind::InvalidSignature) {
                        break;
                    }
                }
            }
        }
        Err(refusal)
    }

    fn principal(&self, claims: Map<String, Value>) -> Result<Principal, Refusal> {
        if let Some(missing) = self
            .required
            .iter()
            .find(|claim| !claims.contains_key(*claim))
        {
            return Err(Refusal::invalid(format!(
                "the token lacks the claim `{missing}`"
            )));
        }
        let Some(Value::String(subject)) = claims.get("sub") else {
            return Err(Refusal::invalid("the token's `sub` is not a string"));
        };
        let subject = subject.clone();
        let scopes: Vec<String> = match claims.get("scope").or_else(|| claims.get("scp")) {
            Some(Value::String(scopes)) => scopes.split_whitespace().map(str::to_owned).collect(),
            Some(Value::Array(scopes)) => scopes
                .iter()
                .filter_map(|scope| scope.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        let expires = claims
            .get("exp")
            .and_then(Value::as_u64)
            .map(|exp| UNIX_EPOCH + Duration::from_secs(exp));
        let mut principal = Principal::new(subject)
            .with_scopes(scopes)
            .with_claims(claims);
        if let Some(expires) = expires {
            principal = principal.expiring(expires);
        }
        Ok(principal)
    }
}

impl Remote {
    fn new(url: String, refresh: Duration) -> Result<Remote, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|error| format!("no HTTP client for the JWKS: {error}"))?;
        Ok(Remote {
            url,
            client,
            refresh,
            fetched: tokio::sync::Mutex::new(None),
        })
    }

    async fn fetch(&self) -> Result<Vec<Key>, String> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|error| error.to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let text = response.text().await.map_err(|error| error.to_string())?;
        jwks(&text)
    }
}

/// The keys of a JWKS document.
fn jwks(text: &str) -> Result<Vec<Key>, String> {
    let set: JwkSet = serde_json::from_str(text).map_err(|error| format!("not a JWKS: {error}"))?;
    set.keys
        .iter()
        .map(|jwk| {
            Ok(Key {
                kid: jwk.common.key_id.clone(),
                key: DecodingKey::from_jwk(jwk).map_err(|error| format!("a key: {error}"))?,
            })
        })
        .collect()
}

/// A PEM public key of any kind jsonwebtoken reads (RSA, EC, Ed25519).
fn pem_key(pem: &[u8]) -> Result<DecodingKey, String> {
    DecodingKey::from_rsa_pem(pem)
        .or_else(|_| DecodingKey::from_ec_pem(pem))
        .or_else(|_| DecodingKey::from_ed_pem(pem))
        .map_err(|_| "not a PEM public key (RSA, EC or Ed25519)".to_owned())
}

impl BuiltInVerifier for JwtVerifier {
    fn verify<'a>(
        &'a self,
        _scheme: &'static str,
        credential: &'a Credential,
    ) -> Pin<Box<dyn Future<Output = Result<Principal, Refusal>> + Send + 'a>> {
        Box::pin(async move {
            match credential {
                Credential::Bearer(token) => self.check(token).await,
                _ => Err(Refusal::invalid("a bearer token is expected")),
            }
        })
    }
}
