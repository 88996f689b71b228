//! The service generated from `tests/compile/specs/security.yaml`, with its handlers' own
//! verifiers for the schemes the spec leaves to them (OAuth 2.0 with scopes, HTTP basic) and
//! the built-in ones for the rest (JWT, API keys in a cookie, a forwarded client
//! certificate): every handler receives the verified caller, and a composite's parts run as
//! the composite's caller.

use std::net::SocketAddr;
use std::sync::Once;
use std::time::{SystemTime, UNIX_EPOCH};

use specjet::axum::body::{to_bytes, Body};
use specjet::axum::extract::ConnectInfo;
use specjet::http::{Request, StatusCode};
use specjet::security::{Principal, Refusal, Verify};
use specjet::serde_json::{self, json, Value};
use specjet_compile_tests::security::operations::{
    get_admin, get_basic, get_both, get_cert, get_either, get_me, get_optional, get_public,
};
use specjet_compile_tests::security::{router_with, settings, Api};
use tower::ServiceExt;

const SECRET: &str = "the-secured-test-signing-key";

#[derive(Clone)]
struct Handlers;

fn who(principal: &Principal) -> String {
    principal.subject().to_owned()
}

impl Api for Handlers {
    async fn get_me(&self, request: get_me::Request) -> get_me::Response {
        get_me::Response::Ok(who(&request.principal))
    }

    async fn get_public(&self, _request: get_public::Request) -> get_public::Response {
        get_public::Response::Ok("anyone".to_owned())
    }

    async fn get_admin(&self, request: get_admin::Request) -> get_admin::Response {
        get_admin::Response::Ok(who(&request.principal))
    }

    async fn get_basic(&self, request: get_basic::Request) -> get_basic::Response {
        get_basic::Response::Ok(who(&request.principal))
    }

    async fn get_cert(&self, request: get_cert::Request) -> get_cert::Response {
        get_cert::Response::Ok(who(&request.principal))
    }

    async fn get_either(&self, request: get_either::Request) -> get_either::Response {
        get_either::Response::Ok(format!(
            "{} by {}",
            who(&request.principal),
            request.principal.scheme()
        ))
    }

    async fn get_both(&self, request: get_both::Request) -> get_both::Response {
        get_both::Response::Ok(who(&request.principal))
    }

    async fn get_optional(&self, request: get_optional::Request) -> get_optional::Response {
        get_optional::Response::Ok(
            request
                .principal
                .as_ref()
                .map_or_else(|| "anonymous".to_owned(), who),
        )
    }

    /// The handlers' own OAuth 2.0 verifier: two opaque tokens it knows.
    async fn verify_oauth(&self, verify: Verify) -> Result<Principal, Refusal> {
        match &verify.credential {
            specjet::security::Credential::Bearer(token) if token == "admin-token" => {
                Ok(Principal::new("root").with_scopes(["admin"]))
            }
            specjet::security::Credential::Bearer(token) if token == "user-token" => {
                Ok(Principal::new("user"))
            }
            _ => Err(Refusal::invalid("not a token of this service")),
        }
    }

    /// The handlers' own HTTP basic verifier: one user.
    async fn verify_basic(&self, verify: Verify) -> Result<Principal, Refusal> {
        match &verify.credential {
            specjet::security::Credential::Basic { user, password }
                if user == "ada" && password == "lovelace" =>
            {
                Ok(Principal::new("ada"))
            }
            _ => Err(Refusal::invalid("wrong user or password")),
        }
    }
}

fn router() -> specjet::axum::Router {
    static ENV: Once = Once::new();
    ENV.call_once(|| {
        std::env::set_var("SECURED_TEST_JWT_SECRET", SECRET);
        // `printf %s cookie-key | sha256sum`
        std::env::set_var(
            "SECURED_TEST_API_KEYS",
            "bob:bd9bce81ae4aa39f933ace066c22718e630612f547e043c45f5e548bc0e7febf",
        );
    });
    router_with(Handlers, &specjet::Services::new(settings(), None))
}

fn token(sub: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"sub": sub, "iss": "test", "aud": "test", "exp": now + 600});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// `GET path` from `peer` with `headers`: status, `WWW-Authenticate`, body.
async fn get(
    router: &specjet::axum::Router,
    path: &str,
    peer: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Vec<String>, Value) {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(Body::empty()).unwrap();
    let peer: SocketAddr = peer.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let challenges = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (
        status,
        challenges,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

const LOCAL: &str = "127.0.0.1:5000";

#[tokio::test]
async fn each_scheme_lets_its_callers_in_and_the_handler_gets_who_they_are() {
    let router = router();
    let alice = format!("Bearer {}", token("alice"));

    // The root's `security` (a bearer token) on an operation without its own.
    let (status, challenges, _) = get(&router, "/me", LOCAL, &[]).await;
    assert_eq!(
        (status, challenges),
        (
            StatusCode::UNAUTHORIZED,
            vec!["Bearer realm=\"api\"".to_owned()]
        )
    );
    let (status, _, body) = get(&router, "/me", LOCAL, &[("authorization", &alice)]).await;
    assert_eq!((status, body), (StatusCode::OK, json!("alice")));
    // `security: []`: open.
    assert_eq!(get(&router, "/public", LOCAL, &[]).await.2, json!("anyone"));

    // The handlers' OAuth verifier, and the scope the operation requires.
    let (status, challenges, _) = get(
        &router,
        "/admin",
        LOCAL,
        &[("authorization", "Bearer user-token")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenges,
        ["Bearer error=\"insufficient_scope\", scope=\"admin\""]
    );
    let (status, _, body) = get(
        &router,
        "/admin",
        LOCAL,
        &[("authorization", "Bearer admin-token")],
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!("root")));
    let (status, challenges, _) = get(
        &router,
        "/admin",
        LOCAL,
        &[("authorization", "Bearer forged")],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenges[0].contains("error=\"invalid_token\""),
        "{challenges:?}"
    );

    // The handlers' basic verifier.
    let (status, challenges, _) = get(&router, "/basic", LOCAL, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenges, ["Basic realm=\"api\", charset=\"UTF-8\""]);
    // `ada:lovelace` and `ada:wrong`, base64.
    let right = get(
        &router,
        "/basic",
        LOCAL,
        &[("authorization", "Basic YWRhOmxvdmVsYWNl")],
    )
    .await;
    assert_eq!((right.0, right.2), (StatusCode::OK, json!("ada")));
    let wrong = get(
        &router,
        "/basic",
        LOCAL,
        &[("authorization", "Basic YWRhOndyb25n")],
    )
    .await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);

    // A client certificate, believed from the trusted proxy only.
    let forwarded = [(
        "x-forwarded-client-cert",
        "Hash=ab12;Subject=\"CN=svc,O=test\"",
    )];
    let (status, _, body) = get(&router, "/cert", LOCAL, &forwarded).await;
    assert_eq!((status, body), (StatusCode::OK, json!("CN=svc,O=test")));
    let (status, _, _) = get(&router, "/cert", "10.0.0.9:5000", &forwarded).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a certificate header from anyone else"
    );
}

#[tokio::test]
async fn alternatives_combinations_and_anonymous_callers() {
    let router = router();
    let alice = format!("Bearer {}", token("alice"));
    let cookie = "key=cookie-key";

    // OR: a key in a cookie, or a token.
    let (status, _, body) = get(&router, "/either", LOCAL, &[("cookie", cookie)]).await;
    assert_eq!((status, body), (StatusCode::OK, json!("bob by keys")));
    let (status, _, body) = get(&router, "/either", LOCAL, &[("authorization", &alice)]).await;
    assert_eq!((status, body), (StatusCode::OK, json!("alice by jwt")));
    // AND: both, or 401 naming both.
    let (status, challenges, _) = get(&router, "/both", LOCAL, &[("authorization", &alice)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenges.len(), 2, "{challenges:?}");
    let (status, _, body) = get(
        &router,
        "/both",
        LOCAL,
        &[("authorization", &alice), ("cookie", cookie)],
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!("alice")));
    // Anonymous allowed: `None`; a token says who; a refused one is not anonymity.
    assert_eq!(
        get(&router, "/optional", LOCAL, &[]).await.2,
        json!("anonymous")
    );
    assert_eq!(
        get(&router, "/optional", LOCAL, &[("authorization", &alice)])
            .await
            .2,
        json!("alice")
    );
    let refused = get(
        &router,
        "/optional",
        LOCAL,
        &[("authorization", "Bearer forged")],
    )
    .await;
    assert_eq!(refused.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_composites_parts_run_as_its_caller() {
    let router = router();
    let alice = format!("Bearer {}", token("alice"));
    let (status, _, body) = get(&router, "/summary", LOCAL, &[("authorization", &alice)]).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"me": "alice", "public": "anyone"}))
    );
    let (status, _, _) = get(&router, "/summary", LOCAL, &[]).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the composite itself requires a token"
    );
}

#[test]
fn a_request_built_in_code_names_its_caller() {
    // A secured operation's `Request::new` takes the caller: there is no call without one.
    let request = get_me::Request::new(Principal::new("alice"));
    assert_eq!(request.principal.subject(), "alice");
    assert!(get_optional::Request::new().principal.is_none());
}
