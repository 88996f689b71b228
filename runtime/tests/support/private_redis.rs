//! A private redis-server on a free port of 127.0.0.1, for a test that kills, stops or
//! isolates its Redis (never the shared one of `REDIS_URL`). Shared by the runtime's tests and
//! the shop example's (included there with `#[path]`); it needs only std and `redis-server`.
#![allow(dead_code)] // each test file uses its own share

use std::time::{Duration, Instant};

/// A private redis-server on a free port, killed on drop.
pub(crate) struct PrivateRedis {
    child: std::process::Child,
    port: u16,
}

impl PrivateRedis {
    /// A server that keeps nothing: started again, it is empty.
    pub(crate) fn start(port: u16) -> Option<PrivateRedis> {
        PrivateRedis::spawn(port, None)
    }

    /// A server whose data lives in `dir` (`dump.rdb`): after [`PrivateRedis::save`], one
    /// started again on the same folder comes back with it.
    pub(crate) fn start_in(port: u16, dir: &std::path::Path) -> Option<PrivateRedis> {
        PrivateRedis::spawn(port, Some(dir))
    }

    fn spawn(port: u16, dir: Option<&std::path::Path>) -> Option<PrivateRedis> {
        let mut command = std::process::Command::new("redis-server");
        command.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]);
        if let Some(dir) = dir {
            command.arg("--dir").arg(dir);
        }
        let child = command.stdout(std::process::Stdio::null()).spawn().ok()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(PrivateRedis { child, port })
    }

    /// Writes the data set to the server's folder (`SAVE`).
    pub(crate) fn save(&self) {
        let status = std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "SAVE"])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(status.success(), "SAVE failed");
    }

    /// Sends `signal` (`STOP`, `CONT`) to the server: a stopped one accepts connections and
    /// never answers, the fault that costs a timeout per command.
    pub(crate) fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
