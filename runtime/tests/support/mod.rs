//! Helpers shared by the runtime's integration tests: services with one layer under test, the
//! shared Redis of `REDIS_URL`, and private `redis-server`s that a test may kill.
#![allow(dead_code)] // each test file uses its own share

pub(crate) mod postgres;

use std::time::{Duration, Instant};

use specjet::cache::{Cache, CacheSettings};
use specjet::compression::CompressionSettings;
use specjet::rate_limit::RateLimiter;
use specjet::{ServiceSettings, Services};

/// Services over `cache` and `limiter` (in process when `None`), compression off: a test of
/// one layer sees only that layer.
pub(crate) fn services(cache: Option<Cache>, limiter: Option<RateLimiter>) -> Services {
    let settings = ServiceSettings {
        compression: CompressionSettings::off(),
        ..ServiceSettings::default()
    };
    let cache = cache.unwrap_or_else(|| Cache::new(CacheSettings::default(), None));
    let limiter = limiter.unwrap_or_else(|| RateLimiter::new(settings.rate_limit.clone(), None));
    Services::from_parts(settings, cache, limiter)
}

pub(crate) fn redis_url() -> Option<String> {
    let url = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("skipped: REDIS_URL is not set");
    }
    url
}

pub(crate) fn unique_prefix(name: &str) -> String {
    format!(
        "specjet-test-{name}-{}-{}",
        std::process::id(),
        specjet::cache::etag_for(format!("{:?}", Instant::now()).as_bytes()).trim_matches('"')
    )
}

/// A private redis-server on a free port, killed on drop.
pub(crate) struct PrivateRedis {
    child: std::process::Child,
    port: u16,
}

impl PrivateRedis {
    pub(crate) fn start(port: u16) -> Option<PrivateRedis> {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(PrivateRedis { child, port })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
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
