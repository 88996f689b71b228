//! The shop's bearer tokens: JWTs signed (HS256) with the key in `SHOP_JWT_SECRET`, naming the
//! user in `sub`, with the scope `orders:read`. The shop signs them (`issueToken`,
//! `createUser`); the generated service verifies them before a secured handler runs, as
//! `x-specjet.security` in `specs/shop.yaml` says, so no handler reads a header.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use specjet::http::StatusCode;
use specjet::{Problem, StartError};

/// The environment variable that holds the signing key.
pub const SECRET_ENV: &str = "SHOP_JWT_SECRET";
/// `iss` and `aud` of every token (the spec's `issuer` and `audience`).
pub const ISSUER: &str = "shop";
/// The scope `listMyOrders` requires.
pub const SCOPE: &str = "orders:read";
/// How long a token is valid.
pub const LIFETIME: Duration = Duration::from_secs(3600);

/// Sets `SHOP_JWT_SECRET` to a random development key when it is not set, so that the shop
/// starts anywhere; `true` when it did (the caller says so: such tokens die with the
/// process). Call it before any thread reads the environment.
pub fn development_key_if_unset() -> bool {
    if std::env::var(SECRET_ENV).is_ok_and(|secret| !secret.is_empty()) {
        return false;
    }
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        return false;
    }
    let key: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    // Before any other thread runs: `main` calls this first.
    std::env::set_var(SECRET_ENV, key);
    true
}

/// Signs and checks the shop's tokens.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(<key>)")
    }
}

/// The claims of a token.
#[derive(serde::Serialize, serde::Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    iat: u64,
    exp: u64,
    scope: String,
}

impl Tokens {
    /// The key in `SHOP_JWT_SECRET`.
    pub fn from_env() -> Result<Tokens, StartError> {
        let secret = std::env::var(SECRET_ENV)
            .ok()
            .filter(|secret| !secret.is_empty())
            .ok_or_else(|| StartError::new(format!("{SECRET_ENV} is not set")))?;
        Ok(Tokens {
            encoding: EncodingKey::from_secret(secret.as_bytes())
                .map_err(|error| StartError::new(format!("{SECRET_ENV}: {error}")))?,
            decoding: DecodingKey::from_secret(secret.as_bytes())
                .map_err(|error| StartError::new(format!("{SECRET_ENV}: {error}")))?,
        })
    }

    /// A token for `user_id`, valid for [`LIFETIME`].
    pub fn issue(&self, user_id: i64) -> Result<String, Problem> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            sub: user_id.to_string(),
            iss: ISSUER.to_owned(),
            aud: ISSUER.to_owned(),
            iat: now,
            exp: now + LIFETIME.as_secs(),
            scope: SCOPE.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(
            |error| {
                eprintln!("shop: a token could not be signed: {error}");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
            },
        )
    }

    /// The user a valid token names (for code that checks tokens by hand: the benchmarks'
    /// hand-written twin; the generated service checks them itself).
    pub fn user_of(&self, token: &str) -> Option<i64> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[ISSUER]);
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok()?;
        claims.claims.sub.parse().ok()
    }
}

/// The user named by a principal the service verified (its `sub`), or 401.
pub fn user_of(principal: &specjet::security::Principal) -> Result<i64, Problem> {
    principal.subject().parse().map_err(|_| {
        Problem::new(StatusCode::UNAUTHORIZED).with_detail("the token names no user of the shop")
    })
}
