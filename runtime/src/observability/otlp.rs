//! OpenTelemetry export over OTLP/HTTP (protobuf), with the `otlp` feature and
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or the per-signal `..._TRACES_ENDPOINT`,
//! `..._METRICS_ENDPOINT`) set; named by `OTEL_SERVICE_NAME` (default `specjet`).
//!
//! - Traces: every request's span (operation, method, route, request id) and the events in
//!   it, batched, whatever `RUST_LOG` lets through to the logs.
//! - Metrics, every `OTEL_METRIC_EXPORT_INTERVAL` (default 60 s) and at [`flush`]: the same
//!   request figures `/metrics` shows, under OpenTelemetry's names:
//!   `specjet.http.requests` (a counter by operation, method and status class, read from the
//!   tallies `/metrics` publishes, so a request pays nothing more for it),
//!   `specjet.http.requests.in_flight` (by operation and method) and
//!   `specjet.http.request.duration` (seconds, by operation and method, with the same bucket
//!   boundaries as the Prometheus histogram, SLO thresholds included).

#[cfg(feature = "otlp")]
mod export {
    use std::sync::OnceLock;
    use std::time::Duration;

    use opentelemetry::metrics::{
        Histogram, MeterProvider as _, ObservableCounter, ObservableUpDownCounter,
    };
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry::KeyValue;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::metrics::SdkMeterProvider;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::Resource;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::{Layer, Registry};

    static TRACES: OnceLock<SdkTracerProvider> = OnceLock::new();
    static METRICS: OnceLock<Metrics> = OnceLock::new();

    /// The meter provider and the instruments it exports (kept for the process's life).
    struct Metrics {
        provider: SdkMeterProvider,
        duration: Histogram<f64>,
        _requests: ObservableCounter<u64>,
        _in_flight: ObservableUpDownCounter<i64>,
    }

    const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

    fn configured(signal: &str) -> bool {
        ["OTEL_EXPORTER_OTLP_ENDPOINT", signal]
            .iter()
            .any(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()))
    }

    fn resource() -> Resource {
        let service = std::env::var("OTEL_SERVICE_NAME")
            .ok()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| "specjet".to_owned());
        Resource::builder().with_service_name(service).build()
    }

    /// The tracing layer when an endpoint is configured (and the metrics' export started).
    pub(crate) fn layer() -> Option<Box<dyn Layer<Registry> + Send + Sync>> {
        start_metrics();
        if !configured("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            return None;
        }
        let exporter = match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build()
        {
            Ok(exporter) => exporter,
            Err(error) => {
                eprintln!("no OTLP export of traces: {error}");
                return None;
            }
        };
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource())
            .build();
        let tracer = provider.tracer("specjet");
        let _ = TRACES.set(provider);
        Some(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(Targets::new().with_target("specjet", tracing::Level::DEBUG))
                .boxed(),
        )
    }

    fn start_metrics() {
        if !configured("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") || METRICS.get().is_some() {
            return;
        }
        let exporter = match opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build()
        {
            Ok(exporter) => exporter,
            Err(error) => {
                eprintln!("no OTLP export of metrics: {error}");
                return;
            }
        };
        let provider = SdkMeterProvider::builder()
            .with_periodic_exporter(exporter)
            .with_resource(resource())
            .build();
        let meter = provider.meter("specjet");
        let requests = meter
            .u64_observable_counter("specjet.http.requests")
            .with_description("Requests answered, by operation, method and status class.")
            .with_callback(|observer| {
                crate::observability::tally::each_tally(|operation, method, _, answered| {
                    for (class, count) in CLASSES.iter().zip(answered) {
                        if count > 0 {
                            observer.observe(
                                count,
                                &[
                                    KeyValue::new("operation", operation),
                                    KeyValue::new("method", method),
                                    KeyValue::new("status", *class),
                                ],
                            );
                        }
                    }
                })
            })
            .build();
        let in_flight = meter
            .i64_observable_up_down_counter("specjet.http.requests.in_flight")
            .with_description("Requests being answered, by operation and method.")
            .with_callback(|observer| {
                crate::observability::tally::each_tally(|operation, method, in_flight, _| {
                    observer.observe(
                        in_flight,
                        &[
                            KeyValue::new("operation", operation),
                            KeyValue::new("method", method),
                        ],
                    );
                })
            })
            .build();
        let duration = meter
            .f64_histogram("specjet.http.request.duration")
            .with_description("Time to answer a request, by operation and method.")
            .with_unit("s")
            .with_boundaries(crate::observability::metrics::latency_bounds_seconds())
            .build();
        let _ = METRICS.set(Metrics {
            provider,
            duration,
            _requests: requests,
            _in_flight: in_flight,
        });
    }

    /// A request of `operation` answered in `elapsed` (nothing unless metrics are exported).
    pub(crate) fn answered(operation: &'static str, method: &'static str, elapsed: Duration) {
        if let Some(metrics) = METRICS.get() {
            metrics.duration.record(
                elapsed.as_secs_f64(),
                &[
                    KeyValue::new("operation", operation),
                    KeyValue::new("method", method),
                ],
            );
        }
    }

    pub(crate) fn flush() {
        if let Some(provider) = TRACES.get() {
            if let Err(error) = provider.force_flush() {
                eprintln!("OTLP flush of traces: {error}");
            }
        }
        if let Some(metrics) = METRICS.get() {
            if let Err(error) = metrics.provider.force_flush() {
                eprintln!("OTLP flush of metrics: {error}");
            }
        }
    }
}

#[cfg(not(feature = "otlp"))]
mod export {
    use std::time::Duration;

    use tracing_subscriber::{Layer, Registry};

    pub(crate) fn layer() -> Option<Box<dyn Layer<Registry> + Send + Sync>> {
        None
    }

    #[inline]
    pub(crate) fn answered(_operation: &'static str, _method: &'static str, _elapsed: Duration) {}

    pub(crate) fn flush() {}
}

pub(crate) use export::{answered, flush, layer};
