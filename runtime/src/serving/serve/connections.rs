//! The connections a service holds, each bounded: in the time its client takes to send a
//! request's headers (from the connection, or from the first byte of the next request on a
//! kept-alive one), in the time it stays idle between requests (no request in flight, no byte
//! either way), and in number (at the bound, the oldest idle connection makes room for a new
//! one; with none idle, a new one gets one answer, 503 unless it asks for a probe, and is
//! closed). One sweeper task enforces both times for every connection.
//!
//! hyper's own header-read timeout is not used: it also runs while a kept-alive connection
//! waits for its next request, which would make the idle timeout the header timeout.
//!
//! A connection closed for being idle, at the bound or at shutdown is closed gracefully (an
//! answer in flight is finished first, with `Connection: close`); one whose headers are late
//! is closed at once.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{header, HeaderValue, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};

use super::settings::ServerSettings;
use crate::request::problem::Problem;

/// Connections past the bound that are still answered (once) rather than dropped, so that a
/// probe reaches the service whatever holds its connections.
const OVERFLOW: usize = 64;

/// What every connection of one served router shares.
pub(super) struct Server {
    router: Router,
    /// Answers a connection past the bound gets for anything but a probe.
    busy: Router,
    builder: auto::Builder<TokioExecutor>,
    settings: ServerSettings,
    max_connections: usize,
    registry: Registry,
    /// Set once a shutdown began: every answer says `Connection: close`.
    closing_keep_alives: AtomicBool,
    /// Milliseconds since `started`, as of the last tick of [`Server::tick`]: the clock a
    /// connection's activity is noted on (reading `Instant::now` per read and write costs more).
    now_ms: AtomicU64,
    started: Instant,
}

impl Server {
    pub(super) fn new(
        router: Router,
        settings: ServerSettings,
        max_connections: usize,
    ) -> Arc<Server> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(None);
        let busy = Router::new().fallback(move || async move {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE)
                .with_detail(format!(
                    "the service holds its limit of {max_connections} connections; retry shortly"
                ))
                .with_retry_after(1)
                .into_response()
        });
        let server = Arc::new(Server {
            router,
            busy,
            builder,
            settings,
            max_connections,
            registry: Registry::default(),
            closing_keep_alives: AtomicBool::new(false),
            now_ms: AtomicU64::new(0),
            started: Instant::now(),
        });
        let open = Arc::downgrade(&server);
        crate::observability::metrics::on_render("connections", move || {
            if let Some(server) = open.upgrade() {
                metrics::gauge!("specjet_http_connections").set(server.registry.len() as f64);
            }
        });
        server
    }

    /// Moves the clock connections note their activity on; [`super::TimerHeartbeat`] calls it.
    pub(super) fn tick(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.now_ms.store(now, Ordering::Relaxed);
    }

    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::Relaxed)
    }

    /// From now on every answer says `Connection: close`: kept-alive clients move to
    /// connections of their own (to other replicas, once the balancer knows).
    pub(super) fn close_keep_alives(&self) {
        self.closing_keep_alives.store(true, Ordering::Relaxed);
    }

    /// Closes every connection, each once its answer in flight is sent, and waits until all
    /// are gone.
    pub(super) async fn close_all(&self) {
        self.registry
            .each(|connection| connection.close.notify_one());
        self.registry.all_closed().await;
    }

    /// Accepts connections on `listener` until `stop` fires (or is dropped), then drops the
    /// listener, so the port is closed when it returns.
    pub(super) async fn accept(
        self: Arc<Self>,
        listener: TcpListener,
        mut stop: oneshot::Receiver<()>,
    ) {
        let sweeper = tokio::spawn(sweep_idle(Arc::downgrade(&self)));
        let mut full_warned: Option<Instant> = None;
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = &mut stop => break,
            };
            match accepted {
                Ok((stream, remote)) => self.clone().admit(stream, remote),
                Err(error) if is_out_of_files(&error) => {
                    // No descriptor for a new connection: free one (the oldest idle) and
                    // give the others a moment; said once a minute at most.
                    self.registry.close_oldest_idle();
                    if full_warned.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
                        tracing::warn!(%error, connections = self.registry.len(), "out of file descriptors: closing idle connections");
                        full_warned = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                // A connection reset before it was accepted, and the like: the next one.
                Err(_) => {}
            }
        }
        sweeper.abort();
    }

    /// Serves a new connection, making room for it first when the service holds its bound.
    fn admit(self: Arc<Self>, stream: TcpStream, remote: SocketAddr) {
        let mut over = false;
        if self.registry.len() >= self.max_connections && !self.registry.close_oldest_idle() {
            if self.registry.len() >= self.max_connections + OVERFLOW {
                // Dropped unanswered: even the overflow is full.
                return;
            }
            over = true;
            metrics::counter!("specjet_http_connections_refused_total").increment(1);
        }
        let connection = self.registry.insert(self.now_ms());
        tokio::spawn(self.serve(stream, remote, connection, over));
    }

    async fn serve(
        self: Arc<Self>,
        stream: TcpStream,
        remote: SocketAddr,
        connection: Arc<Connection>,
        over: bool,
    ) {
        // Answers are small and written whole: no reason to wait for more before sending.
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Tracked {
            stream,
            connection: connection.clone(),
            server: self.clone(),
        });
        let service = ConnectionService {
            server: self.clone(),
            remote,
            connection: connection.clone(),
            over,
        };
        let served = self.builder.serve_connection_with_upgrades(io, service);
        tokio::pin!(served);
        let mut closing = false;
        loop {
            tokio::select! {
                _ = served.as_mut() => break,
                () = connection.close.notified(), if !closing => {
                    if connection.cut.load(Ordering::Acquire) {
                        // Headers too late: dropped, which closes the socket.
                        break;
                    }
                    closing = true;
                    served.as_mut().graceful_shutdown();
                }
            }
        }
        self.registry.remove(connection.id);
    }
}

/// `accept`'s error for a process or system out of file descriptors.
fn is_out_of_files(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(code) if code == libc_emfile() || code == libc_enfile())
}

#[cfg(unix)]
fn libc_emfile() -> i32 {
    libc::EMFILE
}

#[cfg(unix)]
fn libc_enfile() -> i32 {
    libc::ENFILE
}

#[cfg(not(unix))]
fn libc_emfile() -> i32 {
    24
}

#[cfg(not(unix))]
fn libc_enfile() -> i32 {
    23
}

/// Closes the connections idle past the idle timeout, and cuts those whose request headers are
/// late, a few times per timeout; ends with the server.
async fn sweep_idle(server: std::sync::Weak<Server>) {
    let every = match server.upgrade() {
        Some(server) => {
            let shortest = server
                .settings
                .idle_timeout
                .min(server.settings.header_read_timeout);
            (shortest / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
        }
        None => return,
    };
    let millis = |duration: Duration| u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    loop {
        tokio::time::sleep(every).await;
        let Some(server) = server.upgrade() else {
            return;
        };
        let idle_ms = millis(server.settings.idle_timeout);
        let header_ms = millis(server.settings.header_read_timeout);
        let now = server.now_ms();
        server.registry.each(|connection| {
            let head_since = connection.head_since_ms.load(Ordering::Acquire);
            if head_since != 0 {
                if now.saturating_sub(head_since) >= header_ms {
                    connection.cut.store(true, Ordering::Release);
                    connection.close.notify_one();
                }
            } else if connection
                .idle_since(now)
                .is_some_and(|idle| idle >= idle_ms)
            {
                connection.close.notify_one();
            }
        });
    }
}

/// One connection's state, shared by its task, its I/O and its requests.
struct Connection {
    id: u64,
    /// On the server's clock: when a byte last went either way, or a request ended.
    last_active_ms: AtomicU64,
    in_flight: AtomicU32,
    /// On the server's clock, when the request head being read began (the connection, or the
    /// first byte after the last answer); 0 while no head is being read.
    head_since_ms: AtomicU64,
    /// Asked to close at once rather than gracefully (its head is late).
    cut: AtomicBool,
    close: Notify,
}

impl Connection {
    /// How long it has been idle (no request in flight), `None` while it is not.
    fn idle_since(&self, now: u64) -> Option<u64> {
        (self.in_flight.load(Ordering::Acquire) == 0)
            .then(|| now.saturating_sub(self.last_active_ms.load(Ordering::Relaxed)))
    }
}

/// The open connections.
#[derive(Default)]
struct Registry {
    connections: Mutex<HashMap<u64, Arc<Connection>>>,
    count: AtomicUsize,
    next_id: AtomicU64,
    /// Signalled when the last connection is gone.
    empty: Notify,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Connection>>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    fn insert(&self, now: u64) -> Arc<Connection> {
        let connection = Arc::new(Connection {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            last_active_ms: AtomicU64::new(now),
            in_flight: AtomicU32::new(0),
            // A client connects to send a request: its head is awaited from now.
            head_since_ms: AtomicU64::new(now.max(1)),
            cut: AtomicBool::new(false),
            close: Notify::new(),
        });
        self.lock().insert(connection.id, connection.clone());
        self.count.fetch_add(1, Ordering::AcqRel);
        connection
    }

    fn remove(&self, id: u64) {
        if self.lock().remove(&id).is_some() && self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.empty.notify_waiters();
        }
    }

    fn each(&self, mut visit: impl FnMut(&Connection)) {
        for connection in self.lock().values() {
            visit(connection);
        }
    }

    /// Asks the connection idle longest to close; `false` when none is idle.
    fn close_oldest_idle(&self) -> bool {
        let connections = self.lock();
        let oldest = connections
            .values()
            .filter(|connection| connection.in_flight.load(Ordering::Acquire) == 0)
            .min_by_key(|connection| connection.last_active_ms.load(Ordering::Relaxed));
        match oldest {
            Some(connection) => {
                connection.close.notify_one();
                true
            }
            None => false,
        }
    }

    async fn all_closed(&self) {
        loop {
            let empty = self.empty.notified();
            if self.len() == 0 {
                return;
            }
            empty.await;
        }
    }
}

/// A connection's socket, noting when a byte goes either way.
struct Tracked {
    stream: TcpStream,
    connection: Arc<Connection>,
    server: Arc<Server>,
}

impl Tracked {
    fn active(&self) {
        self.connection
            .last_active_ms
            .store(self.server.now_ms(), Ordering::Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.active();
            let connection = &this.connection;
            // The first byte of a request head (none in flight): its clock starts.
            if connection.in_flight.load(Ordering::Acquire) == 0
                && connection.head_since_ms.load(Ordering::Relaxed) == 0
            {
                connection
                    .head_since_ms
                    .store(this.server.now_ms().max(1), Ordering::Release);
            }
        }
        read
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.active();
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.active();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The router as one connection serves it: the client's address in each request's
/// extensions (what rate limits key on), its requests counted in flight.
#[derive(Clone)]
struct ConnectionService {
    server: Arc<Server>,
    remote: SocketAddr,
    connection: Arc<Connection>,
    /// Past the bound: one answer, 503 unless a probe, then closed.
    over: bool,
}

/// The service's own probes, answered on a connection past the bound too.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

impl hyper::service::Service<http::Request<Incoming>> for ConnectionService {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, mut request: http::Request<Incoming>) -> Answer {
        request.extensions_mut().insert(ConnectInfo(self.remote));
        let mut router = if self.over && !is_probe(request.uri().path()) {
            self.server.busy.clone()
        } else {
            self.server.router.clone()
        };
        // `Connection` is HTTP/1's: HTTP/2 closes with GOAWAY (at the graceful shutdown).
        let close = request.version() <= http::Version::HTTP_11
            && (self.over || self.server.closing_keep_alives.load(Ordering::Relaxed));
        self.connection.in_flight.fetch_add(1, Ordering::AcqRel);
        // Its head is in: no head is being read until the next request's first byte.
        self.connection.head_since_ms.store(0, Ordering::Release);
        Answer {
            inner: tower::Service::call(&mut router, request),
            in_flight: Some(InFlight(self.connection.clone(), self.server.clone())),
            close,
        }
    }
}

/// Counts a request in flight on its connection until its answer is ready (or it is dropped).
struct InFlight(Arc<Connection>, Arc<Server>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .last_active_ms
            .store(self.1.now_ms(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project_lite::pin_project! {
    /// The router's answer to one request of a connection.
    struct Answer {
        #[pin]
        inner: axum::routing::future::RouteFuture<Infallible>,
        in_flight: Option<InFlight>,
        close: bool,
    }
}

impl Future for Answer {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = ready!(this.inner.poll(cx));
        this.in_flight.take();
        if *this.close {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Poll::Ready(Ok(response))
    }
}
