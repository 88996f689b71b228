//! Logs through `tracing-subscriber`, on stderr (stdout carries the `listening on` line):
//! human-readable by default, one JSON object per line with `LOG_FORMAT=json`, filtered by
//! `RUST_LOG` (default `info`). Set up by [`crate::serve`]; an application that installed its
//! own subscriber first keeps it.
//!
//! With the `otlp` feature and `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, every request's span (operation, method, route,
//! request id) and the events in it also go to that collector over OTLP/HTTP (protobuf),
//! batched, named by `OTEL_SERVICE_NAME` (default `specjet`), whatever `RUST_LOG` says.

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
    let layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> =
        std::iter::once(logs).chain(otlp::layer()).collect();
    let installed = tracing_subscriber::registry().with(layers).try_init();
    // An error only says a subscriber was already installed: the application's choice.
    let _ = installed;
}

/// Sends the spans still waiting in the OTLP batch (at shutdown; nothing without `otlp`).
pub fn flush() {
    otlp::flush();
}

#[cfg(feature = "otlp")]
mod otlp {
    use std::sync::OnceLock;

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::Resource;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::{Layer, Registry};

    static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

    /// The OTLP layer when an endpoint is configured: specjet's spans and events at debug level
    /// and above, whatever `RUST_LOG` lets through to the logs.
    pub(super) fn layer() -> Option<Box<dyn Layer<Registry> + Send + Sync>> {
        let configured = [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()));
        if !configured {
            return None;
        }
        let exporter = match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build()
        {
            Ok(exporter) => exporter,
            Err(error) => {
                eprintln!("no OTLP export: {error}");
                return None;
            }
        };
        let service = std::env::var("OTEL_SERVICE_NAME")
            .ok()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| "specjet".to_owned());
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name(service).build())
            .build();
        let tracer = provider.tracer("specjet");
        let _ = PROVIDER.set(provider);
        Some(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(Targets::new().with_target("specjet", tracing::Level::DEBUG))
                .boxed(),
        )
    }

    pub(super) fn flush() {
        if let Some(provider) = PROVIDER.get() {
            if let Err(error) = provider.force_flush() {
                eprintln!("OTLP flush: {error}");
            }
        }
    }
}

#[cfg(not(feature = "otlp"))]
mod otlp {
    use tracing_subscriber::{Layer, Registry};

    pub(super) fn layer() -> Option<Box<dyn Layer<Registry> + Send + Sync>> {
        None
    }

    pub(super) fn flush() {}
}
