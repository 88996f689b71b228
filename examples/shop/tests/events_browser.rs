//! A user's new orders in a real browser: the page's own `EventSource` on the built shop's
//! `watchUserOrders` receives each order as it is placed, and after the service is killed and
//! started again it reconnects by itself with `Last-Event-ID` and gets first the order placed
//! while it was away.
//!
//! Chromium (Debian's `chromium`) and a Python with playwright (`PLAYWRIGHT_PYTHON`) are
//! installed by `.ci/run`; elsewhere a missing one skips the test with a message, and under CI
//! it fails.

#[path = "../../support/running.rs"]
mod running;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use running::{request_to, Service};

const CHROMIUM: &str = "/usr/bin/chromium";
const SHOP: &str = env!("CARGO_BIN_EXE_shop-example");

fn required() -> bool {
    std::env::var_os("CI").is_some()
}

/// The shop on `addr`, over the SQLite file of `dir`.
fn shop(dir: &Path, addr: &str) -> Service {
    Service::start_in(
        SHOP,
        Some(dir),
        &[
            ("ADDR", addr),
            ("SEED_USERS", "20"),
            ("SHUTDOWN_DELAY", "0"),
        ],
        &["REDIS_URL", "DATABASE_URL"],
    )
}

#[test]
fn an_event_source_gets_each_new_order_and_resumes_after_a_restart() {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            !required(),
            "{CHROMIUM} is missing: `.ci/run` installs Debian's chromium"
        );
        eprintln!("skipped: {CHROMIUM} is not installed");
        return;
    }
    let Some(python) = std::env::var_os("PLAYWRIGHT_PYTHON") else {
        assert!(
            !required(),
            "PLAYWRIGHT_PYTHON is not set: `.ci/run` installs playwright"
        );
        eprintln!("skipped: set PLAYWRIGHT_PYTHON to a Python with playwright");
        return;
    };
    let dir = std::env::temp_dir().join(format!("specjet-events-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let addr = format!("127.0.0.1:{}", running::free_port());
    let mut service = shop(&dir, &addr);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/event_source.py");
    let mut page = Command::new(python)
        .arg(script)
        .args([format!("http://{addr}").as_str(), "3", CHROMIUM])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let mut said = BufReader::new(page.stdout.take().unwrap()).lines();
    let mut next = || said.next().expect("the page says more").expect("a line");
    let first: i64 = next().strip_prefix("placed ").unwrap().parse().unwrap();
    assert_eq!(next(), "restart");

    // Killed, started again on the same port and file; an order while the page reconnects.
    let _ = service.child.kill();
    let _ = service.child.wait();
    service = shop(&dir, &addr);
    let order = request_to(
        &addr,
        "POST",
        "/users/3/orders",
        Some("application/json"),
        r#"{"items":[{"product_id":1,"quantity":1}],"shipping":{"street":"1 Main St","city":"Springfield","country":"US"}}"#,
    );
    assert_eq!(order.status, 201, "{}", order.body);
    let missed = order.json()["id"].as_i64().unwrap();
    writeln!(page.stdin.as_mut().unwrap(), "restarted").unwrap();

    let third: i64 = next().strip_prefix("placed ").unwrap().parse().unwrap();
    let events: Vec<String> = (0..3).map(|_| next()).collect();
    assert_eq!(
        events,
        [first, missed, third].map(|id| format!("event {id} {id}")),
        "each order once, in order, the one placed while away first after the reconnect"
    );
    assert!(page.wait().unwrap().success());
    drop(service);
    let _ = std::fs::remove_dir_all(&dir);
}
