//! `specjet alerts`: Prometheus rules that alert when an operation spends its error budget too
//! fast, by the multi-window, multi-burn-rate method (Google's SRE workbook, chapter 5): a page
//! when 2% of a 30-day budget goes in an hour (or 5% in six), a ticket when 10% goes in a day
//! (or all of it in three), each confirmed over a short window so an alert stops soon after
//! the problem does.
//!
//! The ratios are recorded once per window for every operation (`by (operation)`); each
//! objective adds one alert per severity over the operations that share it, so a document-wide
//! `x-slo` is two alerts, not two per operation.

use std::collections::BTreeMap;

use serde_json::json;

use super::{le_label, operation_matcher, slug, DURATION, REQUESTS};
use crate::ir::{Api, Operation};

/// The windows the ratios are recorded over, and what Prometheus calls them.
const WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// One alert of the method: a burn rate over a long and a short window, for two pairs.
struct Burn {
    severity: &'static str,
    /// (long window, short window, burn rate).
    pairs: [(&'static str, &'static str, f64); 2],
    /// How long the condition holds before the alert fires.
    hold: &'static str,
}

const BURNS: [Burn; 2] = [
    Burn {
        severity: "page",
        pairs: [("1h", "5m", 14.4), ("6h", "30m", 6.0)],
        hold: "2m",
    },
    Burn {
        severity: "ticket",
        pairs: [("1d", "2h", 3.0), ("3d", "6h", 1.0)],
        hold: "15m",
    },
];

/// What an objective measures: the share of requests that are bad, recorded per window.
#[derive(Clone, PartialEq, PartialOrd)]
enum Objective {
    /// `availability: 99.9%`: answers with a server error (5xx) are bad.
    Availability { target: f64 },
    /// `p95: 200ms`: answers slower than the threshold are bad.
    Latency { percentile: f64, threshold_ms: u64 },
}

impl Objective {
    /// The share of requests allowed to be bad.
    fn budget(&self) -> f64 {
        match self {
            Objective::Availability { target } => 1.0 - target / 100.0,
            Objective::Latency { percentile, .. } => 1.0 - percentile / 100.0,
        }
    }

    /// The recorded ratio of bad requests over `window`, for `matcher`.
    fn ratio(&self, matcher: &str, window: &str) -> String {
        match self {
            Objective::Availability { .. } => {
                format!("specjet:slo_errors:ratio_rate{window}{{{matcher}}}")
            }
            Objective::Latency { threshold_ms, .. } => format!(
                "specjet:slo_latency_over:ratio_rate{window}{{{matcher},threshold=\"{}\"}}",
                le_label(*threshold_ms as f64 / 1000.0)
            ),
        }
    }

    fn alert_name(&self) -> String {
        match self {
            Objective::Availability { .. } => "SpecjetAvailabilityBudgetBurn".to_owned(),
            Objective::Latency { percentile, .. } => format!(
                "SpecjetLatencyP{}BudgetBurn",
                format!("{percentile}").replace('.', "_")
            ),
        }
    }

    fn describe(&self) -> String {
        match self {
            Objective::Availability { target } => format!("availability {target}%"),
            Objective::Latency {
                percentile,
                threshold_ms,
            } => format!("p{percentile} within {threshold_ms}ms"),
        }
    }
}

/// Every objective of `api`, with the operations that have it.
fn objectives(api: &Api) -> Vec<(Objective, Vec<&Operation>)> {
    let mut found: Vec<(Objective, Vec<&Operation>)> = Vec::new();
    for op in &api.operations {
        let Some(slo) = &op.slo else { continue };
        let own = slo
            .availability
            .map(|target| Objective::Availability { target })
            .into_iter()
            .chain(slo.latency.iter().map(|objective| Objective::Latency {
                percentile: objective.percentile,
                threshold_ms: objective.threshold_ms,
            }));
        for objective in own {
            match found.iter_mut().find(|(known, _)| *known == objective) {
                Some((_, operations)) => operations.push(op),
                None => found.push((objective, vec![op])),
            }
        }
    }
    found
}

/// The rules file (YAML): one group of recording rules and one of alerts; `None` when no
/// operation has an objective.
pub fn alerts(api: &Api) -> Option<String> {
    let objectives = objectives(api);
    if objectives.is_empty() {
        return None;
    }
    let mut records = Vec::new();
    for window in WINDOWS {
        records.push(json!({
            "record": format!("specjet:slo_errors:ratio_rate{window}"),
            "expr": format!(
                "sum by (operation) (rate({REQUESTS}{{status=\"5xx\"}}[{window}]))\n/\nsum by (operation) (rate({REQUESTS}[{window}]))"
            ),
        }));
    }
    let thresholds: BTreeMap<u64, ()> = objectives
        .iter()
        .filter_map(|(objective, _)| match objective {
            Objective::Latency { threshold_ms, .. } => Some((*threshold_ms, ())),
            Objective::Availability { .. } => None,
        })
        .collect();
    for threshold_ms in thresholds.keys() {
        let le = le_label(*threshold_ms as f64 / 1000.0);
        for window in WINDOWS {
            records.push(json!({
                "record": format!("specjet:slo_latency_over:ratio_rate{window}"),
                "expr": format!(
                    "1 - (\n  sum by (operation) (rate({DURATION}_bucket{{le=\"{le}\"}}[{window}]))\n  /\n  sum by (operation) (rate({DURATION}_count[{window}]))\n)"
                ),
                "labels": {"threshold": le},
            }));
        }
    }
    let mut alerts = Vec::new();
    for (objective, operations) in &objectives {
        let matcher = operation_matcher(api, operations);
        let budget = objective.budget();
        for burn in &BURNS {
            let conditions: Vec<String> = burn
                .pairs
                .iter()
                .map(|(long, short, rate)| {
                    let limit = round(rate * budget, 9);
                    format!(
                        "(\n  {} > {limit}\n  and\n  {} > {limit}\n)",
                        objective.ratio(&matcher, long),
                        objective.ratio(&matcher, short)
                    )
                })
                .collect();
            let (long, _, rate) = burn.pairs[0];
            alerts.push(json!({
                "alert": objective.alert_name(),
                "expr": conditions.join("\nor\n"),
                "for": burn.hold,
                "labels": {"severity": burn.severity, "slo": objective.describe()},
                "annotations": {
                    "summary": format!("{{{{ $labels.operation }}}} is spending its error budget ({}) too fast", objective.describe()),
                    "description": format!(
                        "At this rate the 30-day budget of {} bad requests in every 100 is gone in under {} days (burn rate above {rate} over {long}).",
                        round(budget * 100.0, 4),
                        round(30.0 / rate, 2)
                    ),
                },
            }));
        }
    }
    let name = slug(&api.title);
    let rules = json!({
        "groups": [
            {"name": format!("{name}-slo-ratios"), "rules": records},
            {"name": format!("{name}-slo-alerts"), "rules": alerts},
        ]
    });
    let header = format!(
        "# Prometheus rules for {}: burn-rate alerts on its `x-slo` objectives.\n# Generated by specjet; regenerate with `specjet alerts` when the spec changes.\n",
        api.title.replace('\n', " ")
    );
    serde_norway::to_string(&rules)
        .ok()
        .map(|yaml| header + &yaml)
}

/// `value` with at most `decimals` decimals, as text (no `0.0010000000000000009`).
fn round(value: f64, decimals: i32) -> String {
    let scale = 10f64.powi(decimals);
    format!("{}", (value * scale).round() / scale)
}
