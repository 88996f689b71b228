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

impl Service {
    /// The service's exit status, once it exits; panics if it has not within `within`.
    pub fn exited_within(&mut self, within: Duration) -> std::process::ExitStatus {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("the service's state") {
                return status;
            }
            assert!(started.elapsed() < within, "the service did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A port of 127.0.0.1 free now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
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

/// A kept-alive HTTP/1.1 connection, as a pooling client holds one: requests go one after
/// the other on it, and a new connection is made only when the service said
/// `Connection: close` (or before the first request). A request the service drops (the
/// connection closed before its answer) is an error, what a client cannot retry safely.
pub struct KeptAlive {
    addr: String,
    stream: Option<TcpStream>,
    /// Connections made, the first one included.
    pub connections: usize,
}

impl KeptAlive {
    pub fn new(addr: &str) -> KeptAlive {
        KeptAlive {
            addr: addr.to_owned(),
            stream: None,
            connections: 0,
        }
    }

    /// One request on the kept connection (a new one when there is none).
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> std::io::Result<Reply> {
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect(&self.addr)?;
                stream.set_read_timeout(Some(Duration::from_secs(10)))?;
                self.connections += 1;
                self.stream.insert(stream)
            }
        };
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(content_type) = content_type {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        head.push_str("\r\n");
        head.push_str(body);
        stream.write_all(head.as_bytes())?;
        let reply = read_reply(stream);
        let close = match &reply {
            Ok(reply) => reply
                .header("connection")
                .is_some_and(|value| value.eq_ignore_ascii_case("close")),
            Err(_) => true,
        };
        if close {
            self.stream = None;
        }
        reply
    }
}

/// One answer read off a kept-alive connection (its body by `Content-Length`).
fn read_reply(stream: &mut TcpStream) -> std::io::Result<Reply> {
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    if reader.read_line(&mut status_line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the connection closed without an answer",
        ));
    }
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not a status line: {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
