//! The rate-limit and compression annotations: root `x-specjet.rate-limit` and
//! `x-specjet.compression`, and per operation `x-rate-limit` and `x-compress` (the
//! operation's beats its path item's, which beats the document root's).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{
    is_header_name, parse_duration, parse_size, positive_duration, Annotations, Vocabulary,
};
use crate::diag::Severity;
use crate::ir::{
    AdaptiveLimit, CompressionSettings, Method, OnBackendError, RateKey, RateLimitBackend,
    RateLimitPolicy, RateLimitSettings, RateWindow,
};
use crate::load::Location;

/// Parses a rate: `100/s`, `100/min`, `1000/h`, `100/10m`.
pub(super) fn parse_rate(text: &str) -> Result<RateWindow, String> {
    let text = text.trim();
    let hint = "write a rate such as `100/s`, `100/min`, `1000/h` or `100/10m`";
    let (limit, period) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a rate; {hint}"))?;
    let limit = parse_limit(limit.trim())?;
    let period = period.trim();
    // `/min` is one minute; `/10m` ten.
    let period_text = if period.starts_with(|c: char| c.is_ascii_digit()) {
        period.to_owned()
    } else {
        format!("1{period}")
    };
    let period_ms = parse_duration(&Value::String(period_text))
        .map_err(|_| format!("`{period}` in `{text}` is not a period; {hint}"))?;
    window(limit, period_ms, limit)
}

fn parse_limit(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(0) => Err("a limit must be at least 1".to_owned()),
        Ok(limit) => Ok(limit),
        Err(_) => Err(format!(
            "`{text}` is not a limit (a whole number of requests)"
        )),
    }
}

fn window(limit: u32, period_ms: u64, burst: u32) -> Result<RateWindow, String> {
    if period_ms == 0 {
        return Err("a period must be longer than zero".to_owned());
    }
    Ok(RateWindow {
        limit,
        period: Duration::from_millis(period_ms),
        burst,
    })
}

/// Parses a key source, or a list of them (a composite key): `ip`, `principal`, `global`,
/// `header:<Name>`, `path:<param>`, `query:<param>`.
pub(super) fn parse_key(value: &Value) -> Result<Vec<RateKey>, String> {
    let one = |text: &str| -> Result<RateKey, String> {
        let text = text.trim();
        match text.split_once(':') {
            None => match text {
                "ip" => Ok(RateKey::Ip),
                "principal" => Ok(RateKey::Principal),
                "global" => Ok(RateKey::Global),
                other => Err(format!("unknown key source `{other}`; use `ip`, `principal`, `global`, `header:<Name>`, `path:<param>` or `query:<param>`")),
            },
            Some((kind, name)) => {
                let name = name.trim();
                if name.is_empty() {
                    return Err(format!("`{text}` names no {kind}"));
                }
                match kind.trim() {
                    "header" if is_header_name(name) => {
                        Ok(RateKey::Header(name.to_ascii_lowercase()))
                    }
                    "header" => Err(format!("`{name}` is not a header name")),
                    "path" => Ok(RateKey::Path(name.to_owned())),
                    "query" => Ok(RateKey::Query(name.to_owned())),
                    other => Err(format!("unknown key source `{other}:`; use `header:`, `path:` or `query:`")),
                }
            }
        }
    };
    match value {
        Value::String(text) => Ok(vec![one(text)?]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Value::String(text) => one(text),
                other => Err(format!("expected a key source such as `ip`, found {other}")),
            })
            .collect(),
        _ => Err(
            "`key` is a key source (`ip`, `principal`, `header:X-Api-Key`, ...) or a list of them"
                .to_owned(),
        ),
    }
}

/// The facts about an operation that its annotations are checked against.
#[derive(Debug)]
pub(crate) struct OperationFacts<'a> {
    pub(crate) id: &'a str,
    pub(crate) method: Method,
    pub(crate) path_params: &'a [String],
    pub(crate) query_params: &'a [String],
}

impl<'a> Annotations<'a> {
    pub(super) fn rate_limit_settings(
        &mut self,
        location: &Location,
        value: &Value,
    ) -> (RateLimitSettings, BTreeMap<String, RateLimitPolicy>) {
        let mut settings = RateLimitSettings::default();
        let mut named = BTreeMap::new();
        let Value::Object(map) = value else {
            self.report(Severity::Error, location, "`rate-limit` must be an object");
            return (settings, named);
        };
        // Named policies first: a policy may be defined after the keys that mention it.
        if let Some(policies) = map.get("policies") {
            let at = location.child("policies");
            match policies {
                Value::Object(policies) => {
                    for (name, value) in policies {
                        if let Some(policy) =
                            self.vocab
                                .parse_rate_limit(&at.child(name), value, name, false)
                        {
                            named.insert(name.clone(), policy.clone());
                            self.vocab.policies.insert(name.clone(), policy);
                        }
                    }
                }
                _ => self.report(Severity::Error, &at, "`policies` maps names to rate limits"),
            }
        }
        for (key, value) in map {
            let at = location.child(key);
            let result: Result<(), String> = match key.as_str() {
                "policies" => Ok(()),
                "backend" => match value.as_str() {
                    Some("memory") => {
                        settings.backend = RateLimitBackend::Memory;
                        Ok(())
                    }
                    Some("redis") => {
                        settings.backend = RateLimitBackend::Redis;
                        Ok(())
                    }
                    _ => Err("`backend` must be `memory` or `redis`".to_owned()),
                },
                "on-backend-error" => match value.as_str() {
                    Some("local") => {
                        settings.on_backend_error = OnBackendError::Local;
                        Ok(())
                    }
                    Some("allow") => {
                        settings.on_backend_error = OnBackendError::Allow;
                        Ok(())
                    }
                    Some("deny") => {
                        settings.on_backend_error = OnBackendError::Deny;
                        Ok(())
                    }
                    _ => Err("`on-backend-error` must be `local`, `allow` or `deny`".to_owned()),
                },
                "trusted-proxies" => match value.as_array() {
                    Some(items) => {
                        items
                            .iter()
                            .try_for_each(|item| match item.as_str().map(str::trim) {
                                Some(text) if is_ip_or_range(text) => {
                                    settings.trusted_proxies.push(text.to_owned());
                                    Ok(())
                                }
                                _ => Err(format!(
                                    "`{}` is not an IP address or CIDR range (e.g. `10.0.0.0/8`)",
                                    item.as_str()
                                        .map_or_else(|| item.to_string(), str::to_owned)
                                )),
                            })
                    }
                    None => {
                        Err("`trusted-proxies` is a list of addresses or CIDR ranges".to_owned())
                    }
                },
                "client-ip-header" => match value.as_str() {
                    Some(name) if is_header_name(name) => {
                        settings.client_ip_header = Some(name.to_ascii_lowercase());
                        Ok(())
                    }
                    _ => Err(
                        "`client-ip-header` must be a header name such as `X-Forwarded-For`"
                            .to_owned(),
                    ),
                },
                "streams-per-caller" => match value.as_u64().map(u32::try_from) {
                    Some(Ok(count)) if count > 0 => {
                        settings.streams_per_caller = Some(count);
                        Ok(())
                    }
                    _ => Err(
                        "`streams-per-caller` is a whole number of streams, at least 1".to_owned(),
                    ),
                },
                other => Err(format!("unknown key `{other}` in `x-specjet.rate-limit`")),
            };
            if let Err(message) = result {
                self.report(Severity::Error, &at, message);
            }
        }
        (settings, named)
    }

    pub(super) fn compression_settings(
        &mut self,
        location: &Location,
        value: &Value,
    ) -> CompressionSettings {
        let mut settings = CompressionSettings::default();
        let map = match value {
            Value::Bool(false) => return CompressionSettings::off(),
            Value::Bool(true) => return settings,
            Value::Object(map) => map,
            _ => {
                self.report(
                    Severity::Error,
                    location,
                    "`compression` must be an object (or `false` to turn it off)",
                );
                return settings;
            }
        };
        for (key, value) in map {
            let at = location.child(key);
            let result: Result<(), String> = match key.as_str() {
                "algorithms" => match value.as_array() {
                    Some(items) => {
                        settings.br = false;
                        settings.zstd = false;
                        settings.gzip = false;
                        items.iter().try_for_each(|item| match item.as_str() {
                            Some("br") => {
                                settings.br = true;
                                Ok(())
                            }
                            Some("zstd") => {
                                settings.zstd = true;
                                Ok(())
                            }
                            Some("gzip") => {
                                settings.gzip = true;
                                Ok(())
                            }
                            _ => Err(format!(
                                "unknown algorithm {item}; use `br`, `zstd` or `gzip`"
                            )),
                        })
                    }
                    None => Err("`algorithms` is a list of `br`, `zstd` and `gzip`".to_owned()),
                },
                "min-size" => parse_size(value).and_then(|bytes| {
                    settings.min_size = u16::try_from(bytes)
                        .map_err(|_| "`min-size` must be below 64KiB".to_owned())?;
                    Ok(())
                }),
                "max-request-size" => parse_size(value).and_then(|bytes| {
                    settings.max_request_size = usize::try_from(bytes)
                        .ok()
                        .filter(|bytes| *bytes > 0)
                        .ok_or_else(|| "`max-request-size` must be above zero".to_owned())?;
                    Ok(())
                }),
                other => Err(format!("unknown key `{other}` in `x-specjet.compression`")),
            };
            if let Err(message) = result {
                self.report(Severity::Error, &at, message);
            }
        }
        settings
    }

    /// A concern's annotations on the document root, the path item and the operation, in
    /// that order (the last one found wins).
    pub(super) fn at_every_level(
        &mut self,
        name: &str,
        item: (&Location, &Value),
        own: (&Location, &Value),
    ) -> Vec<(Location, Value)> {
        let root_location = Location {
            doc: 0,
            pointer: String::new(),
        };
        // Borrowed from the spec, not from `self`: no copy of the document per operation.
        let spec: &'a crate::load::Spec = self.spec;
        [(&root_location, spec.root()), item, own]
            .into_iter()
            .filter_map(|(owner, object)| self.concern(owner, object, name))
            .collect()
    }
}

impl Vocabulary {
    /// An operation's rate limit (`x-rate-limit`, `#[rate_limit]`): a rate, a list of them, an
    /// object, or `false` for none; checked against the operation's parameters.
    pub(crate) fn rate_limit(
        &mut self,
        operation: &OperationFacts<'_>,
        location: &Location,
        value: &Value,
    ) -> Option<RateLimitPolicy> {
        if *value == Value::Bool(false) {
            return None;
        }
        let policy = self.parse_rate_limit(location, value, operation.id, true)?;
        let key_location = match value.get("key") {
            Some(_) => location.child("key"),
            None => location.clone(),
        };
        self.check_key_sources(&key_location, &policy, operation);
        Some(policy)
    }

    /// `x-compress` (`#[no_compress]` is `false`): `true` or `false`.
    pub(crate) fn compress(&mut self, location: &Location, value: &Value) -> Option<bool> {
        match value {
            Value::Bool(on) => Some(*on),
            _ => {
                self.report(
                    Severity::Error,
                    location,
                    "`x-compress` is `true` or `false`",
                );
                None
            }
        }
    }

    /// Path and query key sources must name parameters the operation has.
    fn check_key_sources(
        &mut self,
        location: &Location,
        policy: &RateLimitPolicy,
        operation: &OperationFacts<'_>,
    ) {
        for key in &policy.key {
            match key {
                RateKey::Path(name) if !operation.path_params.contains(name) => self.report(
                    Severity::Error,
                    location,
                    format!(
                        "the rate limit of `{}` is keyed by path parameter `{name}`, which its path does not have",
                        operation.id
                    ),
                ),
                RateKey::Query(name) if !operation.query_params.contains(name) => self.report(
                    Severity::Warning,
                    location,
                    format!(
                        "the rate limit of `{}` is keyed by query parameter `{name}`, which it does not declare",
                        operation.id
                    ),
                ),
                _ => {}
            }
        }
    }

    /// One rate limit: `100/min`, a list of windows, or an object (`limit`/`per`/`burst`,
    /// `rate` (with `burst` when it is one rate), or `windows`; `key`, `cost`; `use` for a
    /// named policy).
    pub(crate) fn parse_rate_limit(
        &mut self,
        location: &Location,
        value: &Value,
        name: &str,
        may_use: bool,
    ) -> Option<RateLimitPolicy> {
        let mut policy = RateLimitPolicy::named(name, Vec::new());
        match value {
            Value::String(text) => match parse_rate(text) {
                Ok(window) => {
                    policy.windows.push(window);
                    return Some(policy);
                }
                Err(message) => {
                    self.report(Severity::Error, location, message);
                    return None;
                }
            },
            Value::Array(_) => {
                policy.windows = self.windows(location, value)?;
                return Some(policy);
            }
            Value::Object(_) => {}
            _ => {
                self.report(
                    Severity::Error,
                    location,
                    "expected a rate (`100/min`), a list of rates, or an object with `limit` and `per`",
                );
                return None;
            }
        }
        let Value::Object(map) = value else {
            return None;
        };
        if let Some(used) = map.get("use") {
            return self.use_policy(location, map, used, may_use);
        }
        let mut ok = true;
        let mut limit = None;
        let mut per = None;
        let mut burst = None;
        let mut rated: Option<Vec<RateWindow>> = None;
        for (key, value) in map {
            let at = location.child(key);
            let result: Result<(), String> = match key.as_str() {
                "limit" => match value.as_u64().map(|n| parse_limit(&n.to_string())) {
                    Some(Ok(n)) => {
                        limit = Some(n);
                        Ok(())
                    }
                    Some(Err(message)) => Err(message),
                    None => Err("`limit` is a whole number of requests".to_owned()),
                },
                "per" => parse_duration(value).map(|ms| per = Some(ms)),
                "burst" => count(value, "burst").map(|n| burst = Some(n)),
                "rate" => parse_rates(value).map(|windows| rated = Some(windows)),
                "windows" => match self.windows(&at, value) {
                    Some(windows) => {
                        policy.windows = windows;
                        Ok(())
                    }
                    None => {
                        ok = false;
                        Ok(())
                    }
                },
                "key" => parse_key(value).map(|key| policy.key = key),
                "cost" => count(value, "cost").map(|n| policy.cost = n),
                "adaptive" => {
                    match self.adaptive(&at, value) {
                        Some(adaptive) => policy.adaptive = Some(adaptive),
                        None => ok = false,
                    }
                    Ok(())
                }
                other => Err(format!("unknown key `{other}` in a rate limit")),
            };
            if let Err(message) = result {
                self.report(Severity::Error, &at, message);
                ok = false;
            }
        }
        ok &= self.gather_windows(location, &mut policy, (limit, per, burst), rated);
        if ok && policy.windows.is_empty() {
            self.report(
                Severity::Error,
                location,
                "a rate limit needs `limit` and `per`, `rate`, `windows`, or `use`",
            );
            ok = false;
        }
        if let Err(message) = check_cost(&policy) {
            self.report(Severity::Error, &location.child("cost"), message);
            ok = false;
        }
        ok.then_some(policy)
    }

    /// Every window of an object's rate limit in `policy`: `limit` per `per` (bursts of
    /// `burst`) first, then `windows` (already there), then the `rated` ones (`burst` applies
    /// to a single one). Whether all of them were whole.
    fn gather_windows(
        &mut self,
        location: &Location,
        policy: &mut RateLimitPolicy,
        (limit, per, mut burst): (Option<u32>, Option<u64>, Option<u32>),
        rated: Option<Vec<RateWindow>>,
    ) -> bool {
        let mut ok = true;
        if let Some(mut windows) = rated {
            if let Some(burst) = burst.take() {
                match windows.as_mut_slice() {
                    [window] => window.burst = burst,
                    _ => {
                        self.report(
                            Severity::Error,
                            &location.child("burst"),
                            "`burst` applies to a single rate",
                        );
                        ok = false;
                    }
                }
            }
            policy.windows.extend(windows);
        }
        match (limit, per) {
            (Some(limit), Some(per)) => match window(limit, per, burst.unwrap_or(limit)) {
                Ok(window) => policy.windows.insert(0, window),
                Err(message) => {
                    self.report(Severity::Error, &location.child("per"), message);
                    ok = false;
                }
            },
            (None, None) if burst.is_none() => {}
            _ => {
                self.report(
                    Severity::Error,
                    location,
                    "a rate limit needs both `limit` and `per` (e.g. `limit: 100`, `per: 1m`)",
                );
                ok = false;
            }
        }
        ok
    }

    /// `adaptive`: `limit` (a rate or a list of them), `when` (`in-flight` and/or
    /// `p95-above`), `hold` (a duration).
    fn adaptive(&mut self, location: &Location, value: &Value) -> Option<AdaptiveLimit> {
        let Value::Object(map) = value else {
            self.report(
                Severity::Error,
                location,
                "`adaptive` is an object such as `{limit: 20/s, when: {in-flight: 200}}`",
            );
            return None;
        };
        let mut adaptive = AdaptiveLimit {
            windows: Vec::new(),
            in_flight: None,
            p95_above: None,
            hold: specjet_model::rate_limit::DEFAULT_ADAPTIVE_HOLD,
        };
        let mut ok = true;
        for (key, value) in map {
            let at = location.child(key);
            let result = match key.as_str() {
                "limit" => match value {
                    Value::String(text) => {
                        parse_rate(text).map(|window| adaptive.windows = vec![window])
                    }
                    Value::Array(_) => match self.windows(&at, value) {
                        Some(windows) => {
                            adaptive.windows = windows;
                            Ok(())
                        }
                        None => {
                            ok = false;
                            Ok(())
                        }
                    },
                    other => Err(format!(
                        "`limit` is a rate such as `20/s`, or a list of them; found {other}"
                    )),
                },
                "when" => self.overload_signals(&at, value, &mut adaptive),
                "hold" => {
                    positive_duration(value).map(|ms| adaptive.hold = Duration::from_millis(ms))
                }
                other => Err(format!(
                    "unknown key `{other}` in `adaptive` (known: `limit`, `when`, `hold`)"
                )),
            };
            if let Err(message) = result {
                self.report(Severity::Error, &at, message);
                ok = false;
            }
        }
        if adaptive.windows.is_empty() && ok {
            self.report(Severity::Error, location, "`adaptive` needs the `limit` in force while the service is loaded (e.g. `limit: 20/s`)");
            ok = false;
        }
        if adaptive.in_flight.is_none() && adaptive.p95_above.is_none() && ok {
            self.report(Severity::Error, location, "`adaptive` needs `when`: `in-flight` (requests at once) and/or `p95-above` (a latency)");
            ok = false;
        }
        ok.then_some(adaptive)
    }

    /// `when: {in-flight: 200, p95-above: 300ms}`.
    fn overload_signals(
        &mut self,
        location: &Location,
        value: &Value,
        adaptive: &mut AdaptiveLimit,
    ) -> Result<(), String> {
        let Value::Object(map) = value else {
            return Err(
                "`when` is an object such as `{in-flight: 200, p95-above: 300ms}`".to_owned(),
            );
        };
        for (key, value) in map {
            let at = location.child(key);
            let result = match key.as_str() {
                "in-flight" => match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
                    Some(n) if n > 0 => {
                        adaptive.in_flight = Some(n);
                        Ok(())
                    }
                    _ => Err("`in-flight` is a whole number of requests above zero".to_owned()),
                },
                "p95-above" => positive_duration(value)
                    .map(|ms| adaptive.p95_above = Some(Duration::from_millis(ms))),
                other => Err(format!(
                    "unknown signal `{other}` in `when` (known: `in-flight`, `p95-above`)"
                )),
            };
            if let Err(message) = result {
                self.report(Severity::Error, &at, message);
            }
        }
        Ok(())
    }

    /// `use: standard` (with an optional `cost`): a named root policy and its shared budget.
    fn use_policy(
        &mut self,
        location: &Location,
        map: &serde_json::Map<String, Value>,
        used: &Value,
        may_use: bool,
    ) -> Option<RateLimitPolicy> {
        let at = location.child("use");
        if !may_use {
            self.report(Severity::Error, &at, "a named policy cannot `use` another");
            return None;
        }
        let Some(name) = used.as_str() else {
            self.report(
                Severity::Error,
                &at,
                "`use` names a policy of `x-specjet.rate-limit.policies`",
            );
            return None;
        };
        let Some(mut policy) = self.policies.get(name).cloned() else {
            let known: Vec<&str> = self.policies.keys().map(String::as_str).collect();
            let known = if known.is_empty() {
                "none is defined".to_owned()
            } else {
                format!("known: {}", known.join(", "))
            };
            self.report(
                Severity::Error,
                &at,
                format!(
                    "no rate-limit policy `{name}` in `x-specjet.rate-limit.policies` ({known})"
                ),
            );
            return None;
        };
        for (key, value) in map {
            match key.as_str() {
                "use" => {}
                "cost" => {
                    let checked = count(value, "cost").and_then(|cost| {
                        let priced = RateLimitPolicy {
                            cost,
                            ..policy.clone()
                        };
                        check_cost(&priced).map(|()| cost)
                    });
                    match checked {
                        Ok(cost) => policy.cost = cost,
                        Err(message) => self.report(Severity::Error, &location.child(key), message),
                    }
                }
                other => self.report(
                    Severity::Error,
                    &location.child(key),
                    format!("`{other}` cannot be set beside `use` (only `cost` can); change the policy itself"),
                ),
            }
        }
        Some(policy)
    }

    /// A list of windows: rates, or objects with `limit`, `per` and `burst`.
    fn windows(&mut self, location: &Location, value: &Value) -> Option<Vec<RateWindow>> {
        let Value::Array(items) = value else {
            self.report(Severity::Error, location, "expected a list of rates");
            return None;
        };
        if items.is_empty() {
            self.report(Severity::Error, location, "the list of rates is empty");
            return None;
        }
        let mut windows = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let at = location.child(&index.to_string());
            let parsed = match item {
                Value::String(text) => parse_rate(text),
                Value::Object(map) => {
                    let limit = map
                        .get("limit")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| "a window needs a whole-number `limit`".to_owned())
                        .and_then(|n| parse_limit(&n.to_string()));
                    let per = map
                        .get("per")
                        .ok_or_else(|| "a window needs `per`".to_owned())
                        .and_then(parse_duration);
                    let unknown = map
                        .keys()
                        .find(|k| !["limit", "per", "burst"].contains(&k.as_str()));
                    match (limit, per, unknown) {
                        (_, _, Some(key)) => Err(format!("unknown key `{key}` in a window (`key` and `cost` go beside `windows`)")),
                        (Ok(limit), Ok(per), None) => {
                            let burst = map.get("burst").map_or(Ok(limit), |b| count(b, "burst"));
                            burst.and_then(|burst| window(limit, per, burst))
                        }
                        (Err(message), _, None) | (_, Err(message), None) => Err(message),
                    }
                }
                other => Err(format!("expected a rate such as `100/min`, found {other}")),
            };
            match parsed {
                Ok(window) => windows.push(window),
                Err(message) => {
                    self.report(Severity::Error, &at, message);
                    return None;
                }
            }
        }
        Some(windows)
    }
}

/// A whole number of at least 1 (a burst, a cost).
fn count(value: &Value, what: &str) -> Result<u32, String> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{what}` is a whole number, at least 1"))
}

/// `rate`: a rate such as `100/min`, or a list of them.
fn parse_rates(value: &Value) -> Result<Vec<RateWindow>, String> {
    let rates = match value {
        Value::Array(items) if !items.is_empty() => items.as_slice(),
        Value::String(_) => std::slice::from_ref(value),
        _ => return Err("`rate` is a rate such as `100/min`, or a list of them".to_owned()),
    };
    rates
        .iter()
        .map(|rate| match rate {
            Value::String(text) => parse_rate(text),
            other => Err(format!("expected a rate such as `100/min`, found {other}")),
        })
        .collect()
}

/// A call costing more than a window's burst could never pass.
pub(super) fn check_cost(policy: &RateLimitPolicy) -> Result<(), String> {
    match policy.windows.iter().find(|w| w.burst < policy.cost) {
        Some(window) => Err(format!(
            "a call costs {} units but the burst is {}: it could never pass",
            policy.cost, window.burst
        )),
        None => Ok(()),
    }
}

fn is_ip_or_range(text: &str) -> bool {
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let Ok(address) = address.parse::<std::net::IpAddr>() else {
        return false;
    };
    let longest = if address.is_ipv4() { 32 } else { 128 };
    prefix.is_none_or(|prefix| prefix.parse::<u8>().is_ok_and(|bits| bits <= longest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rates() {
        let rate = |text| parse_rate(text).map(|w| (w.limit, w.period.as_millis() as u64, w.burst));
        assert_eq!(rate("100/s"), Ok((100, 1_000, 100)));
        assert_eq!(rate("100/min"), Ok((100, 60_000, 100)));
        assert_eq!(rate("1000/h"), Ok((1000, 3_600_000, 1000)));
        assert_eq!(rate("100/10m"), Ok((100, 600_000, 100)));
        assert_eq!(rate(" 5 / d "), Ok((5, 86_400_000, 5)));
        assert!(rate("0/s").unwrap_err().contains("at least 1"));
        assert!(rate("100").unwrap_err().contains("`100/s`"));
        assert!(rate("100/fortnight").unwrap_err().contains("not a period"));
        assert!(rate("lots/s").is_err());
        assert!(rate("100/0s").is_err());
    }

    #[test]
    fn keys() {
        assert_eq!(parse_key(&json!("ip")), Ok(vec![RateKey::Ip]));
        assert_eq!(
            parse_key(&json!([
                "principal",
                "header:X-Api-Key",
                "path:id",
                "query:q"
            ])),
            Ok(vec![
                RateKey::Principal,
                RateKey::Header("x-api-key".to_owned()),
                RateKey::Path("id".to_owned()),
                RateKey::Query("q".to_owned()),
            ])
        );
        assert!(parse_key(&json!("user")).is_err());
        assert!(parse_key(&json!("header:")).is_err());
        assert!(parse_key(&json!("cookie:sid")).is_err());
        assert!(parse_key(&json!([])).is_err());
    }

    #[test]
    fn proxies() {
        assert!(is_ip_or_range("10.0.0.0/8"));
        assert!(is_ip_or_range("192.0.2.1"));
        assert!(is_ip_or_range("2001:db8::/32"));
        assert!(!is_ip_or_range("10.0.0.0/33"));
        assert!(!is_ip_or_range("localhost"));
    }
}
