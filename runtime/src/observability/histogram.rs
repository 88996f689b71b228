//! The per-request histograms (latency, body sizes): fixed buckets in atomics, written into
//! `/metrics` in the Prometheus text format by [`render`].
//!
//! The recorder's own histograms keep every sample until its upkeep folds them, which cost a
//! request about 1.5 µs each on the 2-core benchmark machine (BENCHMARKS.md,
//! "Observability"); here a sample is a binary search over a dozen bounds and two relaxed
//! atomic additions. One histogram per (name, operation), shared by every router of the
//! process, as the recorder's handles are.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// One series: samples in whole units (nanoseconds, bytes) counted by bucket.
#[derive(Debug)]
pub(crate) struct Histogram {
    /// Upper bounds (inclusive), ascending, in units.
    bounds: Arc<[u64]>,
    /// One count per bound, then the count above the last.
    counts: Box<[AtomicU64]>,
    /// The sum of the samples, in units.
    sum: AtomicU64,
}

impl Histogram {
    /// Counts one sample.
    pub(crate) fn record(&self, units: u64) {
        let bucket = self.bounds.partition_point(|bound| *bound < units);
        if let Some(count) = self.counts.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(units, Ordering::Relaxed);
    }
}

/// A histogram family: its name, what a unit is in the exposition, and its bounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Family {
    pub(crate) name: &'static str,
    /// Units per exposed unit (`1e9` for nanoseconds exposed as seconds): a division, so
    /// that 40 ms is written `0.04` as the alert rules and dashboards write it.
    pub(crate) units_per_value: f64,
}

/// Every series, by family name and operation.
type Registry = Mutex<BTreeMap<(&'static str, &'static str), (Family, Arc<Histogram>)>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

/// The series of `family` for `operation`, with `bounds` (in units) when it is new.
pub(crate) fn series(family: Family, operation: &'static str, bounds: &[u64]) -> Arc<Histogram> {
    let mut registry = registry()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    registry
        .entry((family.name, operation))
        .or_insert_with(|| {
            let bounds: Arc<[u64]> = bounds.into();
            let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
            (
                family,
                Arc::new(Histogram {
                    bounds,
                    counts,
                    sum: AtomicU64::new(0),
                }),
            )
        })
        .1
        .clone()
}

/// Every series in the Prometheus text format (cumulative buckets, `+Inf`, `_sum`, `_count`).
pub(crate) fn render(out: &mut String) {
    let registry = registry()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut family_written = "";
    for ((name, operation), (family, histogram)) in registry.iter() {
        if *name != family_written {
            let _ = writeln!(out, "# TYPE {name} histogram");
            family_written = name;
        }
        let operation = escape(operation);
        let mut cumulative = 0u64;
        for (bound, count) in histogram.bounds.iter().zip(histogram.counts.iter()) {
            cumulative += count.load(Ordering::Relaxed);
            let le = *bound as f64 / family.units_per_value;
            let _ = writeln!(
                out,
                "{name}_bucket{{operation=\"{operation}\",le=\"{le}\"}} {cumulative}"
            );
        }
        if let Some(above) = histogram.counts.last() {
            cumulative += above.load(Ordering::Relaxed);
        }
        let sum = histogram.sum.load(Ordering::Relaxed) as f64 / family.units_per_value;
        let _ = writeln!(
            out,
            "{name}_bucket{{operation=\"{operation}\",le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(out, "{name}_sum{{operation=\"{operation}\"}} {sum}");
        let _ = writeln!(
            out,
            "{name}_count{{operation=\"{operation}\"}} {cumulative}"
        );
    }
}

/// A label value in the text format: `\`, `"` and line feeds escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_land_in_cumulative_buckets_with_the_sum_and_count() {
        let family = Family {
            name: "test_latency_seconds",
            units_per_value: 1e9,
        };
        let histogram = series(family, "op\"1", &[1_000_000, 40_000_000, 1_000_000_000]);
        for ms in [0, 1, 2, 40, 41, 5_000] {
            histogram.record(ms * 1_000_000);
        }
        let mut text = String::new();
        render(&mut text);
        let lines: Vec<&str> = text
            .lines()
            .filter(|line| line.contains("test_latency_seconds"))
            .collect();
        assert_eq!(
            lines,
            [
                "# TYPE test_latency_seconds histogram",
                "test_latency_seconds_bucket{operation=\"op\\\"1\",le=\"0.001\"} 2",
                "test_latency_seconds_bucket{operation=\"op\\\"1\",le=\"0.04\"} 4",
                "test_latency_seconds_bucket{operation=\"op\\\"1\",le=\"1\"} 5",
                "test_latency_seconds_bucket{operation=\"op\\\"1\",le=\"+Inf\"} 6",
                "test_latency_seconds_sum{operation=\"op\\\"1\"} 5.084",
                "test_latency_seconds_count{operation=\"op\\\"1\"} 6",
            ]
        );
    }
}
