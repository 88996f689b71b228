//! The requests of each operation in flight and answered by status class, counted by the
//! observe layer and read by the `/metrics` scrape and the OTLP export (one home, so neither
//! of those imports the other).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// The requests of one operation in flight and answered by status class: plain atomics that a
/// request adds to, published to the recorder at every scrape (its handles cost a request
/// twice as much, and a gauge of floats a compare-and-swap loop). One per label set, shared by
/// every router of the process, as the recorder's handles are.
pub(crate) struct Tallies {
    pub(crate) in_flight: AtomicI64,
    /// `1xx` to `5xx`.
    pub(crate) by_class: [AtomicU64; 5],
    gauge: metrics::Gauge,
    counters: [metrics::Counter; 5],
}

/// Every label set's tallies, by (operation, method).
type TallyRegistry = std::sync::Mutex<HashMap<(&'static str, &'static str), Arc<Tallies>>>;

fn tally_registry() -> &'static TallyRegistry {
    static TALLIES: OnceLock<TallyRegistry> = OnceLock::new();
    TALLIES.get_or_init(|| {
        crate::observability::metrics::on_render("http requests", Tallies::publish_all);
        TallyRegistry::default()
    })
}

/// Visits every label set's tallies: operation, method, requests in flight, and requests
/// answered by status class (`1xx` to `5xx`). What OTLP export observes.
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn each_tally(mut visit: impl FnMut(&'static str, &'static str, i64, [u64; 5])) {
    let registry = tally_registry()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for ((operation, method), tallies) in registry.iter() {
        visit(
            operation,
            method,
            tallies.in_flight.load(Ordering::Relaxed),
            std::array::from_fn(|class| tallies.by_class[class].load(Ordering::Relaxed)),
        );
    }
}

impl Tallies {
    pub(crate) fn of(id: &'static str, method: &'static str) -> Arc<Tallies> {
        let mut registry = tally_registry()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        registry
            .entry((id, method))
            .or_insert_with(|| {
                let class = |status: &'static str| metrics::counter!("specjet_http_requests_total", "operation" => id, "method" => method, "status" => status);
                Arc::new(Tallies {
                    in_flight: AtomicI64::new(0),
                    by_class: Default::default(),
                    gauge: metrics::gauge!("specjet_http_requests_in_flight", "operation" => id),
                    counters: [
                        class("1xx"),
                        class("2xx"),
                        class("3xx"),
                        class("4xx"),
                        class("5xx"),
                    ],
                })
            })
            .clone()
    }

    fn publish_all() {
        let registry = tally_registry()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for tallies in registry.values() {
            tallies
                .gauge
                .set(tallies.in_flight.load(Ordering::Relaxed) as f64);
            for (counter, count) in tallies.counters.iter().zip(&tallies.by_class) {
                counter.absolute(count.load(Ordering::Relaxed));
            }
        }
    }
}
