//! Serving a generated router: bind, announce, serve, drain on shutdown.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

/// The address used when `ADDR` is not set.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// Serves `router` on the address in `ADDR` (default 127.0.0.1:8080) until Ctrl-C or SIGTERM,
/// then lets in-flight requests finish. Prints `listening on http://<addr>` once bound, so a
/// caller that asked for port 0 learns the real port.
pub async fn serve(router: Router) -> std::io::Result<()> {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| DEFAULT_ADDR.to_owned());
    let addr: SocketAddr = addr.parse().map_err(|error| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("ADDR `{addr}` is not a socket address: {error}"),
        )
    })?;
    serve_on(addr, router).await
}

/// Serves `router` on `addr`; see [`serve`].
pub async fn serve_on(addr: SocketAddr, router: Router) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // Connection info gives rate limits the client's address.
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
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
