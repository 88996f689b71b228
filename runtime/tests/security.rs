//! The security step on a router served as a generated one is: the spec's alternatives and
//! scopes, the built-in verifiers (JWT with HMAC, RSA, EC and Ed25519 keys from the
//! environment, a PEM, a JWKS file and a JWKS URL; hashed API keys in a header, the query or a
//! cookie), and the attacks on them (no `alg`, an HMAC token signed with the public key,
//! tampered, expired, early, another issuer or audience, made-up `kid`s, token guessing,
//! budget refills, another caller's cached answers, impersonation through a batch).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, Extension};
use axum::routing::get;
use axum::Router;
use http::{Method, Request, StatusCode};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use specjet::cache::{Cache, CachePolicy, CacheSettings, Scope};
use specjet::rate_limit::{KeyPart, RateLimitPolicy, RateLimiter, Window};
use specjet::security::{
    BuiltIn, JwtSettings, KeyIn, KeySource, Principal, Scheme, SchemeKind, SchemeSettings,
    SchemeUse, Security,
};
use specjet::{OperationInfo, Policies, ServiceSettings, Services};
use tower::ServiceExt;

const SECRET_ENV: &str = "SPECJET_TEST_JWT_SECRET";
const SECRET: &str = "a-test-secret-of-thirty-two-bytes!";
const KEYS_ENV: &str = "SPECJET_TEST_API_KEYS";

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn env_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The digests of `key-alice` and `key-bob` (SHA-256).
        let digest = |key: &str| {
            use sha2::Digest;
            sha2::Sha256::digest(key.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        std::env::set_var(SECRET_ENV, SECRET);
        std::env::set_var(
            KEYS_ENV,
            format!("alice:{}, bob:{}", digest("key-alice"), digest("key-bob")),
        );
    });
}

static SCHEMES: [Scheme; 6] = [
    Scheme {
        name: "jwt",
        kind: SchemeKind::Bearer,
    },
    Scheme {
        name: "keyHeader",
        kind: SchemeKind::ApiKey {
            location: KeyIn::Header,
            name: "x-api-key",
        },
    },
    Scheme {
        name: "keyQuery",
        kind: SchemeKind::ApiKey {
            location: KeyIn::Query,
            name: "api_key",
        },
    },
    Scheme {
        name: "keyCookie",
        kind: SchemeKind::ApiKey {
            location: KeyIn::Cookie,
            name: "session_key",
        },
    },
    Scheme {
        name: "rsa",
        kind: SchemeKind::Bearer,
    },
    Scheme {
        name: "ecJwks",
        kind: SchemeKind::Bearer,
    },
];

const JWT: SchemeUse = SchemeUse {
    scheme: 0,
    scopes: &[],
};
const JWT_ORDERS: SchemeUse = SchemeUse {
    scheme: 0,
    scopes: &["orders:read"],
};
const KEY_HEADER: SchemeUse = SchemeUse {
    scheme: 1,
    scopes: &[],
};
const KEY_QUERY: SchemeUse = SchemeUse {
    scheme: 2,
    scopes: &[],
};
const KEY_COOKIE: SchemeUse = SchemeUse {
    scheme: 3,
    scopes: &[],
};

static ME: OperationInfo =
    OperationInfo::new("me", Method::GET, "/me").with_security(&[&[JWT_ORDERS]]);
static OPEN: OperationInfo = OperationInfo::new("open", Method::GET, "/open");
static MAYBE: OperationInfo =
    OperationInfo::new("maybe", Method::GET, "/maybe").with_security(&[&[JWT], &[]]);
static BOTH: OperationInfo =
    OperationInfo::new("both", Method::GET, "/both").with_security(&[&[JWT, KEY_HEADER]]);
static EITHER: OperationInfo = OperationInfo::new("either", Method::GET, "/either")
    .with_security(&[&[KEY_QUERY], &[KEY_COOKIE], &[KEY_HEADER]]);
static CACHED: OperationInfo =
    OperationInfo::new("cached", Method::GET, "/cached").with_security(&[&[JWT]]);
static LIMITED: OperationInfo =
    OperationInfo::new("limited", Method::GET, "/limited").with_security(&[&[JWT]]);
static RSA: OperationInfo =
    OperationInfo::new("rsa", Method::GET, "/rsa").with_security(&[&[SchemeUse {
        scheme: 4,
        scopes: &[],
    }]]);
static EC: OperationInfo =
    OperationInfo::new("ec", Method::GET, "/ec").with_security(&[&[SchemeUse {
        scheme: 5,
        scopes: &[],
    }]]);

const LIMIT: RateLimitPolicy = RateLimitPolicy {
    name: "limited",
    windows: &[Window::new(2, Duration::from_secs(60))],
    key: &[KeyPart::Principal],
    cost: 1,
    adaptive: None,
};

/// Who the handler saw: the principal's subject and scopes, or `anonymous`.
async fn whoami(principal: Option<Extension<Principal>>) -> String {
    match principal {
        Some(Extension(principal)) => {
            format!("{} {}", principal.subject(), principal.scopes().join(","))
        }
        None => "anonymous".to_owned(),
    }
}

struct App {
    router: Router,
    cached_calls: Arc<AtomicUsize>,
}

fn jwt(keys: KeySource, algorithms: &[&str]) -> JwtSettings {
    let mut settings = JwtSettings::new(algorithms, keys);
    settings.issuer = vec!["shop".to_owned()];
    settings.audience = vec!["shop-api".to_owned()];
    settings.leeway = Duration::from_secs(5);
    settings
}

/// The app, its built-in verifiers as `schemes` says, its failures limited to `failures` per
/// minute per client address.
fn app(jwks_url: &str, failures: u32) -> App {
    env_once();
    let mut settings = ServiceSettings::default();
    settings.security.failures = failures;
    settings.security.schemes = vec![
        SchemeSettings {
            scheme: "jwt".into(),
            builtin: BuiltIn::Jwt(jwt(KeySource::SecretEnv(SECRET_ENV.into()), &["HS256"])),
        },
        SchemeSettings {
            scheme: "rsa".into(),
            builtin: BuiltIn::Jwt(jwt(
                KeySource::PublicKeyFile(fixture("rsa.pub.pem")),
                &["RS256", "PS256"],
            )),
        },
        SchemeSettings {
            scheme: "ecJwks".into(),
            builtin: BuiltIn::Jwt({
                let mut settings = jwt(KeySource::JwksUrl(jwks_url.into()), &["ES256", "EdDSA"]);
                settings.refresh = Duration::from_millis(300);
                settings
            }),
        },
    ];
    for scheme in ["keyHeader", "keyQuery", "keyCookie"] {
        settings.security.schemes.push(SchemeSettings {
            scheme: scheme.into(),
            builtin: BuiltIn::ApiKeys {
                env: KEYS_ENV.into(),
            },
        });
    }
    let services = Services::from_parts(
        settings,
        Cache::new(CacheSettings::default(), None),
        RateLimiter::new(Default::default(), None),
    );
    let cached_calls = Arc::new(AtomicUsize::new(0));
    let calls = cached_calls.clone();
    let cached = move |principal: Option<Extension<Principal>>| {
        let calls = calls.clone();
        async move {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            format!("{} call {n}", whoami(principal).await)
        }
    };
    let router = Router::new()
        .route("/me", get(whoami))
        .route("/open", get(whoami))
        .route("/maybe", get(whoami))
        .route("/both", get(whoami))
        .route("/either", get(whoami))
        .route("/cached", get(cached))
        .route("/limited", get(whoami))
        .route("/rsa", get(whoami))
        .route("/ec", get(whoami));
    let mut private = CachePolicy::new(Duration::from_secs(60));
    private.scope = Scope::Auto;
    let operations = [
        (&ME, Policies::NONE),
        (&OPEN, Policies::NONE),
        (&MAYBE, Policies::NONE),
        (&BOTH, Policies::NONE),
        (&EITHER, Policies::NONE),
        (
            &CACHED,
            Policies {
                cache: Some(private),
                batch_group: Some("reads"),
                ..Policies::NONE
            },
        ),
        (
            &LIMITED,
            Policies {
                rate_limit: Some(LIMIT),
                ..Policies::NONE
            },
        ),
        (&RSA, Policies::NONE),
        (&EC, Policies::NONE),
    ];
    let security = Security::new(&SCHEMES, |_, verify| Box::pin(verify.builtin()));
    let router = specjet::__private::finish(
        router,
        &services,
        specjet::__private::Finish {
            security: Some(&security),
            ..specjet::__private::Finish::of(
                operations.to_vec(),
                Arc::new(specjet::reject::problem_json),
            )
        },
    );
    App {
        router,
        cached_calls,
    }
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Reply {
    fn challenges(&self) -> Vec<String> {
        self.headers
            .get_all("www-authenticate")
            .iter()
            .map(|value| value.to_str().unwrap().to_owned())
            .collect()
    }
}

/// Sends `request` as from `client` (an address of 127.0.0.0/8).
async fn send_from(router: &Router, client: u8, mut request: Request<Body>) -> Reply {
    let peer: std::net::SocketAddr = format!("127.0.0.{client}:40000").parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn get_with(path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::empty()).unwrap()
}

async fn call(router: &Router, path: &str, headers: &[(&str, &str)]) -> Reply {
    send_from(router, 1, get_with(path, headers)).await
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Standard claims for `sub`, valid for an hour, with `extra` on top.
fn claims(sub: &str, extra: Value) -> Value {
    let mut claims = json!({
        "sub": sub, "iss": "shop", "aud": "shop-api", "exp": now() + 3600, "iat": now(),
    });
    if let (Value::Object(claims), Value::Object(extra)) = (&mut claims, extra) {
        claims.extend(extra);
    }
    claims
}

fn hs256(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn signed(algorithm: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, key).unwrap()
}

fn pem_key(name: &str, algorithm: Algorithm) -> EncodingKey {
    let pem = std::fs::read(fixture(name)).unwrap();
    match algorithm {
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem).unwrap(),
        _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A JWKS server on a free port that counts its fetches; `keys` is what it serves.
async fn jwks_server(keys: Arc<std::sync::Mutex<Value>>) -> (String, Arc<AtomicUsize>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counted = fetches.clone();
    let router = Router::new().route(
        "/jwks.json",
        get(move || {
            let (keys, counted) = (keys.clone(), counted.clone());
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                axum::Json(keys.lock().unwrap().clone())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}/jwks.json"), fetches)
}

fn jwk(key: &EncodingKey, algorithm: Algorithm, kid: &str) -> Value {
    let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(key, algorithm).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    serde_json::to_value(jwk).unwrap()
}

#[tokio::test]
async fn alternatives_scopes_and_challenges() {
    let App { router, .. } = app("http://127.0.0.1:9/unused", 0);
    let with_scope = hs256(&claims("user-7", json!({"scope": "orders:read profile"})));
    let without = hs256(&claims("user-7", json!({"scp": ["profile"]})));

    // Anonymous: 401 with a challenge per acceptable scheme, no handler reached.
    let reply = call(&router, "/me", &[]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.challenges(), ["Bearer realm=\"api\""]);
    assert_eq!(reply.headers["content-type"], "application/problem+json");
    // Verified, with the scope: the handler gets the principal.
    let reply = call(&router, "/me", &[("authorization", &bearer(&with_scope))]).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (StatusCode::OK, "user-7 orders:read,profile")
    );
    // Verified, without the scope: 403 naming it.
    let reply = call(&router, "/me", &[("authorization", &bearer(&without))]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.challenges(),
        ["Bearer error=\"insufficient_scope\", scope=\"orders:read\""]
    );
    assert!(reply.body.contains("orders:read"), "{}", reply.body);

    // `security: []` (no requirement) and `[{jwt: []}, {}]` (anonymous allowed).
    assert_eq!(call(&router, "/open", &[]).await.body, "anonymous");
    assert_eq!(call(&router, "/maybe", &[]).await.body, "anonymous");
    let reply = call(&router, "/maybe", &[("authorization", &bearer(&without))]).await;
    assert_eq!(reply.body, "user-7 profile");
    // A refused credential is not anonymity: 401.
    let reply = call(&router, "/maybe", &[("authorization", "Bearer made-up")]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);

    // AND: both schemes, or neither passes.
    let token = ("authorization", bearer(&without));
    let reply = call(&router, "/both", &[(token.0, &token.1)]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.challenges(),
        [
            "Bearer realm=\"api\"",
            "ApiKey realm=\"api\", in=\"header\", name=\"x-api-key\""
        ]
    );
    let reply = call(
        &router,
        "/both",
        &[(token.0, &token.1), ("x-api-key", "key-alice")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, "user-7 profile", "the first scheme's principal");

    // OR: an API key in the query, a cookie or a header; a wrong one is refused.
    for (path, headers) in [
        ("/either?api_key=key-bob", vec![]),
        (
            "/either",
            vec![("cookie", "theme=dark; session_key=key-bob")],
        ),
        ("/either", vec![("x-api-key", "key-bob")]),
    ] {
        let reply = call(&router, path, &headers).await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (StatusCode::OK, "bob "),
            "{path}"
        );
    }
    let reply = call(&router, "/either?api_key=key-eve", &[]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.challenges().len(), 3);
    assert!(
        !reply.body.contains("key-eve"),
        "no credential in an answer: {}",
        reply.body
    );
}

#[tokio::test]
async fn forged_expired_and_confused_tokens_are_refused() {
    let App { router, .. } = app("http://127.0.0.1:9/unused", 0);
    let refused = |reply: Reply, why: &str| {
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{why}: {}",
            reply.body
        );
        let challenge = &reply.challenges()[0];
        assert!(
            challenge.starts_with("Bearer realm=\"api\", error=\"invalid_token\""),
            "{why}: {challenge}"
        );
    };
    let header = |token: &str| [("authorization", bearer(token))];
    let me = |token: String| {
        let router = router.clone();
        async move {
            let headers = header(&token);
            call(&router, "/me", &[(headers[0].0, headers[0].1.as_str())]).await
        }
    };
    let scoped = |extra: Value| {
        let mut claims = claims("user-7", json!({"scope": "orders:read"}));
        if let (Value::Object(claims), Value::Object(extra)) = (&mut claims, extra) {
            claims.extend(extra);
        }
        claims
    };
    use base64::Engine;
    let b64 =
        |value: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string());

    // `alg: none`, unsigned.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&scoped(json!({})))
    );
    refused(me(none).await, "alg none");
    // HS256 signed with the RSA public key (algorithm confusion), on the RSA scheme.
    let public = std::fs::read(fixture("rsa.pub.pem")).unwrap();
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &scoped(json!({})),
        &EncodingKey::from_secret(&public).unwrap(),
    )
    .unwrap();
    let headers = header(&confused);
    refused(
        call(&router, "/rsa", &[(headers[0].0, headers[0].1.as_str())]).await,
        "HS256 with the public key",
    );
    // Tampered payload: the signature of another.
    let good = hs256(&scoped(json!({})));
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged = b64(&scoped(json!({"sub": "admin"})));
    parts[1] = &forged;
    refused(me(parts.join(".")).await, "tampered");
    // Expired, not yet valid, another issuer, another audience, no `sub`, another secret.
    refused(
        me(hs256(&scoped(json!({"exp": now() - 60})))).await,
        "expired",
    );
    refused(
        me(hs256(&scoped(json!({"nbf": now() + 600})))).await,
        "not yet valid",
    );
    refused(me(hs256(&scoped(json!({"iss": "other"})))).await, "issuer");
    refused(
        me(hs256(&scoped(json!({"aud": "other"})))).await,
        "audience",
    );
    let mut no_sub = scoped(json!({}));
    no_sub.as_object_mut().unwrap().remove("sub");
    refused(me(hs256(&no_sub)).await, "no sub");
    let other_secret = encode(
        &Header::new(Algorithm::HS256),
        &scoped(json!({})),
        &EncodingKey::from_secret(b"another-secret-of-thirty-two-bytes").unwrap(),
    )
    .unwrap();
    refused(me(other_secret).await, "another secret");
    // Within the leeway an expired token still passes; a valid one passes.
    assert_eq!(
        me(hs256(&scoped(json!({"exp": now() - 1})))).await.status,
        StatusCode::OK
    );
    assert_eq!(me(good).await.status, StatusCode::OK);

    // RS256 and PS256 with the PEM public key; a token of another RSA key is refused.
    for algorithm in [Algorithm::RS256, Algorithm::PS256] {
        let token = signed(
            algorithm,
            None,
            &pem_key("rsa.pem", algorithm),
            &scoped(json!({})),
        );
        let headers = header(&token);
        let reply = call(&router, "/rsa", &[(headers[0].0, headers[0].1.as_str())]).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{algorithm:?}: {}",
            reply.body
        );
    }
    let token = signed(
        Algorithm::RS256,
        None,
        &pem_key("rsa2.pem", Algorithm::RS256),
        &scoped(json!({})),
    );
    let headers = header(&token);
    refused(
        call(&router, "/rsa", &[(headers[0].0, headers[0].1.as_str())]).await,
        "another RSA key",
    );
    // RS384 is not among the scheme's algorithms.
    let token = signed(
        Algorithm::RS384,
        None,
        &pem_key("rsa.pem", Algorithm::RS384),
        &scoped(json!({})),
    );
    let headers = header(&token);
    refused(
        call(&router, "/rsa", &[(headers[0].0, headers[0].1.as_str())]).await,
        "an algorithm not configured",
    );
}

#[tokio::test]
async fn jwks_keys_are_found_by_kid_rotated_and_fetched_once_per_interval() {
    let ec = pem_key("ec.pem", Algorithm::ES256);
    let ed = pem_key("ed.pem", Algorithm::EdDSA);
    let keys = Arc::new(std::sync::Mutex::new(json!({
        "keys": [jwk(&ec, Algorithm::ES256, "ec-1"), jwk(&ed, Algorithm::EdDSA, "ed-1")]
    })));
    let (url, fetches) = jwks_server(keys.clone()).await;
    let App { router, .. } = app(&url, 0);
    let ec_call = |kid: &'static str, key: EncodingKey, algorithm: Algorithm| {
        let router = router.clone();
        async move {
            let token = signed(algorithm, Some(kid), &key, &claims("svc", json!({})));
            call(&router, "/ec", &[("authorization", &bearer(&token))]).await
        }
    };
    assert_eq!(
        ec_call("ec-1", ec.clone(), Algorithm::ES256).await.status,
        StatusCode::OK
    );
    assert_eq!(
        ec_call("ed-1", ed.clone(), Algorithm::EdDSA).await.status,
        StatusCode::OK
    );
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "fetched once, on first use"
    );

    // A flood of made-up kids: refused, and at most one fetch per refresh interval (300 ms)
    // that the flood lasts (a slow machine may take more than one).
    let flood = std::time::Instant::now();
    for n in 0..50 {
        let kid: &'static str = Box::leak(format!("made-up-{n}").into_boxed_str());
        let reply = ec_call(kid, ec.clone(), Algorithm::ES256).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let intervals = flood.elapsed().as_millis() / 300;
    let fetched = fetches.load(Ordering::SeqCst) as u128;
    assert!(
        fetched <= 2 + intervals,
        "{fetched} fetches for 50 unknown kids in {} intervals",
        intervals + 1
    );

    // Rotation: the old key goes, a new one comes; the new kid is fetched (once the interval
    // has passed) and the old one is refused.
    let ec2 = pem_key("ec2.pem", Algorithm::ES256);
    *keys.lock().unwrap() = json!({"keys": [jwk(&ec2, Algorithm::ES256, "ec-2")]});
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        ec_call("ec-2", ec2.clone(), Algorithm::ES256).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        ec_call("ed-1", ed, Algorithm::EdDSA).await.status,
        StatusCode::UNAUTHORIZED,
        "a key gone from the JWKS"
    );
}

#[tokio::test]
async fn policies_key_on_the_verified_subject_never_on_the_bytes_sent() {
    let App {
        router,
        cached_calls,
    } = app("http://127.0.0.1:9/unused", 0);
    let alice_1 = hs256(&claims("alice", json!({"jti": "1"})));
    let alice_2 = hs256(&claims("alice", json!({"jti": "2"})));
    let bob = hs256(&claims("bob", json!({})));

    // Private cache: one entry per subject; two tokens of alice share it, bob never sees it.
    let first = call(&router, "/cached", &[("authorization", &bearer(&alice_1))]).await;
    assert_eq!(first.body, "alice  call 1");
    let again = call(
        &router,
        "/cached",
        &[("authorization", &bearer(&alice_2)), ("cookie", "other=1")],
    )
    .await;
    assert_eq!(
        again.body, "alice  call 1",
        "another token of alice: her entry"
    );
    assert!(again.headers["cache-status"]
        .to_str()
        .unwrap()
        .contains("hit"));
    let bobs = call(&router, "/cached", &[("authorization", &bearer(&bob))]).await;
    assert_eq!(bobs.body, "bob  call 2", "bob never gets alice's answer");
    assert!(bobs.headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("private"));
    let anonymous = call(&router, "/cached", &[]).await;
    assert_eq!(
        anonymous.status,
        StatusCode::UNAUTHORIZED,
        "no entry for the anonymous"
    );
    assert_eq!(cached_calls.load(Ordering::SeqCst), 2);

    // A `principal` budget of 2: alice's tokens, respelled headers and cookies share it.
    let spellings = [
        vec![("authorization", bearer(&alice_1))],
        vec![("authorization", format!("bearer   {alice_2}"))],
        vec![
            ("authorization", bearer(&alice_1)),
            ("cookie", "refill=please".to_owned()),
        ],
    ];
    let mut statuses = Vec::new();
    for headers in &spellings {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        statuses.push(call(&router, "/limited", &headers).await.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 429], "one budget for alice");
    let reply = call(&router, "/limited", &[("authorization", &bearer(&bob))]).await;
    assert_eq!(reply.status, StatusCode::OK, "bob has a budget of his own");
}

#[tokio::test]
async fn token_guessing_meets_a_429_before_any_verification() {
    let App { router, .. } = app("http://127.0.0.1:9/unused", 5);
    let valid = hs256(&claims("user-7", json!({"scope": "orders:read"})));
    let mut statuses = Vec::new();
    for n in 0..8 {
        let guess = format!("Bearer guess-{n}");
        let reply = send_from(&router, 9, get_with("/me", &[("authorization", &guess)])).await;
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    // The guesser's address is refused even with a valid token, at once; another address is
    // not.
    let reply = send_from(
        &router,
        9,
        get_with("/me", &[("authorization", &bearer(&valid))]),
    )
    .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(reply.headers.contains_key("retry-after"));
    let reply = send_from(
        &router,
        10,
        get_with("/me", &[("authorization", &bearer(&valid))]),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    // Missing credentials are not guesses: no budget is taken.
    for _ in 0..10 {
        let reply = send_from(&router, 11, get_with("/me", &[])).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn batch_items_run_as_the_batch_caller_and_cannot_carry_credentials() {
    let App { router, .. } = app("http://127.0.0.1:9/unused", 0);
    let alice = hs256(&claims("alice", json!({})));
    let bob = hs256(&claims("bob", json!({})));
    let batch = |body: Value, headers: &[(&str, &str)]| {
        let mut request = Request::post("/batch").header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(Body::from(body.to_string())).unwrap()
    };
    // As alice: the item answers as alice.
    let reply = send_from(
        &router,
        1,
        batch(
            json!({"requests": [{"id": "1", "method": "GET", "url": "/cached"}]}),
            &[("authorization", &bearer(&alice))],
        ),
    )
    .await;
    let answer: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(answer["responses"][0]["status"], 200, "{answer}");
    assert!(answer["responses"][0]["body"]
        .as_str()
        .unwrap()
        .starts_with("alice"));
    // An item that brings bob's token, or an API key in its query, makes the batch a 400.
    for item in [
        json!({"id": "1", "method": "GET", "url": "/cached", "headers": {"Authorization": bearer(&bob)}}),
        json!({"id": "1", "method": "GET", "url": "/cached", "headers": {"cookie": "session_key=key-bob"}}),
        json!({"id": "1", "method": "GET", "url": "/cached?api_key=key-bob"}),
    ] {
        let reply = send_from(
            &router,
            1,
            batch(
                json!({"requests": [item]}),
                &[("authorization", &bearer(&alice))],
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert!(
            reply.body.contains("cannot carry credentials"),
            "{}",
            reply.body
        );
    }
    // An anonymous batch reaches no secured operation.
    let reply = send_from(
        &router,
        1,
        batch(
            json!({"requests": [{"id": "1", "method": "GET", "url": "/cached"}]}),
            &[],
        ),
    )
    .await;
    let answer: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(answer["responses"][0]["status"], 401, "{answer}");
}
