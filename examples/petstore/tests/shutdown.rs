//! A SIGTERM under a write load on kept-alive connections, with the default settings, as a
//! load balancer sees it: `/readyz` answers 503 first, the service keeps serving (and saying
//! `Connection: close`) while the balancer takes it out, and no request sent to it fails.

#[path = "../../support/running.rs"]
mod running;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use running::{request_to, KeptAlive, Service};

#[test]
fn sigterm_drops_no_request_of_a_write_load_on_kept_alive_connections() {
    let mut service = Service::start(
        env!("CARGO_BIN_EXE_petstore-example"),
        &[],
        // The defaults are under test.
        &["REDIS_URL", "SHUTDOWN_DELAY", "SHUTDOWN_TIMEOUT"],
    );
    let addr = service.addr.clone();
    // The balancer: a health check every 100 ms on a connection of its own; once it sees the
    // replica unready, it sends it nothing more.
    let in_rotation = Arc::new(AtomicBool::new(true));
    let balancer = {
        let (addr, in_rotation) = (addr.clone(), in_rotation.clone());
        std::thread::spawn(move || {
            while in_rotation.load(Ordering::SeqCst) {
                let probe = request_to(&addr, "GET", "/readyz", None, "");
                if probe.status == 503 {
                    in_rotation.store(false, Ordering::SeqCst);
                    return Instant::now();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Instant::now()
        })
    };
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let (addr, in_rotation) = (addr.clone(), in_rotation.clone());
            std::thread::spawn(move || {
                let mut connection = KeptAlive::new(&addr);
                let (mut answered, mut told_to_close, mut failed) = (0, 0, Vec::new());
                let mut n = 0;
                while in_rotation.load(Ordering::SeqCst) {
                    n += 1;
                    let body = format!(r#"{{"name":"pet {client}-{n}","tag":"load"}}"#);
                    match connection.send("POST", "/pets", Some("application/json"), &body) {
                        Ok(reply) => {
                            assert!(
                                [201, 429].contains(&reply.status),
                                "{}: {}",
                                reply.status,
                                reply.body
                            );
                            answered += 1;
                            if reply.header("connection") == Some("close") {
                                told_to_close += 1;
                            }
                        }
                        Err(error) => failed.push(error.to_string()),
                    }
                }
                (answered, told_to_close, failed, connection.connections)
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(500));
    let signalled_at = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &service.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());

    let taken_out = balancer.join().expect("the balancer");
    assert!(
        taken_out.duration_since(signalled_at) < Duration::from_secs(1),
        "readiness failed first: the balancer saw 503 after {:?}",
        taken_out.duration_since(signalled_at)
    );
    let (mut answered, mut told_to_close, mut failed) = (0, 0, Vec::new());
    for client in clients {
        let (a, c, f, _) = client.join().expect("a client");
        answered += a;
        told_to_close += c;
        failed.extend(f);
    }
    assert!(
        failed.is_empty(),
        "{} requests failed: {failed:?}",
        failed.len()
    );
    assert!(answered > 50, "a real load: {answered} answers");
    eprintln!("{answered} answers, {told_to_close} of them with Connection: close after SIGTERM");

    // Serving on through the delay, then closed, then gone.
    assert_eq!(request_to(&addr, "GET", "/healthz", None, "").status, 200);
    let exited = service.exited_within(Duration::from_secs(10));
    assert!(exited.success(), "exit status {exited}");
    let served_for = signalled_at.elapsed();
    assert!(
        served_for >= Duration::from_secs(5),
        "it served on for the default delay: {served_for:?}"
    );
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "the port is closed"
    );
}
