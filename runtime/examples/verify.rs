//! The cost of verification, served for `scripts/bench-security`: one route open and one per
//! built-in JWT algorithm (HS256, RS256, ES256), each through every layer of a generated
//! router, the same handler behind each. On `ADDR`'s port the verified tokens are remembered
//! (a request pays a cache lookup); on the next port nothing is (every request checks the
//! signature). Prints `listening on http://<addr>`, then one line of JSON with a token per
//! algorithm (signed with the test keys of `tests/fixtures/keys`).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::routing::get;
use axum::Router;
use http::Method;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use specjet::security::{
    BuiltIn, JwtSettings, KeySource, Scheme, SchemeKind, SchemeSettings, SchemeUse, Security,
};
use specjet::{OperationInfo, Policies, ServiceSettings, Services};

static SCHEMES: [Scheme; 3] = [
    Scheme {
        name: "hs256",
        kind: SchemeKind::Bearer,
    },
    Scheme {
        name: "rs256",
        kind: SchemeKind::Bearer,
    },
    Scheme {
        name: "es256",
        kind: SchemeKind::Bearer,
    },
];

const fn with(scheme: usize) -> SchemeUse {
    SchemeUse {
        scheme,
        scopes: &[],
    }
}

static OPEN: OperationInfo = OperationInfo::new("open", Method::GET, "/open");
static HS256: OperationInfo =
    OperationInfo::new("hs256", Method::GET, "/hs256").with_security(&[&[with(0)]]);
static RS256: OperationInfo =
    OperationInfo::new("rs256", Method::GET, "/rs256").with_security(&[&[with(1)]]);
static ES256: OperationInfo =
    OperationInfo::new("es256", Method::GET, "/es256").with_security(&[&[with(2)]]);

const SECRET: &str = "the-verification-benchmark-key-of-32-bytes";

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn router(remembered: u64) -> Router {
    let mut settings = ServiceSettings::default();
    settings.security.verified_tokens = remembered;
    settings.security.failures = 0;
    let jwt = |algorithm: &str, keys| JwtSettings::new(&[algorithm], keys);
    settings.security.schemes = vec![
        SchemeSettings {
            scheme: "hs256".into(),
            builtin: BuiltIn::Jwt(jwt(
                "HS256",
                KeySource::SecretEnv("BENCH_JWT_SECRET".into()),
            )),
        },
        SchemeSettings {
            scheme: "rs256".into(),
            builtin: BuiltIn::Jwt(jwt(
                "RS256",
                KeySource::PublicKeyFile(fixture("rsa.pub.pem")),
            )),
        },
        SchemeSettings {
            scheme: "es256".into(),
            builtin: BuiltIn::Jwt(jwt(
                "ES256",
                KeySource::PublicKeyFile(fixture("ec.pub.pem")),
            )),
        },
    ];
    let services = Services::new(settings, None);
    let answer = || async { "{\"ok\":true}" };
    let routes = Router::new()
        .route("/open", get(answer))
        .route("/hs256", get(answer))
        .route("/rs256", get(answer))
        .route("/es256", get(answer));
    let operations = [
        (&OPEN, Policies::NONE),
        (&HS256, Policies::NONE),
        (&RS256, Policies::NONE),
        (&ES256, Policies::NONE),
    ];
    let security = Security::new(&SCHEMES, |_, verify| Box::pin(verify.builtin()));
    specjet::__private::finish(
        routes,
        &services,
        specjet::__private::Finish {
            security: Some(&security),
            ..specjet::__private::Finish::of(
                operations.to_vec(),
                Arc::new(specjet::reject::problem_json),
            )
        },
    )
}

fn token(algorithm: Algorithm, key: &EncodingKey) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = serde_json::json!({"sub": "bench", "exp": now + 24 * 3600});
    encode(&Header::new(algorithm), &claims, key).expect("signs")
}

fn main() -> std::io::Result<()> {
    std::env::set_var("BENCH_JWT_SECRET", SECRET);
    let pem = |name: &str| std::fs::read(fixture(name)).expect("a test key");
    let tokens = serde_json::json!({
        "hs256": token(Algorithm::HS256, &EncodingKey::from_secret(SECRET.as_bytes()).expect("a key")),
        "rs256": token(Algorithm::RS256, &EncodingKey::from_rsa_pem(&pem("rsa.pem")).expect("a key")),
        "es256": token(Algorithm::ES256, &EncodingKey::from_ec_pem(&pem("ec.pem")).expect("a key")),
    });
    tokio::runtime::Runtime::new()?.block_on(async move {
        let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8099".to_owned());
        let remembered = tokio::net::TcpListener::bind(&addr).await?;
        let bound = remembered.local_addr()?;
        let cold = tokio::net::TcpListener::bind((bound.ip(), bound.port() + 1)).await?;
        println!("listening on http://{bound}");
        println!("{tokens}");
        let settings = specjet::ServerSettings {
            shutdown_delay: Duration::ZERO,
            ..specjet::ServerSettings::default()
        };
        let cached = specjet::serve_listener_with(remembered, router(10_000), &settings);
        let uncached = specjet::serve_listener_with(cold, router(0), &settings);
        let (first, second) = tokio::join!(cached, uncached);
        first.and(second)
    })
}
