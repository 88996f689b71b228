//! `specjet dashboard`: a Grafana dashboard (JSON model, schema version 39) of the service.
//!
//! An overview row (traffic, server errors and latency of the whole service, requests in
//! flight, response sizes, and the database pool when the spec declares one), then a row per operation, or per
//! tag when the spec has more operations than a page can show: request rate by status class,
//! the server-error ratio, p50/p95/p99 latency with each objective as a threshold line, and,
//! where the operation has them, its cache hit ratio and its refusals by rate limit. Every
//! query names a metric the runtime exports; the data source is a variable.

use serde_json::{json, Value};

use super::{
    le_label, operation_matcher, slug, CACHE, DB_CONNECTIONS, DB_WAITING, DURATION, IN_FLIGHT,
    RATE_LIMIT, REQUESTS, RESPONSE_SIZE,
};
use crate::ir::{Api, Operation};

/// Beyond this many operations, rows are per tag rather than per operation.
const ROWS_PER_OPERATION_UP_TO: usize = 40;

/// The Grafana dashboard of `api`.
pub fn dashboard(api: &Api) -> Value {
    let mut layout = Layout::default();
    layout.row("Service");
    let everything: Vec<&Operation> = api.operations.iter().collect();
    let all = operation_matcher(api, &everything);
    layout.panel(timeseries(
        "Requests by operation",
        "reqps",
        vec![target(
            &format!("sum by (operation) (rate({REQUESTS}[$__rate_interval]))"),
            "{{operation}}",
        )],
    ));
    layout.panel(timeseries(
        "Server errors (5xx share)",
        "percentunit",
        vec![target(
            &format!("sum(rate({REQUESTS}{{status=\"5xx\"}}[$__rate_interval])) / sum(rate({REQUESTS}[$__rate_interval]))"),
            "5xx",
        )],
    ));
    layout.panel(timeseries(
        "Latency of every operation",
        "s",
        quantiles(&all, true),
    ));
    layout.panel(timeseries(
        "Requests in flight",
        "short",
        vec![target(
            &format!("sum by (operation) ({IN_FLIGHT})"),
            "{{operation}}",
        )],
    ));
    layout.panel(timeseries(
        "Response size (p95, bodies of known length)",
        "bytes",
        vec![target(
            &format!("histogram_quantile(0.95, sum by (operation, le) (rate({RESPONSE_SIZE}_bucket[$__rate_interval])))"),
            "{{operation}}",
        )],
    ));
    if api.settings.database.is_some() {
        layout.panel(timeseries(
            "Database pool saturation",
            "percentunit",
            vec![target(
                &format!("sum({DB_CONNECTIONS}{{state=\"in_use\"}}) / sum({DB_CONNECTIONS})"),
                "connections in use",
            )],
        ));
        layout.panel(timeseries(
            "Requests waiting for a connection",
            "short",
            vec![target(&format!("sum({DB_WAITING})"), "waiting")],
        ));
    }
    for (title, operations) in groups(api) {
        layout.row(&title);
        operation_panels(api, &operations, &mut layout);
    }
    json!({
        "title": format!("{} (specjet)", api.title),
        "uid": uid(&api.title),
        "description": format!("Requests, errors, latency and objectives of every operation of {} {}, from its OpenAPI document.", api.title, api.version),
        "tags": ["specjet"],
        "timezone": "browser",
        "editable": true,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "templating": {"list": [{
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "refresh": 1,
            "hide": 0,
            "current": {},
        }]},
        "panels": layout.panels,
    })
}

/// A Grafana uid: at most 40 characters.
fn uid(title: &str) -> String {
    let mut uid = format!("specjet-{}", slug(title));
    uid.truncate(40);
    uid.trim_end_matches('-').to_owned()
}

/// The rows below the overview: one per operation, or per tag for large specs (an
/// operation under its first tag; one without tags under the first segment of its path that
/// is not a version, `/v1/charges/{id}` under `/charges`).
fn groups(api: &Api) -> Vec<(String, Vec<&Operation>)> {
    if api.operations.len() <= ROWS_PER_OPERATION_UP_TO {
        return api
            .operations
            .iter()
            .map(|op| {
                (
                    format!(
                        "{} {} ({})",
                        op.method.as_str().to_uppercase(),
                        op.path,
                        op.id
                    ),
                    vec![op],
                )
            })
            .collect();
    }
    let mut groups: Vec<(String, Vec<&Operation>)> = Vec::new();
    for op in &api.operations {
        let group = match op.tags.first() {
            Some(tag) => tag.clone(),
            None => path_group(&op.path),
        };
        match groups.iter_mut().find(|(name, _)| *name == group) {
            Some((_, operations)) => operations.push(op),
            None => groups.push((group, vec![op])),
        }
    }
    groups
}

/// `/charges` for `/v1/charges/{id}`: the first segment that is neither a version (`v1`,
/// `v2beta`) nor `api`, nor a parameter.
fn path_group(path: &str) -> String {
    let is_version = |segment: &str| {
        segment
            .strip_prefix(['v', 'V'])
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    };
    path.split('/')
        .find(|segment| {
            !segment.is_empty()
                && !is_version(segment)
                && !segment.eq_ignore_ascii_case("api")
                && !segment.starts_with('{')
        })
        .map_or_else(|| "/".to_owned(), |segment| format!("/{segment}"))
}

#[cfg(test)]
mod tests {
    use super::path_group;

    #[test]
    fn untagged_operations_are_grouped_by_their_first_meaningful_segment() {
        assert_eq!(path_group("/v1/charges/{charge}/refunds"), "/charges");
        assert_eq!(path_group("/api/v2beta/users"), "/users");
        assert_eq!(path_group("/{tenant}/orders"), "/orders");
        assert_eq!(path_group("/videos"), "/videos");
        assert_eq!(path_group("/"), "/");
        assert_eq!(path_group("/v1"), "/");
    }
}

/// The panels of one row: traffic, errors, latency, and the cache and rate limit where the
/// operations have them.
fn operation_panels(api: &Api, operations: &[&Operation], layout: &mut Layout) {
    let matcher = operation_matcher(api, operations);
    let by = if operations.len() > 1 {
        "operation, status"
    } else {
        "status"
    };
    let legend = if operations.len() > 1 {
        "{{operation}} {{status}}"
    } else {
        "{{status}}"
    };
    layout.panel(timeseries(
        "Requests by status",
        "reqps",
        vec![target(
            &format!("sum by ({by}) (rate({REQUESTS}{{{matcher}}}[$__rate_interval]))"),
            legend,
        )],
    ));
    let availability = operations
        .iter()
        .filter_map(|op| op.slo.as_ref()?.availability)
        .reduce(f64::max);
    let mut errors = timeseries(
        "Server errors (5xx share)",
        "percentunit",
        vec![target(
            &format!("sum(rate({REQUESTS}{{{matcher},status=\"5xx\"}}[$__rate_interval])) / sum(rate({REQUESTS}{{{matcher}}}[$__rate_interval]))"),
            "5xx",
        )],
    );
    if let Some(target) = availability {
        threshold_lines(&mut errors, &[1.0 - target / 100.0]);
    }
    layout.panel(errors);
    let mut latency = timeseries("Latency", "s", quantiles(&matcher, false));
    let thresholds: Vec<f64> = operations
        .iter()
        .filter_map(|op| op.slo.as_ref())
        .flat_map(|slo| {
            slo.latency
                .iter()
                .map(|objective| objective.threshold_seconds())
        })
        .collect();
    if !thresholds.is_empty() {
        threshold_lines(&mut latency, &thresholds);
        // The share within each threshold, exact because each is a bucket boundary.
        let shares = dedup(thresholds)
            .into_iter()
            .map(|seconds| {
                let le = le_label(seconds);
                target(
                    &format!("sum(rate({DURATION}_bucket{{{matcher},le=\"{le}\"}}[$__rate_interval])) / sum(rate({DURATION}_count{{{matcher}}}[$__rate_interval]))"),
                    &format!("within {le}s"),
                )
            })
            .collect();
        layout.panel(latency);
        layout.panel(timeseries(
            "Requests within the objective",
            "percentunit",
            shares,
        ));
    } else {
        layout.panel(latency);
    }
    if operations.iter().any(|op| op.policies.cache.is_some()) {
        layout.panel(timeseries(
            "Cache hit ratio",
            "percentunit",
            vec![target(
                &format!("sum(rate({CACHE}{{{matcher},result=~\"hit|stale|not_modified\"}}[$__rate_interval])) / sum(rate({CACHE}{{{matcher}}}[$__rate_interval]))"),
                "hits",
            )],
        ));
    }
    if operations.iter().any(|op| op.policies.rate_limit.is_some()) {
        layout.panel(timeseries(
            "Refused by rate limit (429)",
            "reqps",
            vec![target(
                &format!(
                    "sum(rate({RATE_LIMIT}{{{matcher},result=\"limited\"}}[$__rate_interval]))"
                ),
                "429",
            )],
        ));
    }
}

/// p50, p95 and p99 of the operations `matcher` selects (by operation when `by_operation`).
fn quantiles(matcher: &str, by_operation: bool) -> Vec<Value> {
    let (by, suffix) = if by_operation {
        ("operation, le", " {{operation}}")
    } else {
        ("le", "")
    };
    [0.5, 0.95, 0.99]
        .into_iter()
        .map(|quantile| {
            target(
                &format!("histogram_quantile({quantile}, sum by ({by}) (rate({DURATION}_bucket{{{matcher}}}[$__rate_interval])))"),
                &format!("p{}{suffix}", quantile * 100.0),
            )
        })
        .collect()
}

fn dedup(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values.dedup();
    values
}

fn target(expr: &str, legend: &str) -> Value {
    json!({
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "expr": expr,
        "legendFormat": legend,
        "range": true,
    })
}

fn timeseries(title: &str, unit: &str, targets: Vec<Value>) -> Value {
    json!({
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "min": 0,
                "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "thresholdsStyle": {"mode": "off"}},
                "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": null}]},
            },
            "overrides": [],
        },
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": true}, "tooltip": {"mode": "multi", "sort": "none"}},
        "targets": targets,
    })
}

/// Draws each of `values` as a red threshold line on `panel`.
fn threshold_lines(panel: &mut Value, values: &[f64]) {
    let defaults = &mut panel["fieldConfig"]["defaults"];
    defaults["custom"]["thresholdsStyle"] = json!({"mode": "line"});
    let mut steps = vec![json!({"color": "green", "value": null})];
    steps.extend(
        dedup(values.to_vec())
            .into_iter()
            .map(|value| json!({"color": "red", "value": value})),
    );
    defaults["thresholds"]["steps"] = Value::Array(steps);
}

/// Panels placed left to right, three to a line, under row headers; ids and grid positions
/// assigned in order.
#[derive(Default)]
struct Layout {
    panels: Vec<Value>,
    /// The next free line of the grid.
    y: u64,
    /// Panels placed in the current line.
    in_line: u64,
}

impl Layout {
    const WIDTH: u64 = 8;
    const HEIGHT: u64 = 8;

    fn next_id(&self) -> usize {
        self.panels.len() + 1
    }

    fn row(&mut self, title: &str) {
        self.end_line();
        let id = self.next_id();
        self.panels.push(json!({
            "type": "row",
            "id": id,
            "title": title,
            "collapsed": false,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
            "panels": [],
        }));
        self.y += 1;
    }

    fn panel(&mut self, mut panel: Value) {
        if self.in_line == 24 / Self::WIDTH {
            self.end_line();
        }
        panel["id"] = json!(self.next_id());
        panel["gridPos"] = json!({"h": Self::HEIGHT, "w": Self::WIDTH, "x": self.in_line * Self::WIDTH, "y": self.y});
        self.in_line += 1;
        self.panels.push(panel);
    }

    fn end_line(&mut self) {
        if self.in_line > 0 {
            self.y += Self::HEIGHT;
            self.in_line = 0;
        }
    }
}
