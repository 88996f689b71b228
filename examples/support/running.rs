//! A built example binary started on a free port of 127.0.0.1, and plain HTTP/1.1 to it: the
//! examples' end-to-end tests talk to the service as a client would. Included by each
//! example's tests with `#[path]`.
#![allow(dead_code)] // each test file uses its own share

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The running service; killed when dropped.
pub struct Service {
    pub child: Child,
    pub addr: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// Starts `binary` on `127.0.0.1:0` with `env` set and `unset` removed, and waits for
    /// the address it prints once bound.
    pub fn start(binary: &str, env: &[(&str, &str)], unset: &[&str]) -> Service {
        Service::start_in(binary, None, env, unset)
    }

    /// [`Service::start`] in the working directory `dir` (the current one when `None`).
    pub fn start_in(
        binary: &str,
        dir: Option<&std::path::Path>,
        env: &[(&str, &str)],
        unset: &[&str],
    ) -> Service {
        let mut command = Command::new(binary);
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        command.env("ADDR", "127.0.0.1:0").stdout(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        for name in unset {
            command.env_remove(name);
        }
        let mut child = command.spawn().expect("the example binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the service prints its address");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Service { child, addr }
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub fn request(
    service: &Service,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> Reply {
    request_with(service, method, path, &[], content_type, body)
}

pub fn request_with(
    service: &Service,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    content_type: Option<&str>,
    body: &str,
) -> Reply {
    request_with_to(&service.addr, method, path, headers, content_type, body)
}

/// [`request_with`] to `addr` (a balancer, a replica), from any thread.
pub fn request_with_to(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    content_type: Option<&str>,
    body: &str,
) -> Reply {
    let mut head_extra = String::new();
    for (name, value) in headers {
        head_extra.push_str(&format!("{name}: {value}\r\n"));
    }
    exchange(addr, method, path, &head_extra, content_type, body)
}

/// One HTTP/1.1 request to `addr` on a fresh connection (from any thread).
pub fn request_to(
    addr: &str,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> Reply {
    exchange(addr, method, path, "", content_type, body)
}

fn exchange(
    addr: &str,
    method: &str,
    path: &str,
    extra_headers: &str,
    content_type: Option<&str>,
    body: &str,
) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        addr,
        body.len()
    );
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    head.push_str(extra_headers);
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("reads the response");
    // Compressed bodies are not text; they are only looked at for their headers.
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

pub fn get(service: &Service, path: &str) -> Reply {
    request(service, "GET", path, None, "")
}
