//! Three replicas of the shop's binary behind haproxy, sharing one Postgres database (a fresh
//! one on the server of `DATABASE_URL`) and one private Redis: a write on one replica drops
//! the cached reads of the others, a rate budget is one budget across replicas, haproxy's
//! health checks follow `/readyz`, and a replica killed under load loses no request that
//! haproxy could retry. Skipped (said on stderr) without `DATABASE_URL`, `redis-server` or
//! `haproxy`; `.ci/run` has all three.

#[path = "../../../runtime/tests/support/postgres.rs"]
mod postgres;
#[path = "../../../runtime/tests/support/private_redis.rs"]
mod private_redis;
#[path = "../../support/running.rs"]
mod running;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use private_redis::{free_port, PrivateRedis};
use running::{request_to, Reply, Service};

const SHOP: &str = env!("CARGO_BIN_EXE_shop-example");

/// haproxy in the foreground over `backends`, health-checking each on `/readyz` every 100 ms;
/// a stats page in CSV at `http://127.0.0.1:<stats>/stats;csv`.
struct Balancer {
    child: Child,
    addr: String,
    stats: String,
    config: std::path::PathBuf,
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

impl Balancer {
    fn start(backends: &[&str]) -> Balancer {
        let port = free_port();
        let stats = free_port();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, addr)| format!("    server shop{i} {addr} check inter 100ms fall 2 rise 2\n"))
            .collect();
        // Retries: a request whose connection failed or got no answer goes to another server
        // (`redispatch`), which is what a balancer can do for a replica that died.
        let config = format!(
            "global\n    maxconn 1024\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n    \
             timeout server 10s\n    retries 3\n    option redispatch 1\n    \
             retry-on conn-failure empty-response response-timeout 502 503 504\n\
             frontend shop\n    bind 127.0.0.1:{port}\n    default_backend shops\n\
             backend shops\n    balance roundrobin\n    option httpchk GET /readyz\n{servers}\
             listen stats\n    bind 127.0.0.1:{stats}\n    stats enable\n    stats uri /stats\n"
        );
        let path = std::env::temp_dir().join(format!(
            "specjet-shop-haproxy-{}-{port}.cfg",
            std::process::id()
        ));
        std::fs::write(&path, config).expect("writes the haproxy configuration");
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .spawn()
            .expect("haproxy starts");
        let balancer = Balancer {
            child,
            addr: format!("127.0.0.1:{port}"),
            stats: format!("127.0.0.1:{stats}"),
            config: path,
        };
        balancer.wait_until(
            |states| states.iter().all(|state| state == "UP"),
            "every server UP",
        );
        balancer
    }

    /// The state haproxy holds of each server (`UP`, `DOWN`, ...), in order.
    fn states(&self) -> Vec<String> {
        let csv = match std::net::TcpStream::connect(&self.stats) {
            Ok(_) => request_to(&self.stats, "GET", "/stats;csv", None, "").body,
            Err(_) => return Vec::new(),
        };
        csv.lines()
            .filter(|line| line.starts_with("shops,shop"))
            .map(|line| line.split(',').nth(17).unwrap_or("").to_owned())
            .collect()
    }

    fn wait_until(&self, done: impl Fn(&[String]) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let states = self.states();
            if !states.is_empty() && done(&states) {
                return;
            }
            assert!(Instant::now() < deadline, "haproxy: not {what}: {states:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn get(addr: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    running::request_with_to(addr, "GET", path, headers, None, "")
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[test]
fn three_replicas_behind_haproxy_share_caches_budgets_and_survive_a_killed_replica() {
    let Some(database) = postgres::postgres("shop_scale_out") else {
        return;
    };
    if !which("haproxy") || !which("redis-server") {
        eprintln!("skipped: haproxy or redis-server is not installed");
        return;
    }
    let redis = PrivateRedis::start(free_port()).expect("a private redis-server starts");
    let env = [
        ("DATABASE_URL", database.url.as_str()),
        ("REDIS_URL", &redis.url()),
        ("SEED_USERS", "40"),
        // One key for every replica: a token one issues, every other verifies.
        ("SHOP_JWT_SECRET", "the-scale-out-test-signing-key"),
    ];
    // The first replica migrates and seeds; the others find the shop ready.
    let mut replicas = vec![Service::start(SHOP, &env, &[])];
    for _ in 0..2 {
        replicas.push(Service::start(SHOP, &env, &[]));
    }
    let addrs: Vec<&str> = replicas.iter().map(|r| r.addr.as_str()).collect();
    let balancer = Balancer::start(&addrs);

    // A write on one replica drops the cached reads of the others (through Redis, in both
    // tiers), so no replica answers the statistics from before the order.
    let user = 7;
    let stats_path = format!("/users/{user}/stats");
    let before: Vec<i64> = replicas
        .iter()
        .map(|replica| {
            get(&replica.addr, &stats_path, &[]);
            let cached = get(&replica.addr, &stats_path, &[]);
            assert!(
                cached.header("cache-status").unwrap_or("").contains("hit"),
                "{}: {:?}",
                replica.addr,
                cached.header("cache-status")
            );
            cached.json()["orders"].as_i64().expect("a count of orders")
        })
        .collect();
    assert!(before.windows(2).all(|w| w[0] == w[1]), "{before:?}");
    let order = running::request_to(
        &replicas[0].addr,
        "POST",
        &format!("/users/{user}/orders"),
        Some("application/json"),
        r#"{"items":[{"product_id":1,"quantity":1}],"shipping":{"street":"1 Main St","city":"Springfield","country":"US"}}"#,
    );
    assert_eq!(order.status, 201, "{}", order.body);
    for replica in &replicas[1..] {
        // Invalidations reach the other replicas' memory over Redis pub/sub: at once, give or
        // take a message's trip.
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let after = get(&replica.addr, &stats_path, &[]);
            if after.json()["orders"].as_i64() == Some(before[0] + 1) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} still answers {} orders ({:?})",
                replica.addr,
                after.json()["orders"],
                after.header("cache-status")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    // One budget across replicas: `listMyOrders` allows 20 at once and 20/s per caller. Sent
    // round-robin through the balancer, 60 calls in well under a second get about 20, not the
    // 60 that three budgets of one replica each would let through.
    let issued = running::request_to(
        &replicas[1].addr,
        "POST",
        "/tokens",
        Some("application/json"),
        r#"{"user_id":3}"#,
    );
    assert_eq!(issued.status, 201, "{}", issued.body);
    let token = format!(
        "Bearer {}",
        issued.json()["token"].as_str().expect("a token")
    );
    let started = Instant::now();
    let statuses: Vec<u16> = (0..60)
        .map(|_| get(&balancer.addr, "/me/orders", &[("Authorization", &token)]).status)
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    let allowed = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(allowed + refused, 60, "{statuses:?}");
    let most = 20 + (20.0 * elapsed).ceil() as usize + 1;
    assert!(
        (20..=most).contains(&allowed),
        "{allowed} of 60 allowed in {elapsed:.2} s (at most {most} with one budget)"
    );

    // A replica killed under load: the balancer retries what it sent there on the others, and
    // its health check (`/readyz`) takes it out. No client sees a failure.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let (stop, served, addr) = (stop.clone(), served.clone(), balancer.addr.clone());
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let path = format!("/users/{}/orders", 1 + (client * 10 + i) % 40);
                    let reply = get(&addr, &path, &[("Cache-Control", "no-cache")]);
                    if reply.status == 200 {
                        served.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failures.push((reply.status, reply.body));
                    }
                }
                failures
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let served_before_kill = served.load(Ordering::Relaxed);
    let mut killed = replicas.remove(1);
    killed.child.kill().expect("kills a replica");
    let _ = killed.child.wait();
    balancer.wait_until(
        |states| states.len() == 3 && states[1].starts_with("DOWN"),
        "the killed replica DOWN",
    );
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let failures: Vec<_> = clients
        .into_iter()
        .flat_map(|client| client.join().expect("a client thread"))
        .collect();
    let served = served.load(Ordering::Relaxed);
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}",
        failures.len(),
        served + failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert!(
        served > served_before_kill + 20,
        "the load went on after the kill ({served_before_kill} then {served})"
    );
    assert_eq!(
        balancer.states().iter().filter(|s| *s == "UP").count(),
        2,
        "{:?}",
        balancer.states()
    );
    drop(redis);
}
