//! What the spec's objectives (`x-slo`) and the service's metrics become for the people who
//! run it: a Grafana dashboard ([`dashboard()`]) and Prometheus alerting rules ([`alerts()`]),
//! both read from the [`Api`] and naming only metrics the runtime exports.

mod alerts;
mod dashboard;

pub use alerts::{alert_rules, alerts};
pub use dashboard::dashboard;

use crate::ir::{Api, Operation};

/// Requests by operation, method and status class.
const REQUESTS: &str = "specjet_http_requests_total";
/// The latency histogram, by operation (its `_bucket` and `_count` series).
const DURATION: &str = "specjet_http_request_duration_seconds";
/// Requests being answered, by operation.
const IN_FLIGHT: &str = "specjet_http_requests_in_flight";
/// Response body sizes (of known length), by operation.
const RESPONSE_SIZE: &str = "specjet_http_response_size_bytes";
/// Cache lookups by operation, tier and result.
const CACHE: &str = "specjet_cache_requests_total";
/// Rate-limit decisions by operation and result.
const RATE_LIMIT: &str = "specjet_rate_limit_requests_total";
/// Database connections by state (`idle`, `in_use`).
const DB_CONNECTIONS: &str = "specjet_db_connections";
/// Requests waiting for a database connection.
const DB_WAITING: &str = "specjet_db_waiting";

/// A PromQL label matcher selecting `operations` of `api` by their `operation` label: all of
/// them (but not `unknown`), one, or an alternation.
fn operation_matcher(api: &Api, operations: &[&Operation]) -> String {
    if operations.len() == api.operations.len() && api.operations.len() > 1 {
        return r#"operation!="unknown""#.to_owned();
    }
    match operations {
        [one] => format!("operation=\"{}\"", promql_string(&one.id)),
        many => {
            let alternation: Vec<String> = many.iter().map(|op| regex_escape(&op.id)).collect();
            format!("operation=~\"{}\"", promql_string(&alternation.join("|")))
        }
    }
}

/// The body of a double-quoted PromQL string holding `text`.
fn promql_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `text` matched literally by an RE2 regular expression.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A threshold in seconds as the exporter writes it in the `le` label (`0.2`, `1`).
fn le_label(seconds: f64) -> String {
    format!("{seconds}")
}

/// A name made of lower-case letters, digits and `-` (an RFC 1123 label but for its length),
/// for Grafana uids, rule group names and Kubernetes objects.
pub(crate) fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        "api".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_for_promql_and_re2() {
        assert_eq!(promql_string(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(regex_escape("GET /pets/{id}"), r"GET /pets/\{id\}");
        assert_eq!(le_label(0.2), "0.2");
        assert_eq!(le_label(1.0), "1");
        assert_eq!(slug("Swagger Petstore (v1)"), "swagger-petstore-v1");
        assert_eq!(slug("!!"), "api");
    }
}
