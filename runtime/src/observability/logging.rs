//! Logs through `tracing-subscriber`, on stderr (stdout carries the `listening on` line):
//! human-readable by default, one JSON object per line with `LOG_FORMAT=json`, filtered by
//! `RUST_LOG` (default `info`). Set up by [`crate::serving::serve`]; an application that installed its
//! own subscriber first keeps it.
//!
//! With the `otlp` feature and `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans and metrics also go
//! to a collector (see [`crate::observability::otlp`]).

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// Installs the subscriber `LOG_FORMAT`, `RUST_LOG` (and the OTLP variables) describe, once;
/// later calls, and a subscriber installed by the application, leave things as they are.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let format = std::env::var("LOG_FORMAT").unwrap_or_default();
    let logs: Box<dyn Layer<Registry> + Send + Sync> = match format.to_ascii_lowercase().as_str() {
        "json" => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
        other => {
            if !other.is_empty() && other != "text" {
                eprintln!("LOG_FORMAT `{format}` is neither `text` nor `json`; logging as text");
            }
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter)
                .boxed()
        }
    };
    let layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = std::iter::once(logs)
        .chain(crate::observability::otlp::layer())
        .collect();
    let installed = tracing_subscriber::registry().with(layers).try_init();
    // An error only says a subscriber was already installed: the application's choice.
    let _ = installed;
}

/// Sends the spans and metrics still waiting for OTLP export (at shutdown; nothing without
/// `otlp`).
pub fn flush() {
    crate::observability::otlp::flush();
}
