//! Serving a generated router: bind, announce, serve, drain on shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

/// The address used when `ADDR` is not set.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// Serves `router` on the address in `ADDR` (default 127.0.0.1:8080) until Ctrl-C or SIGTERM,
/// then lets in-flight requests finish (within `SHUTDOWN_TIMEOUT`, see [`serve_on`]). Prints
/// `listening on http://<addr>` once bound, so a caller that asked for port 0 learns the real
/// port.
pub async fn serve(router: Router) -> std::io::Result<()> {
    serve_listener(bind().await?, router).await
}

/// Binds the address in `ADDR` (default 127.0.0.1:8080), for [`serve_listener`]: a service
/// that prints its own URLs learns the bound port (`ADDR=127.0.0.1:0`) before it serves.
pub async fn bind() -> std::io::Result<TcpListener> {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_owned());
    let addr: SocketAddr = addr.parse().map_err(|error| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("ADDR `{addr}` is not a socket address: {error}"),
        )
    })?;
    TcpListener::bind(addr).await
}

/// How long in-flight requests may take to finish after a shutdown signal when
/// `SHUTDOWN_TIMEOUT` is not set.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `router` on `addr`; see [`serve`]. Logs go where `LOG_FORMAT` and `RUST_LOG` say
/// ([`crate::logging`]). On Ctrl-C or SIGTERM the listener closes at
/// once (no new connection is accepted), `/readyz` answers 503, and in-flight requests get
/// `SHUTDOWN_TIMEOUT` (`250ms`, `30s`, ...; default 30 s) to finish; then it returns.
pub async fn serve_on(addr: SocketAddr, router: Router) -> std::io::Result<()> {
    serve_listener(TcpListener::bind(addr).await?, router).await
}

/// Serves `router` on a bound `listener`; see [`serve_on`].
pub async fn serve_listener(listener: TcpListener, router: Router) -> std::io::Result<()> {
    crate::logging::init();
    let shutdown_timeout = shutdown_timeout()?;
    println!("listening on http://{}", listener.local_addr()?);
    let _heartbeat = TimerHeartbeat::start();
    let (signalled, mut on_signal) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown_signal().await;
        // The receiver lives until `serve_on` returns; a send cannot fail before that.
        let _ = signalled.send(true);
    };
    // Connection info gives rate limits the client's address.
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown);
    let drain_limit = async move {
        if on_signal.wait_for(|signalled| *signalled).await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(shutdown_timeout).await;
    };
    let served = tokio::select! {
        result = std::future::IntoFuture::into_future(server) => result,
        () = drain_limit => {
            tracing::warn!(?shutdown_timeout, "in-flight requests did not finish within SHUTDOWN_TIMEOUT; exiting");
            Ok(())
        }
    };
    // The last requests' spans, when they are exported (blocking: off the runtime's workers).
    let _ = tokio::task::spawn_blocking(crate::logging::flush).await;
    served
}

/// How often [`TimerHeartbeat`] ticks: more often than the shortest timer a request sets (a
/// Redis command's timeout).
const HEARTBEAT: Duration = Duration::from_millis(25);
const _: () = assert!(HEARTBEAT.as_nanos() < crate::redis_conn::COMMAND_TIMEOUT.as_nanos());

/// A timer always due within [`HEARTBEAT`], while the service serves. Tokio wakes its I/O
/// driver whenever a timer is set to expire before every pending one (tokio-rs/tokio#5207):
/// with none pending, that is every request's timeout and every Redis command's, each waking a
/// parked thread for nothing (a tenth of a lone request's CPU in the shop). With this one
/// pending, the timers of requests expire later and wake nothing; it costs 40 wakeups a second.
struct TimerHeartbeat(tokio::task::JoinHandle<()>);

impl TimerHeartbeat {
    fn start() -> TimerHeartbeat {
        TimerHeartbeat(tokio::spawn(async {
            let mut ticks = tokio::time::interval(HEARTBEAT);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
            }
        }))
    }
}

impl Drop for TimerHeartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn shutdown_timeout() -> std::io::Result<Duration> {
    match std::env::var("SHUTDOWN_TIMEOUT") {
        Ok(text) if !text.is_empty() => crate::start::parse_duration(&text).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("SHUTDOWN_TIMEOUT `{text}` is not a duration such as `30s` or `500ms`"),
            )
        }),
        _ => Ok(DEFAULT_SHUTDOWN_TIMEOUT),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    // Readiness answers 503 from now on, so a load balancer stops sending new requests.
    crate::health::start_draining();
}
