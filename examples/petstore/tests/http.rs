//! End to end: start the built petstore binary on a free port of 127.0.0.1 and talk HTTP to it.

#[path = "../../support/running.rs"]
mod running;

use running::{get, request, request_with, Reply, Service};

/// The development key the petstore takes without `PETSTORE_API_KEYS`.
const KEY: (&str, &str) = ("X-API-Key", "petstore-dev-key");

fn start() -> Service {
    // In process only: a shared Redis could hold entries of an earlier run, whose ids this
    // fresh in-memory store reuses.
    Service::start(env!("CARGO_BIN_EXE_petstore-example"), &[], &["REDIS_URL"])
}

/// An answer of the service itself outside any operation (unknown path or method):
/// problem+json.
fn assert_problem(reply: &Reply, status: u16) -> serde_json::Value {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    let problem = reply.json();
    assert_eq!(problem["status"], status);
    problem
}

/// A problem with a request to an operation: answered in the spec's own `Error` shape by the
/// handlers' `reject` (`code`, `message`, and `details` naming each invalid input).
fn assert_error(reply: &Reply, status: u16) -> serde_json::Value {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let error = reply.json();
    assert_eq!(error["code"], status, "{error}");
    assert!(error["message"].is_string(), "{error}");
    error
}

#[test]
fn petstore_over_http() {
    let service = start();

    // Happy path: create, read, list.
    let created = request(
        &service,
        "POST",
        "/pets",
        Some("application/json"),
        r#"{"name":"Rex","tag":"dog","status":"available"}"#,
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let pet = created.json();
    assert_eq!(pet["name"], "Rex");
    let id = pet["id"].as_i64().expect("an integer id");

    let shown = get(&service, &format!("/pets/{id}"));
    assert_eq!(shown.status, 200);
    assert_eq!(shown.header("content-type"), Some("application/json"));
    assert_eq!(shown.json(), pet);
    // `x-cache` on showPetById: the second read is a hit, with validators.
    assert_eq!(
        shown.header("cache-status"),
        Some("specjet; fwd=miss; stored")
    );
    let again = get(&service, &format!("/pets/{id}"));
    assert!(
        again
            .header("cache-status")
            .unwrap_or("")
            .starts_with("specjet; hit"),
        "{:?}",
        again.headers
    );
    assert_eq!(again.json(), pet);
    assert_eq!(
        again.header("cache-control"),
        Some("public, max-age=60, stale-while-revalidate=30")
    );
    let etag = again.header("etag").expect("an ETag").to_owned();
    let not_modified = request_with(
        &service,
        "GET",
        &format!("/pets/{id}"),
        &[("If-None-Match", &etag)],
        None,
        "",
    );
    assert_eq!(not_modified.status, 304);

    // listPets is cached; creating a pet invalidates it.
    assert_eq!(get(&service, "/pets").json().as_array().unwrap().len(), 1);
    assert!(get(&service, "/pets")
        .header("cache-status")
        .unwrap_or("")
        .starts_with("specjet; hit"));
    request(
        &service,
        "POST",
        "/pets",
        Some("application/json"),
        r#"{"name":"Tom","tag":"cat"}"#,
    );
    assert_eq!(
        get(&service, "/pets").json().as_array().unwrap().len(),
        2,
        "the list was invalidated"
    );
    let listed = get(&service, "/pets?tag=dog&tag=fish&limit=10");
    assert_eq!(listed.status, 200);
    let names: Vec<_> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, ["Rex"]);
    let by_status = get(&service, "/pets?status=available");
    assert_eq!(by_status.json().as_array().unwrap().len(), 1);

    // 404 from the handler, with the spec's error body.
    let missing = get(&service, "/pets/999999");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["code"], 404);

    // 400 for a bad path parameter, naming it.
    let problem = assert_error(&get(&service, "/pets/abc"), 400);
    assert_eq!(problem["details"][0]["name"], "petId");
    assert_eq!(problem["details"][0]["in"], "path");

    // 400 for bad query parameters, all named at once.
    let problem = assert_error(&get(&service, "/pets?limit=ten&status=lost"), 400);
    let named: Vec<_> = problem["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names_sorted(named), ["limit", "status"]);

    // Bodies: broken JSON 400, wrong shape 422 naming the field, wrong media type 415, none 400.
    assert_error(
        &request(&service, "POST", "/pets", Some("application/json"), "{"),
        400,
    );
    let problem = assert_error(
        &request(
            &service,
            "POST",
            "/pets",
            Some("application/json"),
            r#"{"name":5}"#,
        ),
        422,
    );
    assert_eq!(problem["details"][0]["name"], "/name");
    assert_error(
        &request(&service, "POST", "/pets", Some("text/plain"), "Rex"),
        415,
    );
    assert_error(
        &request(&service, "POST", "/pets", Some("application/json"), ""),
        400,
    );

    // Delete takes a key of the store's (`security: [apiKey: []]`): none or a made-up one is
    // 401 in the spec's shape, with a challenge that says where the key goes; then it is gone.
    for key in [None, Some("made-up")] {
        let headers: Vec<(&str, &str)> = key.map(|key| ("X-API-Key", key)).into_iter().collect();
        let refused = request_with(
            &service,
            "DELETE",
            &format!("/pets/{id}"),
            &headers,
            None,
            "",
        );
        let error = assert_error(&refused, 401);
        assert!(!error.to_string().contains("made-up"), "{error}");
        assert_eq!(
            refused.header("www-authenticate"),
            Some("ApiKey realm=\"api\", in=\"header\", name=\"x-api-key\"")
        );
    }
    assert_eq!(
        request_with(&service, "DELETE", &format!("/pets/{id}"), &[KEY], None, "").status,
        204
    );
    assert_eq!(get(&service, &format!("/pets/{id}")).status, 404);

    // Cache outcomes per operation and tier are exported for Prometheus.
    let metrics = get(&service, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.body.contains(
            r#"specjet_cache_requests_total{operation="showPetById",tier="memory",result="hit"}"#
        ),
        "{}",
        metrics.body
    );
    assert!(metrics
        .body
        .contains(r#"specjet_cache_invalidations_total{operation="listPets"}"#));

    // Probes: alive, and ready (no Redis configured, not draining).
    let health = get(&service, "/healthz");
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    let ready = get(&service, "/readyz");
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready"));
    assert_eq!(ready.header("cache-control"), Some("no-store"));

    // Unknown paths and methods answer problems too.
    assert_problem(&get(&service, "/nothing/here"), 404);
    assert_problem(&request(&service, "PATCH", "/pets", None, ""), 405);
}

fn names_sorted(mut names: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    names.sort_by_key(|n| n.to_string());
    names
}

#[test]
fn rate_limits_and_compression_over_http() {
    let service = start();
    let client = |ip: &'static str| [("X-Forwarded-For", ip)];
    let new_pet = r#"{"name":"Rex, the very good dog of the neighbourhood","tag":"dog"}"#;
    let post_from = |ip: &'static str| {
        request_with(
            &service,
            "POST",
            "/pets",
            &client(ip),
            Some("application/json"),
            new_pet,
        )
    };
    // `writes` allows bursts of 10 per client (the loopback proxy is trusted to name it).
    for remaining in (0..10).rev() {
        let reply = post_from("198.51.100.7");
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_eq!(
            reply.header("ratelimit-policy"),
            Some("\"writes\";q=30;w=60")
        );
        let state = reply.header("ratelimit").unwrap();
        assert!(
            state.starts_with(&format!("\"writes\";r={remaining};t=")),
            "{state}"
        );
    }
    let refused = post_from("198.51.100.7");
    let problem = assert_error(&refused, 429);
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains("rate limit `writes` exceeded"),
        "{problem}"
    );
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=2).contains(&retry),
        "one unit comes back every 2 s: {retry}"
    );
    assert!(refused
        .header("ratelimit")
        .unwrap()
        .starts_with("\"writes\";r=0;"));
    // deletePet uses the same policy: the same budget.
    let mut headers = client("198.51.100.7").to_vec();
    headers.push(KEY);
    let delete = request_with(&service, "DELETE", "/pets/1", &headers, None, "");
    assert_error(&delete, 429);
    // Another client, and the proxy itself, have budgets of their own.
    assert_eq!(post_from("198.51.100.8").status, 201);
    assert_eq!(
        request(&service, "POST", "/pets", Some("application/json"), new_pet).status,
        201
    );

    // listPets has two windows, both announced.
    let list = request_with(
        &service,
        "GET",
        "/pets?limit=100",
        &[("Accept-Encoding", "gzip")],
        None,
        "",
    );
    assert_eq!(list.status, 200);
    assert_eq!(
        list.header("ratelimit-policy"),
        Some("\"listPets\";q=100;w=1, \"listPets.1\";q=3000;w=60")
    );
    // Twelve pets are above the 512-byte minimum: compressed, and said to vary by it.
    assert_eq!(list.header("content-encoding"), Some("gzip"));
    assert!(list
        .header("vary")
        .is_some_and(|vary| vary.contains("accept-encoding")));
    // One pet is below it: sent as it is.
    let small = request_with(
        &service,
        "GET",
        "/pets?limit=1",
        &[("Accept-Encoding", "gzip")],
        None,
        "",
    );
    assert_eq!(small.status, 200);
    assert_eq!(small.header("content-encoding"), None);
    // Bodies are bounded after decompression: 64KiB in this spec.
    let large = format!(r#"{{"name":"{}"}}"#, "x".repeat(70 * 1024));
    let too_large = request_with(
        &service,
        "POST",
        "/pets",
        &client("198.51.100.9"),
        Some("application/json"),
        &large,
    );
    assert_error(&too_large, 413);
}

/// The cache keys a pet by its id as the handler reads it: `+N`, `0N` and `N` are one pet,
/// so deleting pet N leaves no spelling of it cached.
#[test]
fn a_deleted_pet_is_not_served_under_another_spelling_of_its_id() {
    let service = start();
    let created = request(
        &service,
        "POST",
        "/pets",
        Some("application/json"),
        r#"{"name":"Ghost"}"#,
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_i64().expect("an integer id");
    let spellings = [
        format!("/pets/+{id}"),
        format!("/pets/0{id}"),
        format!("/pets/{id}"),
    ];
    for path in &spellings {
        let shown = get(&service, path);
        assert_eq!(shown.status, 200, "{path}");
    }
    let again = get(&service, &spellings[2]);
    assert!(
        again
            .header("cache-status")
            .unwrap_or("")
            .starts_with("specjet; hit"),
        "one entry for every spelling: {:?}",
        again.headers
    );
    assert_eq!(
        request_with(&service, "DELETE", &spellings[2], &[KEY], None, "").status,
        204
    );
    for path in &spellings {
        let gone = get(&service, path);
        assert_eq!(gone.status, 404, "{path}: {:?}", gone.headers);
    }
}

/// `createPet` declares only `application/json`: another media type, a `+json` one
/// included, is 415 naming what is accepted; `charset` does not matter, and a
/// body without `Content-Type` is read as the first declared type.
#[test]
fn undeclared_media_types_are_refused() {
    let service = start();
    let body = r#"{"name":"Mia"}"#;
    for media in ["application/problem+json", "image/svg+json", "text/plain"] {
        let refused = request(&service, "POST", "/pets", Some(media), body);
        let problem = assert_error(&refused, 415);
        assert!(
            problem["message"]
                .as_str()
                .unwrap_or("")
                .contains("application/json"),
            "{problem}"
        );
    }
    let accepted = request(
        &service,
        "POST",
        "/pets",
        Some("application/json; charset=utf-8"),
        body,
    );
    assert_eq!(accepted.status, 201, "{}", accepted.body);
    let untyped = request(&service, "POST", "/pets", None, body);
    assert_eq!(untyped.status, 201, "{}", untyped.body);
}

/// The body's contract is checked before the handler runs: `name` has `minLength: 1`,
/// `tag` is not nullable, a pet is an object. Every violation is listed with its pointer.
#[test]
fn bodies_that_break_their_schema_are_refused_with_every_violation() {
    let service = start();
    for (body, pointers) in [
        (r#"{"name":"a","tag":null}"#, vec!["/tag"]),
        (r#"["arr","t","sold"]"#, vec![""]),
        (
            r#"{"name":"","tag":7,"status":"lost"}"#,
            vec!["/name", "/status", "/tag"],
        ),
        (r#"{"tag":"dog"}"#, vec![""]),
    ] {
        let refused = request(&service, "POST", "/pets", Some("application/json"), body);
        let problem = assert_error(&refused, 422);
        let named: Vec<&str> = problem["details"]
            .as_array()
            .expect("details")
            .iter()
            .map(|param| param["name"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(named, pointers, "{body}: {problem}");
    }
    let fine = request(
        &service,
        "POST",
        "/pets",
        Some("application/json"),
        r#"{"name":"Rex","tag":"dog","status":"available"}"#,
    );
    assert_eq!(fine.status, 201, "{}", fine.body);
}

/// `limit` is bounded by its schema (1 to 100): the router answers 400 naming it before the
/// handler runs, so the handler needs no check of its own.
#[test]
fn parameters_out_of_their_bounds_are_refused() {
    let service = start();
    for query in ["limit=0", "limit=101", "limit=-3"] {
        let problem = assert_error(&get(&service, &format!("/pets?{query}")), 400);
        let params = problem["details"].as_array().expect("details");
        assert_eq!(params.len(), 1, "{problem}");
        assert_eq!(params[0]["name"], "limit", "{problem}");
        assert_eq!(params[0]["in"], "query", "{problem}");
    }
    for query in ["limit=1", "limit=100", ""] {
        assert_eq!(
            get(&service, &format!("/pets?{query}")).status,
            200,
            "{query}"
        );
    }
}

/// `LOG_FORMAT=json` logs one JSON object per line on stderr; with `RUST_LOG=debug` each
/// answer is an event inside its request's span, which names the operation and the request id.
#[test]
fn json_logs_name_the_operation_and_the_request_id() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_petstore-example"))
        .env("ADDR", "127.0.0.1:0")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "specjet=debug")
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the petstore starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(
        &mut stream,
        b"GET /pets HTTP/1.1\r\nHost: x\r\nX-Request-Id: log-test-1\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let _ = child.kill();
    let _ = child.wait();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let answered = stderr
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
        .find(|event| event["fields"]["message"] == "answered")
        .expect("an `answered` event as a JSON line");
    assert_eq!(answered["fields"]["status"], 200, "{answered}");
    assert_eq!(answered["span"]["operation"], "listPets", "{answered}");
    assert_eq!(answered["span"]["request_id"], "log-test-1", "{answered}");
}
