//! The connections `specjet::serve` holds, over real sockets of 127.0.0.1: idle keep-alive
//! connections and half-sent headers are closed in time, at the connection bound the oldest
//! idle connection makes room while the probes stay answerable, and a stalled body is the
//! client's 408, holding no slot meanwhile.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use specjet::{ServerSettings, ServiceSettings, Services};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A router with `/fast`, `/slow` (3 s) and the probes, served with `settings` on a free port
/// until the returned task is aborted.
async fn start(settings: ServerSettings) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let services = Services::new(ServiceSettings::default(), None);
    let router = Router::new()
        .route("/fast", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "slow"
            }),
        )
        .route("/healthz", get(specjet::health::healthz))
        .route("/readyz", get(specjet::health::readyz).with_state(services));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = specjet::serve_listener_with(listener, router, &settings).await;
    });
    (addr, task)
}

/// One answer read off a kept-alive connection: status, head, body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Sends `GET path` on `stream` (kept alive) and reads the answer.
async fn exchange(stream: &mut TcpStream, path: &str) -> std::io::Result<Answer> {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
        .await?;
    read_answer(stream).await
}

async fn read_answer(stream: &mut TcpStream) -> std::io::Result<Answer> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&chunk[..n]);
    }
    let status = head[9..12].parse().unwrap();
    let body = String::from_utf8_lossy(&data[head_end..head_end + length]).into_owned();
    Ok(Answer { status, head, body })
}

/// Whether the service closed `stream` within `within` (anything it sent first is skipped).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_and_busy_ones_kept() {
    let (addr, server) = start(ServerSettings {
        idle_timeout: Duration::from_secs(1),
        ..ServerSettings::default()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        assert_eq!(exchange(&mut stream, "/fast").await.unwrap().status, 200);
        idle.push(stream);
    }
    let mut busy = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        let answer = exchange(&mut busy, "/fast")
            .await
            .expect("kept while in use");
        assert_eq!((answer.status, answer.body.as_str()), (200, "ok"));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for stream in &mut idle {
        assert!(
            closed_within(stream, Duration::from_secs(1)).await,
            "an idle connection was still open after {:?}",
            started.elapsed()
        );
    }
    assert_eq!(exchange(&mut busy, "/fast").await.unwrap().status, 200);
    server.abort();
}

#[tokio::test]
async fn headers_sent_slowly_or_never_finished_are_cut_at_the_header_timeout() {
    let (addr, server) = start(ServerSettings {
        header_read_timeout: Duration::from_secs(1),
        ..ServerSettings::default()
    })
    .await;
    let mut half_sent = Vec::new();
    for _ in 0..30 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /fast HTTP/1.1\r\nHost: test\r\n")
            .await
            .unwrap();
        half_sent.push(stream);
    }
    // A slowloris: a byte every 200 ms never resets the bound.
    let mut dribbling = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let dribble = async {
        for byte in b"GET /fast HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if dribbling.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        closed_within(&mut dribbling, Duration::from_secs(3)).await
    };
    assert!(dribble.await, "the slowloris was never cut");
    assert!(started.elapsed() < Duration::from_secs(3));
    for stream in &mut half_sent {
        assert!(closed_within(stream, Duration::from_secs(2)).await);
    }
    // A client that sends its headers at once is served, and its kept-alive connection
    // waits for its next request past the header timeout (that wait is the idle timeout's).
    let mut stream = TcpStream::connect(addr).await.unwrap();
    assert_eq!(exchange(&mut stream, "/fast").await.unwrap().status, 200);
    assert!(!closed_within(&mut stream, Duration::from_millis(1800)).await);
    assert_eq!(exchange(&mut stream, "/fast").await.unwrap().status, 200);
    // A connection that never sends a byte is cut at the header timeout too.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
    server.abort();
}

#[tokio::test]
async fn at_the_bound_the_oldest_idle_connection_makes_room_and_probes_still_answer() {
    let (addr, server) = start(ServerSettings {
        max_connections: Some(10),
        ..ServerSettings::default()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..10 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        assert_eq!(exchange(&mut stream, "/fast").await.unwrap().status, 200);
        idle.push(stream);
        // Each one idle longer than the next.
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let mut new = TcpStream::connect(addr).await.unwrap();
    assert_eq!(exchange(&mut new, "/fast").await.unwrap().status, 200);
    assert!(
        closed_within(&mut idle[0], Duration::from_secs(1)).await,
        "the oldest idle connection made room"
    );
    assert!(
        !closed_within(&mut idle[9], Duration::from_millis(200)).await,
        "the others are kept"
    );
    drop(idle);
    drop(new);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Every connection busy: a new one is answered once, 503, and closed; a probe answers.
    let slow: Vec<_> = (0..10)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                exchange(&mut stream, "/slow")
                    .await
                    .map(|answer| answer.status)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut over = TcpStream::connect(addr).await.unwrap();
    let busy = exchange(&mut over, "/fast").await.unwrap();
    assert_eq!(busy.status, 503, "{}", busy.body);
    assert!(busy.head.to_ascii_lowercase().contains("retry-after: 1"));
    assert!(busy.head.to_ascii_lowercase().contains("connection: close"));
    assert!(closed_within(&mut over, Duration::from_secs(1)).await);
    for probe in ["/healthz", "/readyz"] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        let answer = exchange(&mut stream, probe).await.unwrap();
        assert_eq!(answer.status, 200, "{probe}: {}", answer.body);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    for request in slow {
        assert_eq!(
            request.await.unwrap().unwrap(),
            200,
            "in-flight requests finish"
        );
    }
    server.abort();
}

static ECHO: specjet::OperationInfo =
    specjet::OperationInfo::new("echo", http::Method::POST, "/echo");

#[tokio::test]
async fn a_stalled_body_is_the_clients_408_and_holds_no_slot_meanwhile() {
    // One request at a time (`max-in-flight: 1`), an operation timeout shorter than the body
    // timeout: the stalled body must get neither 503 for the others nor 504 for itself.
    let mut settings = ServiceSettings {
        max_in_flight: Some(1),
        ..ServiceSettings::default()
    };
    settings.server.body_timeout = Duration::from_millis(600);
    let services = Services::from_parts(
        settings,
        specjet::cache::Cache::new(specjet::cache::CacheSettings::default(), None),
        specjet::rate_limit::RateLimiter::new(Default::default(), None),
    );
    let policies = specjet::Policies {
        timeout: Some(Duration::from_millis(200)),
        ..specjet::Policies::NONE
    };
    let router = specjet::__private::finish(
        Router::new().route(
            "/echo",
            axum::routing::post(|body: String| async move { body }),
        ),
        &services,
        specjet::__private::Finish::of(
            vec![(&ECHO, policies)],
            std::sync::Arc::new(specjet::reject::problem_json),
        ),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let _ = specjet::serve_listener_with(listener, router, &ServerSettings::default()).await;
    });

    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Meanwhile another client is served: the stalled one holds no slot.
    let mut other = TcpStream::connect(addr).await.unwrap();
    other
        .write_all(b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello")
        .await
        .unwrap();
    let answer = read_answer(&mut other).await.unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (200, "hello"));

    let answer = read_answer(&mut stalled).await.unwrap();
    assert_eq!(answer.status, 408, "{}", answer.body);
    assert!(
        started.elapsed() >= Duration::from_millis(550),
        "{:?}",
        started.elapsed()
    );
    assert!(
        answer.body.contains("paused for longer than 600 ms"),
        "{}",
        answer.body
    );
    assert!(answer
        .head
        .to_ascii_lowercase()
        .contains("connection: close"));
    assert!(closed_within(&mut stalled, Duration::from_secs(1)).await);

    // Counted as the client's error.
    let metrics = specjet::metrics::render().await;
    let metrics = axum::body::to_bytes(metrics.into_body(), usize::MAX)
        .await
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("specjet_http_requests_total")
                && line.contains("operation=\"echo\"")
                && line.contains("status=\"4xx\"")
                && line.ends_with(" 1")),
        "{metrics}"
    );
    server.abort();
}
