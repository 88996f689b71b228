//! How loaded the service is, for adaptive rate limits: the requests it is answering now and
//! the 95th percentile of its latency over the last half second.
//!
//! The observability layer counts every request in and out ([`Load::enter`]) once an adaptive
//! limit reads the load (before, it costs nothing). A request costs two atomic additions and
//! one increment of a latency bucket; the percentile is computed only by the watcher thread of
//! the adaptive limits, twice a second.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Latency buckets: bucket `i` holds latencies below 2^(i/4) µs (16 ms is bucket 56, 1 s is 80).
const BUCKETS: usize = 112;

/// How often the signals are read, and the span the percentile covers.
const PERIOD: Duration = Duration::from_millis(500);

/// The process-wide load.
pub(crate) fn load() -> &'static Load {
    static LOAD: OnceLock<Load> = OnceLock::new();
    LOAD.get_or_init(Load::default)
}

/// Requests in flight and a latency histogram of two alternating halves.
pub(crate) struct Load {
    /// Whether any adaptive limit reads the load: until one does, requests are not counted.
    watched_any: std::sync::atomic::AtomicBool,
    in_flight: AtomicUsize,
    /// The half being filled (0 or 1); the watcher empties the other after reading it.
    current: AtomicUsize,
    halves: [[AtomicU64; BUCKETS]; 2],
    /// The adaptive limits being watched.
    watched: Mutex<Vec<Weak<Overload>>>,
}

impl Default for Load {
    fn default() -> Self {
        Load {
            watched_any: std::sync::atomic::AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            current: AtomicUsize::new(0),
            halves: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            watched: Mutex::new(Vec::new()),
        }
    }
}

/// A request being answered (`None` while no adaptive limit reads the load); dropping it
/// (answered or cancelled) counts it out.
pub(crate) struct InFlight {
    started: Option<Instant>,
}

impl Load {
    /// A request that started at `started` is being answered.
    pub(crate) fn enter(&'static self, started: Instant) -> InFlight {
        if !self.watched_any.load(Ordering::Relaxed) {
            return InFlight { started: None };
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            started: Some(started),
        }
    }

    fn leave(&self, latency: Duration) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let half = self.current.load(Ordering::Relaxed) & 1;
        self.halves[half][bucket(latency)].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests being answered now.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Switches halves and returns the 95th percentile of the half just closed (`None` when
    /// it saw no request), emptying it for its next turn.
    fn close_half(&self) -> Option<Duration> {
        let closed = self.current.fetch_xor(1, Ordering::Relaxed) & 1;
        let counts: Vec<u64> = self.halves[closed]
            .iter()
            .map(|count| count.swap(0, Ordering::Relaxed))
            .collect();
        p95(&counts)
    }

    /// Watches `overload` (until it is dropped), from one thread for the whole process.
    pub(crate) fn watch(&'static self, overload: &Arc<Overload>) {
        let mut watched = self
            .watched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        watched.push(Arc::downgrade(overload));
        self.watched_any.store(true, Ordering::Relaxed);
        static WATCHER: OnceLock<()> = OnceLock::new();
        WATCHER.get_or_init(|| {
            if let Err(error) =
                crate::serving::periodic::every("specjet-load-watch", PERIOD, || self.tick())
            {
                tracing::warn!(%error, "no load watcher thread: adaptive rate limits stay relaxed");
            }
        });
    }

    fn tick(&self) {
        let p95 = self.close_half();
        let in_flight = self.in_flight();
        let now = Instant::now();
        let mut watched = self
            .watched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        watched.retain(|overload| match overload.upgrade() {
            Some(overload) => {
                overload.observe(in_flight, p95, now);
                true
            }
            None => false,
        });
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(started) = self.started {
            load().leave(started.elapsed());
        }
    }
}

/// The bucket of a latency: ⌈4·log2(µs)⌉, bounded.
fn bucket(latency: Duration) -> usize {
    let micros = latency.as_micros().max(1) as f64;
    ((micros.log2() * 4.0).ceil() as usize).min(BUCKETS - 1)
}

/// The upper bound of bucket `index`.
fn bucket_bound(index: usize) -> Duration {
    Duration::from_secs_f64(2f64.powf(index as f64 / 4.0) / 1_000_000.0)
}

/// The 95th percentile of `counts` (by bucket), as its bucket's upper bound: at most 19%
/// above the true value, never below it.
fn p95(counts: &[u64]) -> Option<Duration> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = total - total / 20;
    let mut seen = 0;
    for (index, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return Some(bucket_bound(index));
        }
    }
    None
}

/// The state of one adaptive limit: whether the service counts as loaded for it.
#[derive(Debug)]
pub(crate) struct Overload {
    in_flight: Option<usize>,
    p95_above: Option<Duration>,
    hold: Duration,
    engaged: std::sync::atomic::AtomicBool,
    /// Since when every signal has been below its threshold, while engaged.
    calm_since: Mutex<Option<Instant>>,
    gauge: metrics::Gauge,
}

impl Overload {
    pub(crate) fn new(
        policy: &'static str,
        in_flight: Option<u32>,
        p95_above: Option<Duration>,
        hold: Duration,
    ) -> Overload {
        let gauge = metrics::gauge!("specjet_rate_limit_adaptive_engaged", "policy" => policy);
        gauge.set(0.0);
        Overload {
            in_flight: in_flight.map(|n| n as usize),
            p95_above,
            hold,
            engaged: std::sync::atomic::AtomicBool::new(false),
            calm_since: Mutex::new(None),
            gauge,
        }
    }

    /// Whether the tighter limit is in force.
    pub(crate) fn engaged(&self) -> bool {
        self.engaged.load(Ordering::Relaxed)
    }

    /// Engages at once when a signal is over its threshold; lifts once every signal has been
    /// below for `hold` (a service at its threshold does not flap between the two limits).
    fn observe(&self, in_flight: usize, p95: Option<Duration>, now: Instant) {
        let over = self.in_flight.is_some_and(|limit| in_flight >= limit)
            || matches!((self.p95_above, p95), (Some(limit), Some(p95)) if p95 > limit);
        let mut calm_since = self
            .calm_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if over {
            *calm_since = None;
            if !self.engaged.swap(true, Ordering::Relaxed) {
                self.gauge.set(1.0);
                tracing::info!(
                    in_flight,
                    ?p95,
                    "service loaded: adaptive rate limit engaged"
                );
            }
        } else if self.engaged() {
            let since = *calm_since.get_or_insert(now);
            if now.duration_since(since) >= self.hold {
                *calm_since = None;
                self.engaged.store(false, Ordering::Relaxed);
                self.gauge.set(0.0);
                tracing::info!("load back under the thresholds: adaptive rate limit lifted");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_percentile_is_never_below_the_true_value_and_close_above_it() {
        let mut counts = vec![0u64; BUCKETS];
        // 95 fast requests (1 ms) and 5 slow ones (300 ms): p95 is 1 ms.
        counts[bucket(Duration::from_millis(1))] += 95;
        counts[bucket(Duration::from_millis(300))] += 5;
        let p = p95(&counts).unwrap();
        assert!(
            p >= Duration::from_millis(1) && p < Duration::from_micros(1200),
            "{p:?}"
        );
        // 10 slow ones of 100: p95 is 300 ms.
        counts[bucket(Duration::from_millis(300))] += 5;
        let p = p95(&counts).unwrap();
        assert!(
            p >= Duration::from_millis(300) && p < Duration::from_millis(360),
            "{p:?}"
        );
        assert_eq!(p95(&[0; BUCKETS]), None);
    }

    #[test]
    fn engages_at_once_and_lifts_only_after_the_hold() {
        let overload = Overload::new(
            "test",
            Some(10),
            Some(Duration::from_millis(300)),
            Duration::from_secs(2),
        );
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        overload.observe(3, Some(Duration::from_millis(5)), at(0));
        assert!(!overload.engaged());
        overload.observe(10, None, at(500));
        assert!(overload.engaged(), "in flight at the threshold");
        overload.observe(2, Some(Duration::from_millis(5)), at(1000));
        overload.observe(2, Some(Duration::from_millis(5)), at(2500));
        assert!(overload.engaged(), "calm for 1.5 s of a 2 s hold");
        overload.observe(2, Some(Duration::from_millis(400)), at(3000));
        overload.observe(2, None, at(4500));
        assert!(overload.engaged(), "a slow half restarted the hold");
        overload.observe(2, None, at(6000));
        assert!(overload.engaged(), "calm for 1.5 s since the slow half");
        overload.observe(2, None, at(6500));
        assert!(!overload.engaged(), "calm for 2 s");
    }
}
