//! The docs in a real browser: the built petstore binary, started as a user would behind a
//! base path (`BASE_PATH=/api/v1`), its `/api/v1/docs` opened in headless Chromium. The
//! rendered page lists every operation of the spec (counted from the spec file itself), a
//! screenshot of it is written under the test's output directory, and "Try it out" calls
//! the running service through the base path.
//!
//! Chromium (Debian's `chromium`) and, for "Try it out", a Python with playwright
//! (`PLAYWRIGHT_PYTHON`) are installed by `.ci/run`; elsewhere a missing browser skips the
//! test with a message, and under CI it fails.

#[path = "../../support/running.rs"]
mod running;

use std::path::{Path, PathBuf};
use std::process::Command;

use running::{get, Service};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Whether a missing tool fails the test (in CI) or skips it.
fn required() -> bool {
    std::env::var_os("CI").is_some()
}

/// Chromium's arguments for a headless page load that lets the page's scripts run.
fn headless(extra: &[&str], url: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--virtual-time-budget=15000",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    args.push(url.to_owned());
    args
}

/// (operationId, first tag) of every operation in the spec file.
fn operations_in_spec() -> Vec<(String, String)> {
    let text = include_str!("../../../specs/petstore.yaml");
    let spec: serde_json::Value = serde_norway::from_str(text).unwrap();
    let mut operations = Vec::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for (method, operation) in item.as_object().unwrap() {
            if [
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                let id = operation["operationId"].as_str().unwrap().to_owned();
                let tag = operation["tags"][0]
                    .as_str()
                    .unwrap_or("default")
                    .to_owned();
                operations.push((id, tag));
            }
        }
    }
    operations
}

fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_docs_render_every_operation_and_try_it_out_reaches_the_service() {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            !required(),
            "{CHROMIUM} is missing: `.ci/run` installs Debian's chromium"
        );
        eprintln!("skipped: {CHROMIUM} is not installed (apt-get install chromium)");
        return;
    }
    let service = Service::start(
        env!("CARGO_BIN_EXE_petstore-example"),
        &[("BASE_PATH", "/api/v1")],
        &["REDIS_URL"],
    );
    // The base path as a client meets it: the operations below it, the service's own
    // endpoints at the root.
    assert_eq!(get(&service, "/api/v1/pets").status, 200);
    assert_eq!(get(&service, "/pets").status, 404);
    assert_eq!(get(&service, "/healthz").status, 200);
    let document = get(&service, "/api/v1/openapi.json").json();
    assert_eq!(document["servers"], serde_json::json!([{"url": "/api/v1"}]));

    let url = format!("http://{}/api/v1/docs", service.addr);
    let dom = Command::new(CHROMIUM)
        .args(headless(&["--dump-dom"], &url))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    let operations = operations_in_spec();
    assert_eq!(operations.len(), 4, "the petstore's operations");
    for (id, tag) in &operations {
        assert!(
            dom.contains(&format!(r#"id="operations-{tag}-{id}""#)),
            "the page does not list `{id}`:\n{dom}"
        );
    }
    assert!(
        dom.contains(r#"<option value="/api/v1">"#),
        "the server is the service"
    );

    let screenshot = output_dir().join("petstore-docs.png");
    let shot = Command::new(CHROMIUM)
        .args(headless(
            &[
                "--window-size=1280,1000",
                &format!("--screenshot={}", screenshot.display()),
            ],
            &url,
        ))
        .output()
        .expect("chromium runs");
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let size = std::fs::metadata(&screenshot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "a screenshot of a rendered page, not a blank one ({size} bytes)"
    );
    println!("screenshot: {}", screenshot.display());

    let Some(python) = std::env::var_os("PLAYWRIGHT_PYTHON") else {
        assert!(
            !required(),
            "PLAYWRIGHT_PYTHON is not set: `.ci/run` installs playwright"
        );
        eprintln!("\"Try it out\" skipped: set PLAYWRIGHT_PYTHON to a Python with playwright");
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/try_it_out.py");
    let tried = Command::new(python)
        .arg(script)
        .args([url.as_str(), "operations-pets-listPets", CHROMIUM])
        .output()
        .expect("python runs");
    let printed = String::from_utf8_lossy(&tried.stdout);
    assert!(
        tried.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&tried.stderr)
    );
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(
        lines,
        [
            format!("http://{}/api/v1/pets?limit=20", service.addr).as_str(),
            "200"
        ]
    );
}
