//! `specjet-load` against a service on 127.0.0.1 whose every answer takes 20 ms: an objective
//! below that fails the run (exit 1), one above it passes (exit 0), and the report says what
//! was measured.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use specjet::axum::{routing::get, Router};

/// A document of one operation with `slo` as its `x-slo`.
fn spec(dir: &Path, slo: &str) -> std::path::PathBuf {
    let path = dir.join(format!(
        "slow-{}.yaml",
        slo.replace([' ', ':', '{', '}', ','], "")
    ));
    std::fs::write(
        &path,
        format!(
            r#"openapi: 3.0.3
info: {{title: Slow, version: "1"}}
x-specjet: {{}}
paths:
  /items/{{id}}:
    get:
      operationId: getItem
      x-slo: {slo}
      parameters:
        - {{name: id, in: path, required: true, schema: {{type: integer, example: 42}}}}
      responses:
        "200":
          description: The item.
          content:
            application/json:
              schema: {{type: object}}
"#
        ),
    )
    .unwrap();
    path
}

/// Serves `GET /items/42` after 20 ms, on a free port of 127.0.0.1 in a thread of its own.
fn slow_service() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let router = Router::new().route(
            "/items/42",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                ([("content-type", "application/json")], "{}")
            }),
        );
        runtime.block_on(specjet::serve::serve_on(addr, router))
    });
    let url = format!("http://{addr}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(addr).is_ok() {
            return url;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the slow service did not start");
}

/// What a run printed and reported.
struct Run {
    code: Option<i32>,
    report: serde_json::Value,
    stdout: String,
    stderr: String,
}

/// Runs the load test of `spec` against `url` for a second at four connections.
fn load(spec: &Path, url: &str, report: &Path) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_specjet-load"))
        .arg(spec)
        .args(["--url", url, "--duration", "1s", "--warmup", "0s"])
        .args(["--connections", "4", "--json"])
        .arg(report)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let text = std::fs::read_to_string(report).unwrap_or_else(|_| panic!("no report: {stderr}"));
    Run {
        code: output.status.code(),
        report: serde_json::from_str(&text).unwrap(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr,
    }
}

#[test]
fn a_missed_objective_fails_the_run_and_a_met_one_passes() {
    let dir = std::env::temp_dir().join(format!("specjet-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = slow_service();

    let Run {
        code,
        report,
        stdout,
        ..
    } = load(&spec(&dir, "{p95: 5ms}"), &url, &dir.join("missed.json"));
    assert!(stdout.contains("getItem"), "{stdout}");
    assert_eq!(code, Some(1), "{report}");
    let operation = &report["operations"][0];
    assert_eq!(operation["operation"], "getItem");
    // Four connections, 20 ms a call: about 200 calls a second.
    let calls = operation["calls"].as_u64().unwrap();
    assert!((100..=220).contains(&calls), "{report}");
    assert_eq!(
        operation["statuses"]["200"].as_u64(),
        Some(calls),
        "{report}"
    );
    let p95 = operation["latency_ms"]["p95"].as_f64().unwrap();
    assert!((20.0..60.0).contains(&p95), "{report}");
    assert_eq!(operation["objectives"][0]["objective"], "p95 <= 5ms");
    assert_eq!(operation["objectives"][0]["met"], false);
    assert_eq!(report["met"], false);

    let Run { code, report, .. } = load(
        &spec(&dir, "{p95: 500ms, availability: 99%}"),
        &url,
        &dir.join("met.json"),
    );
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["met"], true);
    assert_eq!(report["operations"][0]["objectives"][1]["measured"], 100.0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_mix_follows_each_operation_s_weight() {
    let dir = std::env::temp_dir().join(format!("specjet-load-mix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = slow_service();
    let path = dir.join("mix.yaml");
    let operation = |id: &str, load: &str| {
        format!(
            r#"    get:
      operationId: {id}
      {load}
      parameters:
        - {{name: id, in: path, required: true, schema: {{type: integer, enum: [42]}}}}
      responses:
        "200": {{description: The item.}}
"#
        )
    };
    std::fs::write(
        &path,
        format!(
            "openapi: 3.0.3\ninfo: {{title: Mix, version: \"1\"}}\nx-specjet: {{}}\npaths:\n  /items/{{id}}:\n{}  /items/{{id}}/again:\n{}  /items/{{id}}/never:\n{}",
            operation("often", "x-load: {weight: 3}"),
            operation("seldom", "x-load: {weight: 1}"),
            operation("never", "x-load: false"),
        ),
    )
    .unwrap();
    let Run { report, stderr, .. } = load(&path, &url, &dir.join("mix.json"));
    assert!(
        stderr.contains("not called: never (`x-load: false`)"),
        "{stderr}"
    );
    let calls = |index: usize| report["operations"][index]["calls"].as_f64().unwrap();
    assert_eq!(report["operations"][0]["operation"], "often");
    // Three of `often` to one of `seldom`: the mix is in the picks, whatever each answer takes
    // (`often` is the slow route; `seldom` a route the service does not have, a quick 404).
    let ratio = calls(0) / calls(1);
    assert!((2.9..=3.1).contains(&ratio), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_target_off_this_machine_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_specjet-load"))
        .args(["missing.yaml", "--url", "http://192.0.2.1:80"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a loopback address"));
}
