//! The end of a run: a table per operation (throughput, latency percentiles, answers by
//! status, calls without an answer) with each `x-slo` objective met or missed, and the same
//! as JSON for CI.

use serde_json::{json, Value};

use crate::drive::{Record, Seen};
use crate::plan::Target;

/// One objective of an operation, as measured.
#[derive(Debug)]
pub(crate) struct Verdict {
    /// `p95 <= 25ms`, `availability >= 99.9%`.
    pub(crate) objective: String,
    /// What the run measured (milliseconds, or a percentage).
    pub(crate) measured: f64,
    /// Whether it held.
    pub(crate) met: bool,
}

/// The objectives of `target` against what was seen of it (none when it was not called).
pub(crate) fn verdicts(target: &Target, seen: &Seen) -> Vec<Verdict> {
    let Some(slo) = &target.slo else {
        return Vec::new();
    };
    if seen.calls() == 0 {
        return Vec::new();
    }
    let mut verdicts: Vec<Verdict> = slo
        .latency
        .iter()
        .map(|objective| {
            let measured = millis(seen.latency.value_at_quantile(objective.percentile / 100.0));
            Verdict {
                objective: format!("{} <= {}ms", objective.name(), objective.threshold_ms),
                measured,
                met: measured <= objective.threshold_ms as f64,
            }
        })
        .collect();
    if let Some(availability) = slo.availability {
        let measured = available(seen);
        verdicts.push(Verdict {
            objective: format!("availability >= {availability}%"),
            measured,
            met: measured >= availability,
        });
    }
    verdicts
}

/// The share of calls answered without a server error, in percent.
fn available(seen: &Seen) -> f64 {
    let calls = seen.calls();
    let failed: u64 = seen
        .statuses
        .iter()
        .filter(|(status, _)| **status >= 500)
        .map(|(_, count)| count)
        .sum::<u64>()
        + seen.errors.values().sum::<u64>();
    if calls == 0 {
        return 100.0;
    }
    100.0 * (calls - failed) as f64 / calls as f64
}

fn millis(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// The table, one line per operation, then its objectives.
pub(crate) fn table(targets: &[Target], record: &Record) -> String {
    let seconds = record.measured.as_secs_f64().max(f64::MIN_POSITIVE);
    let mut out = format!(
        "{:<28} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}  answers\n",
        "operation", "calls", "per s", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for (target, seen) in targets.iter().zip(&record.seen) {
        let latency = &seen.latency;
        let mut answers: Vec<String> = seen
            .statuses
            .iter()
            .map(|(status, count)| format!("{status}: {count}"))
            .collect();
        answers.extend(
            seen.errors
                .iter()
                .map(|(why, count)| format!("{why}: {count}")),
        );
        out.push_str(&format!(
            "{:<28} {:>9} {:>9.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2}  {}\n",
            target.id,
            seen.calls(),
            seen.calls() as f64 / seconds,
            millis(latency.value_at_quantile(0.50)),
            millis(latency.value_at_quantile(0.95)),
            millis(latency.value_at_quantile(0.99)),
            millis(latency.max()),
            answers.join(", ")
        ));
        for verdict in verdicts(target, seen) {
            out.push_str(&format!(
                "{:<28}   {} {}: measured {:.2}\n",
                "",
                if verdict.met { "met   " } else { "MISSED" },
                verdict.objective,
                verdict.measured
            ));
        }
    }
    out
}

/// Whether every objective of every operation called was met.
pub(crate) fn all_met(targets: &[Target], record: &Record) -> bool {
    targets
        .iter()
        .zip(&record.seen)
        .all(|(target, seen)| verdicts(target, seen).iter().all(|verdict| verdict.met))
}

/// The report as JSON.
pub(crate) fn json(targets: &[Target], record: &Record) -> Value {
    let seconds = record.measured.as_secs_f64().max(f64::MIN_POSITIVE);
    let operations: Vec<Value> = targets
        .iter()
        .zip(&record.seen)
        .map(|(target, seen)| {
            let latency = &seen.latency;
            json!({
                "operation": target.id,
                "calls": seen.calls(),
                "per_second": seen.calls() as f64 / seconds,
                "latency_ms": {
                    "p50": millis(latency.value_at_quantile(0.50)),
                    "p95": millis(latency.value_at_quantile(0.95)),
                    "p99": millis(latency.value_at_quantile(0.99)),
                    "max": millis(latency.max()),
                },
                "statuses": seen.statuses.iter().map(|(s, c)| (s.to_string(), json!(c))).collect::<serde_json::Map<_, _>>(),
                "errors": seen.errors,
                "objectives": verdicts(target, seen).iter().map(|v| json!({
                    "objective": v.objective,
                    "measured": v.measured,
                    "met": v.met,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "seconds": seconds,
        "met": all_met(targets, record),
        "operations": operations,
    })
}
