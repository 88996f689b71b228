//! `specjet deploy`: the manifests of the shop pass `kubernetes-validate --strict` (the
//! Kubernetes schemas, offline), their PrometheusRule passes `promtool check rules`, and what
//! they say follows the spec: probes, grace period, secrets, autoscaling target, alerts and
//! dashboard.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use specjet_generator::deploy::{objects, DeployOptions};

fn spec(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
}

fn api(name: &str) -> specjet_generator::ir::Api {
    match specjet_generator::analyze(&spec(name)) {
        Ok(analysis) => analysis.api,
        Err(diagnostics) => panic!("{diagnostics:?}"),
    }
}

/// A tool CI installs, or `None` elsewhere when it is not there.
fn tool(variable: &str, default: &str, install: &str) -> Option<String> {
    let program = std::env::var(variable).unwrap_or_else(|_| default.to_owned());
    let found = Command::new(&program).arg("--help").output().is_ok();
    if !found && std::env::var_os("CI").is_some() {
        panic!("{program} is not installed ({install}); CI needs it");
    }
    if !found {
        eprintln!("{program} not found: not checked here");
    }
    found.then_some(program)
}

fn kind<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|object| object["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn the_shops_manifests_pass_the_kubernetes_schemas_and_promtool() {
    let out = std::env::temp_dir().join(format!("specjet-deploy-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_specjet"))
        .args(["deploy", "--image", "shop:1.0", "--namespace", "shop"])
        .arg(spec("specs/shop.yaml"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let manifests = out.join("shop.yaml");
    std::fs::write(&manifests, &output.stdout).unwrap();

    if let Some(validate) = tool(
        "KUBERNETES_VALIDATE",
        "kubernetes-validate",
        "pip install kubernetes-validate",
    ) {
        let checked = Command::new(validate)
            .arg("--strict")
            .arg(&manifests)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&checked.stdout).into_owned()
            + &String::from_utf8_lossy(&checked.stderr);
        assert!(checked.status.success(), "{report}");
        for kind in [
            "deployment",
            "service",
            "poddisruptionbudget",
            "horizontalpodautoscaler",
            "configmap",
        ] {
            assert!(
                report.contains(&format!("passed for resource {kind}/")),
                "{report}"
            );
        }
    }

    // The PrometheusRule's spec is a rules file: promtool checks it as one.
    let objects = objects(
        &api("specs/shop.yaml"),
        &DeployOptions {
            namespace: Some("shop".to_owned()),
            ..DeployOptions::default()
        },
    );
    let rules = &kind(&objects, "PrometheusRule")["spec"];
    assert!(rules["groups"].as_array().is_some_and(|g| !g.is_empty()));
    if let Some(promtool) = tool("PROMTOOL", "promtool", "apt-get install prometheus") {
        let file = out.join("rules.yml");
        std::fs::write(&file, serde_norway::to_string(rules).unwrap()).unwrap();
        let checked = Command::new(promtool)
            .args(["check", "rules"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            checked.status.success(),
            "{}",
            String::from_utf8_lossy(&checked.stdout)
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn the_manifests_follow_the_spec() {
    let shop = api("specs/shop.yaml");
    let objects = objects(&shop, &DeployOptions::default());
    let deployment = kind(&objects, "Deployment");
    assert!(objects
        .iter()
        .all(|object| object["metadata"].get("namespace").is_none()));
    let pod = &deployment["spec"]["template"]["spec"];
    let server = &shop.settings.server;
    // The pod gets the shutdown delay (endpoints drop it first) and the drain, and a margin.
    assert_eq!(
        pod["terminationGracePeriodSeconds"],
        (server.shutdown_delay + server.shutdown_timeout + Duration::from_secs(5)).as_secs()
    );
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "shop:latest");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    let env: Vec<&str> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|variable| variable["name"].as_str().unwrap())
        .collect();
    // Redis, the declared database, and the JWT secret its security settings name.
    assert_eq!(
        env,
        ["ADDR", "REDIS_URL", "DATABASE_URL", "SHOP_JWT_SECRET"]
    );
    assert_eq!(
        container["env"][3]["valueFrom"]["secretKeyRef"]["name"],
        "shop"
    );

    // Scale out at half of `max-in-flight`, long before the service sheds.
    let autoscaler = kind(&objects, "HorizontalPodAutoscaler");
    let in_flight = shop.settings.max_in_flight.expect("the shop sheds");
    assert_eq!(
        autoscaler["spec"]["metrics"][1]["pods"]["target"]["averageValue"],
        (in_flight / 2).to_string()
    );
    assert_eq!(autoscaler["spec"]["minReplicas"], 2);
    assert_eq!(autoscaler["spec"]["maxReplicas"], 10);

    // The dashboard, as `specjet dashboard` prints it, for Grafana's sidecar.
    let config_map = kind(&objects, "ConfigMap");
    assert_eq!(config_map["metadata"]["labels"]["grafana_dashboard"], "1");
    let dashboard: Value =
        serde_json::from_str(config_map["data"]["shop.json"].as_str().unwrap()).unwrap();
    assert_eq!(
        dashboard,
        specjet_generator::monitoring::dashboard(&shop),
        "the dashboard of `specjet dashboard`"
    );
}

#[test]
fn a_spec_without_objectives_has_no_rule_and_a_valid_name() {
    let text = "openapi: 3.0.3\ninfo: {title: 'My Shop!', version: '1'}\nx-specjet: {cache: {key-prefix: 'My_Shop v2'}}\npaths: {}\n";
    let analysis = specjet_generator::analyze_text("bare.yaml", text).unwrap();
    let objects = objects(&analysis.api, &DeployOptions::default());
    assert!(objects
        .iter()
        .all(|object| object["kind"] != "PrometheusRule"));
    let names: Vec<&str> = objects
        .iter()
        .map(|object| object["metadata"]["name"].as_str().unwrap())
        .collect();
    assert!(
        names
            .iter()
            .all(|name| name.starts_with("my-shop-v2") && name.len() <= 63),
        "{names:?}"
    );
    let env = &kind(&objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(
        env.as_array().unwrap().len(),
        2,
        "ADDR and REDIS_URL: {env}"
    );
}
