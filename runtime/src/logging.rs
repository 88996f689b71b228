//! Logs through `tracing-subscriber`, on stderr (stdout carries the `listening on` line):
//! human-readable by default, one JSON object per line with `LOG_FORMAT=json`, filtered by
//! `RUST_LOG` (default `info`). Set up by [`crate::serve`]; an application that installed its
//! own subscriber first keeps it.

use tracing_subscriber::EnvFilter;

/// Installs the subscriber `LOG_FORMAT` and `RUST_LOG` describe, once; later calls, and a
/// subscriber installed by the application, leave things as they are.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let format = std::env::var("LOG_FORMAT").unwrap_or_default();
    let installed = match format.to_ascii_lowercase().as_str() {
        "json" => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .try_init(),
        other => {
            if !other.is_empty() && other != "text" {
                eprintln!("LOG_FORMAT `{format}` is neither `text` nor `json`; logging as text");
            }
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_env_filter(filter)
                .try_init()
        }
    };
    // An error only says a subscriber was already installed: the application's choice.
    let _ = installed;
}
