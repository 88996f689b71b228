//! The parts of an answer's `Server-Timing` besides its total, gathered in the request's task
//! while it is answered: the handler's own time, the time it waited for database connections,
//! and, for a composite, the time of each of its parts. The observability layer opens the
//! scope ([`scope`]) and writes the header ([`Parts::header`]); the cache's outcome is read
//! from the answer's `Cache-Status`.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

tokio::task_local! {
    static PARTS: Arc<Parts>;
}

/// What one request's answer spent its time on.
#[derive(Debug, Default)]
pub(crate) struct Parts {
    /// In the operation's handler (zero for an answer that never reached it), in µs.
    handler_us: AtomicU64,
    /// Waiting for database connections, in µs.
    db_wait_us: AtomicU64,
    /// A composite's parts: (field, the part's total).
    composite: Mutex<Vec<(&'static str, Duration)>>,
}

/// Runs `answer` with `parts` gathering what it spends its time on.
pub(crate) fn scope<F: Future>(parts: Arc<Parts>, answer: F) -> impl Future<Output = F::Output> {
    PARTS.scope(parts, answer)
}

/// Counts a wait for a database connection in the current request.
#[cfg_attr(not(feature = "database"), allow(dead_code))]
pub(crate) fn add_db_wait(wait: Duration) {
    let _ = PARTS.try_with(|parts| parts.db_wait_us.fetch_add(micros(wait), Ordering::Relaxed));
}

/// Records the time a composite's part took (its own `Server-Timing` total).
pub(crate) fn add_part(field: &'static str, headers: &http::HeaderMap) {
    let Some(total) = total_of(headers) else {
        return;
    };
    let _ = PARTS.try_with(|parts| {
        parts
            .composite
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((field, total));
    });
}

/// Runs an operation's handler, counting its time in the current request.
pub async fn handler<F: Future>(handler: F) -> F::Output {
    let started = Instant::now();
    let output = handler.await;
    let _ = PARTS.try_with(|parts| {
        parts
            .handler_us
            .fetch_add(micros(started.elapsed()), Ordering::Relaxed)
    });
    output
}

impl Parts {
    /// `handler;dur=…, db;dur=…, part-<field>;dur=…, cache;desc=…, total;dur=…`: the parts
    /// that happened, the total last.
    pub(crate) fn header(&self, total: Duration, cache: Option<&str>) -> String {
        let mut text = String::with_capacity(96);
        let handler = self.handler_us.load(Ordering::Relaxed);
        if handler > 0 {
            push_metric(&mut text, "handler", "", handler);
        }
        let db = self.db_wait_us.load(Ordering::Relaxed);
        if db > 0 {
            push_metric(&mut text, "db", "", db);
        }
        for (field, took) in self
            .composite
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            push_metric(&mut text, "part-", &token(field), micros(*took));
        }
        if let Some(desc) = cache {
            text.push_str("cache;desc=\"");
            text.push_str(desc);
            text.push_str("\", ");
        }
        push_metric(&mut text, "total", "", micros(total));
        text.truncate(text.len() - 2);
        text
    }
}

/// `<name><suffix>;dur=<ms>.<three decimals>, ` (formatted by hand: this is on every answer,
/// and `format!` took a visible share of the layer's time).
fn push_metric(text: &mut String, name: &str, suffix: &str, us: u64) {
    let mut digits = itoa::Buffer::new();
    text.push_str(name);
    text.push_str(suffix);
    text.push_str(";dur=");
    text.push_str(digits.format(us / 1000));
    text.push('.');
    let fraction = us % 1000;
    if fraction < 100 {
        text.push('0');
    }
    if fraction < 10 {
        text.push('0');
    }
    text.push_str(digits.format(fraction));
    text.push_str(", ");
}

/// The `total;dur=` of an answer's `Server-Timing`.
fn total_of(headers: &http::HeaderMap) -> Option<Duration> {
    let timing = headers.get("server-timing")?.to_str().ok()?;
    let ms: f64 = timing
        .split(',')
        .find_map(|metric| metric.trim().strip_prefix("total;dur="))?
        .parse()
        .ok()?;
    Duration::try_from_secs_f64(ms / 1000.0).ok()
}

/// A Server-Timing metric name (an RFC 9110 token) from a field name.
fn token(field: &str) -> String {
    field
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parts_are_gathered_in_the_request_task_and_written_before_the_total() {
        let parts = Arc::new(Parts::default());
        scope(parts.clone(), async {
            handler(tokio::time::sleep(Duration::from_millis(2))).await;
            add_db_wait(Duration::from_micros(1_500));
            let mut part = http::HeaderMap::new();
            part.insert(
                "server-timing",
                "handler;dur=1.000, total;dur=3.250".parse().unwrap(),
            );
            add_part("recent orders", &part);
        })
        .await;
        let header = parts.header(Duration::from_micros(4_000), Some("hit memory"));
        let handler_ms: f64 = header
            .strip_prefix("handler;dur=")
            .and_then(|rest| rest.split(',').next())
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_default();
        assert!(handler_ms >= 2.0, "{header}");
        assert!(
            header.ends_with(
                "db;dur=1.500, part-recent_orders;dur=3.250, cache;desc=\"hit memory\", total;dur=4.000"
            ),
            "{header}"
        );
        // Outside a request nothing is gathered, and nothing fails.
        add_db_wait(Duration::from_millis(1));
        assert_eq!(
            Parts::default().header(Duration::from_micros(1), None),
            "total;dur=0.001"
        );
    }
}
