//! What an operation promises (`x-slo`): latency objectives by percentile and an
//! availability, on the document root, a path item or an operation. Each key is taken from
//! the nearest level that sets it (`x-slo: false` drops what the levels above set), so a root
//! `availability` and an operation's `p95` make one objective. And how much of a load test
//! that checks them the operation gets (`x-load`).

use serde_json::Value;

use super::{positive_duration, Annotations};
use crate::diag::Severity;
use crate::ir::{LatencyObjective, Slo};
use crate::load::Location;

impl Annotations<'_> {
    /// The operation's objectives, or `None` when no level sets one.
    pub(crate) fn slo(
        &mut self,
        item: (&Location, &Value),
        own: (&Location, &Value),
    ) -> Option<Slo> {
        let mut slo = Slo::default();
        for (location, value) in self.at_every_level("slo", item, own) {
            match value {
                Value::Bool(false) => slo = Slo::default(),
                Value::Object(map) => {
                    for (key, value) in &map {
                        self.slo_key(&location.child(key), key, value, &mut slo);
                    }
                }
                _ => self.report(
                    Severity::Error,
                    &location,
                    "`x-slo` is an object such as `{p95: 200ms, availability: 99.9%}`, or `false`",
                ),
            }
        }
        (!slo.latency.is_empty() || slo.availability.is_some()).then_some(slo)
    }

    /// `x-load: {weight: N}` on an operation: its share of a load test's mix (`specjet-load`);
    /// `x-load: false` is a weight of 0 (never called).
    pub(crate) fn load_weight(&mut self, owner: &Location, operation: &Value) -> Option<u32> {
        let (location, value) = self.concern(owner, operation, "load")?;
        if value == Value::Bool(false) {
            return Some(0);
        }
        let weight = value.get("weight").and_then(Value::as_u64);
        let only_weight = value.as_object().is_some_and(|map| map.len() == 1);
        match weight.and_then(|weight| u32::try_from(weight).ok()) {
            Some(weight) if only_weight => Some(weight),
            _ => {
                self.report(
                    Severity::Error,
                    &location,
                    "`x-load` is `{weight: N}` (a whole number: the operation's share of a load test's mix) or `false`",
                );
                None
            }
        }
    }

    fn slo_key(&mut self, at: &Location, key: &str, value: &Value, slo: &mut Slo) {
        if key == "availability" {
            match percentage(value) {
                Ok(share) => slo.availability = Some(share),
                Err(message) => self.report(Severity::Error, at, message),
            }
            return;
        }
        let Some(percentile) = percentile(key) else {
            self.report(
                Severity::Error,
                at,
                format!("unknown key `{key}` in `x-slo`: a percentile (`p50`, `p95`, `p99.9`) or `availability`"),
            );
            return;
        };
        match positive_duration(value) {
            Ok(threshold_ms) => {
                slo.latency
                    .retain(|objective| objective.percentile != percentile);
                slo.latency.push(LatencyObjective {
                    percentile,
                    threshold_ms,
                });
                slo.latency
                    .sort_by(|a, b| a.percentile.total_cmp(&b.percentile));
            }
            Err(message) => self.report(Severity::Error, at, message),
        }
    }
}

/// `p95` as 95, `p99.9` as 99.9: a percentile strictly between 0 and 100.
fn percentile(key: &str) -> Option<f64> {
    let number = key.strip_prefix('p')?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    number
        .parse::<f64>()
        .ok()
        .filter(|p| *p > 0.0 && *p < 100.0)
}

/// `99.9%` (or the number 99.9): a share of requests, strictly between 0 and 100 (at 100 no
/// error is allowed, and no burn rate can be measured).
fn percentage(value: &Value) -> Result<f64, String> {
    let share = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(text) => text
            .trim()
            .strip_suffix('%')
            .and_then(|number| number.trim().parse::<f64>().ok()),
        _ => None,
    }
    .ok_or_else(|| format!("`availability` is a percentage such as `99.9%`, found {value}"))?;
    if share >= 100.0 {
        return Err(
            "an availability of 100% leaves no error budget to alert on; write e.g. `99.99%`"
                .to_owned(),
        );
    }
    if share <= 0.0 || !share.is_finite() {
        return Err(format!(
            "`availability` is a percentage above 0 and below 100, found {value}"
        ));
    }
    Ok(share)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn percentiles_and_percentages() {
        assert_eq!(percentile("p95"), Some(95.0));
        assert_eq!(percentile("p99.9"), Some(99.9));
        assert_eq!(percentile("p100"), None);
        assert_eq!(percentile("p0"), None);
        assert_eq!(percentile("p"), None);
        assert_eq!(percentile("p-5"), None);
        assert_eq!(percentile("latency"), None);
        assert_eq!(percentage(&json!("99.9%")), Ok(99.9));
        assert_eq!(percentage(&json!(99.5)), Ok(99.5));
        assert!(percentage(&json!("100%"))
            .unwrap_err()
            .contains("no error budget"));
        assert!(percentage(&json!("99.9")).is_err());
        assert!(percentage(&json!("-1%")).is_err());
    }
}
