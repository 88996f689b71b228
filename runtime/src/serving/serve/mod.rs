//! Serving a generated router: bind, announce, serve with bounded connections, shut down in
//! the order a load balancer needs.

mod connections;
mod settings;

pub(crate) use settings::configure;
pub use settings::ServerSettings;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

/// The address used when `ADDR` is not set.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// Serves `router` on the address in `ADDR` (default 127.0.0.1:8080) until Ctrl-C or SIGTERM,
/// then shuts down as [`serve_listener`] says. Prints
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

/// Serves `router` on `addr`; see [`serve_listener`].
pub async fn serve_on(addr: SocketAddr, router: Router) -> std::io::Result<()> {
    serve_listener(TcpListener::bind(addr).await?, router).await
}

/// Serves `router` on a bound `listener` until Ctrl-C or SIGTERM. Logs go where `LOG_FORMAT`
/// and `RUST_LOG` say ([`crate::observability::logging`]). Connections are held as the router's
/// `x-specjet.server` settings and the environment say ([`ServerSettings`]): headers within
/// `HEADER_READ_TIMEOUT`, idle ones closed after `IDLE_TIMEOUT`, at most `MAX_CONNECTIONS`
/// (the open-file limit is raised to its hard limit first).
///
/// A shutdown, in the order a load balancer needs: `/readyz` answers 503 at once; on SIGTERM
/// the service keeps serving and accepting for `SHUTDOWN_DELAY` (default 5 s; Ctrl-C skips
/// it) while balancers take it out, every answer saying `Connection: close` so that kept-alive
/// clients move away; then the listener closes, idle connections close, in-flight requests
/// get `SHUTDOWN_TIMEOUT` (default 30 s) to finish (their connections closed after their
/// answers), and it returns.
pub async fn serve_listener(listener: TcpListener, router: Router) -> std::io::Result<()> {
    serve_listener_with(listener, router, &settings::configured()).await
}

/// [`serve_listener`] with these connection settings instead of the router's (the
/// environment's overrides still apply).
pub async fn serve_listener_with(
    listener: TcpListener,
    router: Router,
    settings: &ServerSettings,
) -> std::io::Result<()> {
    crate::observability::logging::init();
    let settings = settings::with_env_overrides(settings)
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    let (room, open_files) = settings::connection_room();
    let max_connections = match settings.max_connections {
        Some(max) if max > room => {
            tracing::warn!(
                max_connections = max,
                open_files,
                "MAX_CONNECTIONS is above what the open-file limit leaves room for"
            );
            max
        }
        Some(max) => max,
        None => room,
    };
    println!("listening on http://{}", listener.local_addr()?);
    tracing::info!(
        max_connections,
        open_files,
        header_read_timeout = ?settings.header_read_timeout,
        idle_timeout = ?settings.idle_timeout,
        "serving"
    );
    let server = connections::Server::new(router, settings.clone(), max_connections);
    let _heartbeat = TimerHeartbeat::start(server.clone());
    let (stop_accepting, stop) = tokio::sync::oneshot::channel();
    let accepting = tokio::spawn(server.clone().accept(listener, stop));

    let signal = shutdown_signal().await;
    // Readiness answers 503 from now on, so a load balancer stops sending new requests.
    crate::serving::health::start_draining();
    server.close_keep_alives();
    let delay = match signal {
        Signal::Terminate => settings.shutdown_delay,
        Signal::Interrupt => Duration::ZERO,
    };
    tracing::info!(
        ?delay,
        "shutting down: not ready; serving on while balancers take this replica out"
    );
    tokio::time::sleep(delay).await;
    let _ = stop_accepting.send(());
    let _ = accepting.await;
    // Event streams never end by themselves: each sends a `retry:` hint and ends, so that its
    // client reconnects elsewhere.
    crate::request::stream::end_event_streams();
    let shutdown_timeout = settings.shutdown_timeout;
    if tokio::time::timeout(shutdown_timeout, server.close_all())
        .await
        .is_err()
    {
        tracing::warn!(
            ?shutdown_timeout,
            "in-flight requests did not finish within SHUTDOWN_TIMEOUT; exiting"
        );
    }
    // The last requests' spans, when they are exported (blocking: off the runtime's workers).
    let _ = tokio::task::spawn_blocking(crate::observability::logging::flush).await;
    Ok(())
}

/// How often [`TimerHeartbeat`] ticks: more often than the shortest timer a request sets (a
/// Redis command's timeout).
const HEARTBEAT: Duration = Duration::from_millis(25);
const _: () =
    assert!(HEARTBEAT.as_nanos() < crate::backend::redis_conn::COMMAND_TIMEOUT.as_nanos());

/// A timer always due within [`HEARTBEAT`], while the service serves. Tokio wakes its I/O
/// driver whenever a timer is set to expire before every pending one (tokio-rs/tokio#5207):
/// with none pending, that is every request's timeout and every Redis command's, each waking a
/// parked thread for nothing (a tenth of a lone request's CPU in the shop). With this one
/// pending, the timers of requests expire later and wake nothing; it costs 40 wakeups a second.
///
/// Each tick also moves the clock connections note their activity on.
struct TimerHeartbeat(tokio::task::JoinHandle<()>);

impl TimerHeartbeat {
    fn start(server: std::sync::Arc<connections::Server>) -> TimerHeartbeat {
        TimerHeartbeat(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(HEARTBEAT);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                server.tick();
            }
        }))
    }
}

impl Drop for TimerHeartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What asked the service to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// Ctrl-C (SIGINT): someone at a terminal.
    Interrupt,
    /// SIGTERM: an orchestrator, which balances traffic away meanwhile.
    Terminate,
}

async fn shutdown_signal() -> Signal {
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
        () = ctrl_c => Signal::Interrupt,
        () = terminate => Signal::Terminate,
    }
}
