//! `specjet alerts` and `specjet dashboard` from `tests/compile/specs/observability.yaml`:
//! the rules pass `promtool check rules` and the unit tests of
//! `fixtures/alerts/observability.test.yml` (series that must fire and series that must not),
//! and the dashboard is a well-formed Grafana model whose thresholds are the spec's objectives.
//! That every metric its queries name is exported is tested against a running service in
//! `tests/compile/tests/observability.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use specjet_generator::monitoring::{alerts, dashboard};

fn spec() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/compile/specs/observability.yaml")
}

fn api() -> specjet_generator::ir::Api {
    match specjet_generator::analyze(&spec()) {
        Ok(analysis) => analysis.api,
        Err(diagnostics) => panic!("{diagnostics:?}"),
    }
}

/// promtool, or `None` outside CI when it is not installed (CI installs Debian's prometheus).
fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool").arg("--version").output().is_ok();
    if !found && std::env::var_os("CI").is_some() {
        panic!("promtool is not installed (apt-get install prometheus); CI needs it");
    }
    if !found {
        eprintln!("promtool not found: the rules are not checked here");
    }
    found.then_some("promtool")
}

#[test]
fn alert_rules_pass_promtool_and_fire_exactly_where_the_objectives_are_broken() {
    let rules = alerts(&api()).expect("the spec has objectives");
    let Some(promtool) = promtool() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), &rules).unwrap();
    let tests =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/alerts/observability.test.yml");
    std::fs::copy(&tests, dir.path().join("rules.test.yml")).unwrap();
    for args in [
        ["check", "rules", "rules.yml"],
        ["test", "rules", "rules.test.yml"],
    ] {
        let out = Command::new(promtool)
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {}:\n{}{}\n{rules}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn no_objectives_no_rules() {
    let api = specjet_generator::analyze_text(
        "plain.yaml",
        "openapi: 3.0.3\ninfo: {title: Plain, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        '200': {description: ok}\n",
    )
    .unwrap()
    .api;
    assert_eq!(alerts(&api), None);
}

#[test]
fn the_dashboard_is_a_grafana_model_with_the_objectives_as_thresholds() {
    let board = dashboard(&api());
    assert_eq!(board["schemaVersion"], 39);
    assert!(board["uid"].as_str().is_some_and(|uid| uid.len() <= 40));
    let panels = board["panels"].as_array().unwrap();
    let mut ids: Vec<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    for panel in panels {
        let grid = &panel["gridPos"];
        assert!(
            grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24,
            "{panel}"
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["type"], "timeseries");
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"]["uid"], "${datasource}");
            assert!(
                target["expr"].as_str().unwrap().contains("specjet_"),
                "{target}"
            );
        }
    }
    let titles: Vec<&str> = panels
        .iter()
        .filter(|p| p["type"] == "row")
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Service",
            "GET /items/{id} (getItem)",
            "GET /slow (slow)",
            "GET /fail (fail)"
        ]
    );
    // getItem's latency panel draws 40ms and 1s; its error panel 0.1%. `fail` opted out.
    let row_of = |title: &str| -> Vec<&Value> {
        let start = panels.iter().position(|p| p["title"] == title).unwrap();
        panels[start + 1..]
            .iter()
            .take_while(|p| p["type"] != "row")
            .collect()
    };
    let lines = |panel: &Value| -> Vec<f64> {
        panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|step| step["value"].as_f64())
            .collect()
    };
    let get_item = row_of("GET /items/{id} (getItem)");
    let latency = get_item.iter().find(|p| p["title"] == "Latency").unwrap();
    assert_eq!(lines(latency), [0.04, 1.0]);
    let errors = get_item
        .iter()
        .find(|p| p["title"] == "Server errors (5xx share)")
        .unwrap();
    assert!((lines(errors)[0] - 0.001).abs() < 1e-12);
    assert!(get_item.iter().any(|p| p["title"] == "Cache hit ratio"));
    let slow = row_of("GET /slow (slow)");
    assert!(slow
        .iter()
        .any(|p| p["title"] == "Refused by rate limit (429)"));
    assert!(!slow.iter().any(|p| p["title"] == "Cache hit ratio"));
    let fail = row_of("GET /fail (fail)");
    let errors = fail
        .iter()
        .find(|p| p["title"] == "Server errors (5xx share)")
        .unwrap();
    assert!(lines(errors).is_empty());
}

#[test]
fn bad_objectives_and_adaptive_limits_are_errors_at_their_keys() {
    let spec = r#"openapi: 3.0.3
info: {title: Bad, version: "1"}
x-specjet: {}
x-slo: {availability: 100%}
paths:
  /a:
    get:
      x-slo: {p95: fast, latency: 1s, p99: 0ms}
      x-rate-limit:
        rate: 10/s
        adaptive: {limit: 2/s, when: {queue: 3}, hold: soon}
      responses:
        "200": {description: ok}
"#;
    let analysis = specjet_generator::analyze_text("bad.yaml", spec).unwrap();
    let errors: Vec<(String, String)> = analysis
        .diagnostics
        .items()
        .iter()
        .filter(|d| d.severity >= specjet_generator::diag::Severity::Error)
        .map(|d| (d.pointer.clone(), d.message.clone()))
        .collect();
    let at = |pointer: &str, words: &str| {
        assert!(
            errors
                .iter()
                .any(|(p, m)| p == pointer && m.contains(words)),
            "no error at {pointer} with `{words}`: {errors:#?}"
        );
    };
    at("/x-slo/availability", "no error budget");
    at("/paths/~1a/get/x-slo/p95", "not a duration");
    at("/paths/~1a/get/x-slo/latency", "unknown key `latency`");
    at("/paths/~1a/get/x-slo/p99", "above zero");
    at(
        "/paths/~1a/get/x-rate-limit/adaptive/when/queue",
        "unknown signal",
    );
    at(
        "/paths/~1a/get/x-rate-limit/adaptive/hold",
        "not a duration",
    );
    // Nothing was dropped silently: the operation has no objective and no limit.
    let op = &analysis.api.operations[0];
    assert_eq!(op.slo, None);
    assert_eq!(op.policies.rate_limit, None);
}

#[test]
fn load_weights_are_read_and_bad_ones_are_errors_at_their_key() {
    let spec = r#"openapi: 3.0.3
info: {title: Mix, version: "1"}
x-specjet: {}
paths:
  /a:
    get:
      x-load: {weight: 3}
      responses: {"200": {description: ok}}
  /b:
    get:
      x-load: false
      responses: {"200": {description: ok}}
  /c:
    get:
      x-load: {weight: many}
      responses: {"200": {description: ok}}
  /d:
    get:
      responses: {"200": {description: ok}}
"#;
    let analysis = specjet_generator::analyze_text("mix.yaml", spec).unwrap();
    let weights: Vec<Option<u32>> = analysis
        .api
        .operations
        .iter()
        .map(|op| op.load_weight)
        .collect();
    assert_eq!(weights, [Some(3), Some(0), None, None]);
    let error = analysis
        .diagnostics
        .items()
        .iter()
        .find(|d| d.severity >= specjet_generator::diag::Severity::Error)
        .expect("an error for the bad weight");
    assert_eq!(error.pointer, "/paths/~1c/get/x-load");
    assert!(error.message.contains("{weight: N}"), "{}", error.message);
}
