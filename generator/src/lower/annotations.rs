//! specjet's `x-` annotations: the service-wide `x-specjet` root key and the per-operation
//! caching keys (rate limits and compression are in [`limits`]).
//!
//! `x-specjet-<concern>` is always read, strictly. The short names (`x-cache`, `x-cache-ttl`,
//! `x-cache-invalidates`) are read only in documents that opt in with a root `x-specjet` key:
//! real specs use unprefixed `x-` names of their own, which must neither be misread nor
//! rejected. In an opted-in document a bad value or an unknown key is an error with its
//! location.

mod batch;
mod connections;
mod contract;
mod fan_out;
mod limits;
pub(crate) mod registry;
mod security;
mod serving;
mod slo;

use std::collections::BTreeMap;

use serde_json::Value;
use std::time::Duration;

pub(crate) use fan_out::FanOutAnnotation;
pub(crate) use limits::OperationFacts;

use crate::diag::{Diagnostics, Severity};
use crate::ir::{
    CacheBackend, CachePolicy, CacheScope, CacheSettings, Method, Policies, RateLimitPolicy,
    ServiceSettings, TagTemplate,
};
use crate::load::{Location, Spec};
use specjet_model::tag::TagPiece;

/// The one parser of every per-operation annotation value (`x-cache`, `x-rate-limit`,
/// `x-compress`): the spec loader hands it what it finds in the document, the attribute
/// macros hand it their arguments in the same shape, so both accept and reject alike, with
/// the same messages.
#[derive(Debug)]
pub(crate) struct Vocabulary {
    /// The problems found, located by JSON pointer (for attributes, relative to the
    /// attribute: `/ttl` is its `ttl` argument).
    pub(crate) diags: Diagnostics,
    /// The file name of each document, for the diagnostics.
    doc_names: Vec<String>,
    /// The named rate-limit policies of `x-specjet.rate-limit.policies`.
    pub(crate) policies: BTreeMap<String, RateLimitPolicy>,
}

impl Vocabulary {
    pub(crate) fn new(doc_names: Vec<String>, policies: BTreeMap<String, RateLimitPolicy>) -> Self {
        Vocabulary {
            diags: Diagnostics::default(),
            doc_names,
            policies,
        }
    }

    fn report(&mut self, severity: Severity, location: &Location, message: impl Into<String>) {
        let file = self
            .doc_names
            .get(location.doc)
            .map_or("", String::as_str)
            .to_owned();
        self.diags.push(severity, &file, &location.pointer, message);
    }
}

/// `30s` as (30, "s"); `None` without a leading number.
fn number_and_unit(text: &str) -> Option<(u64, &str)> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    Some((number.parse().ok()?, unit.trim()))
}

/// Parses `500ms`, `30s`, `10m`, `1h`, `1d` into milliseconds (the syntax of
/// `specjet_model::duration`, which the runtime reads the environment with).
pub(crate) fn parse_duration(value: &Value) -> Result<u64, String> {
    let text = match value {
        Value::String(text) => text,
        Value::Number(n) => {
            return Err(format!(
                "`{n}` has no unit; write a duration such as `{n}s` or `{n}ms`"
            ))
        }
        other => return Err(format!("expected a duration such as `30s`, found {other}")),
    };
    let duration = specjet_model::duration::parse(text)?;
    u64::try_from(duration.as_millis()).map_err(|_| format!("`{text}` is too long a duration"))
}

/// A duration above zero (`500ms`, `30s`), in milliseconds.
pub(crate) fn positive_duration(value: &Value) -> Result<u64, String> {
    match parse_duration(value)? {
        0 => Err("the duration must be above zero".to_owned()),
        ms => Ok(ms),
    }
}

/// Parses `1KiB`, `4MiB`, `1GiB` (also `kB`, `MB`, `GB`, `B`) into bytes.
pub(crate) fn parse_size(value: &Value) -> Result<u64, String> {
    let Value::String(text) = value else {
        return Err(format!("expected a size such as `64MiB`, found {value}"));
    };
    let text = text.trim();
    let (number, unit) = number_and_unit(text)
        .ok_or_else(|| format!("`{text}` is not a size; write e.g. `64MiB`"))?;
    let factor: u64 = match unit {
        "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "" => return Err(format!("`{text}` has no unit; write e.g. `{text}MiB`")),
        other => {
            return Err(format!(
                "unknown size unit `{other}`; use B, KiB, MiB or GiB"
            ))
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Finds annotations in the document (at the right level, under the right name) and reports
/// their problems; their values are parsed by the [`Vocabulary`].
pub(crate) struct Annotations<'a> {
    spec: &'a Spec,
    pub(crate) opted_in: bool,
    pub(crate) vocab: Vocabulary,
}

/// Root `x-specjet` concerns that are part of the vocabulary but not implemented yet.
const PLANNED_CONCERNS: &[&str] = &["redis"];

impl<'a> Annotations<'a> {
    pub(crate) fn new(spec: &'a Spec) -> Self {
        let doc_names = (0..spec.docs.len())
            .map(|doc| spec.doc_name(doc).to_owned())
            .collect();
        Annotations {
            spec,
            opted_in: spec.root().get("x-specjet").is_some(),
            vocab: Vocabulary::new(doc_names, BTreeMap::new()),
        }
    }

    fn report(&mut self, severity: Severity, location: &Location, message: impl Into<String>) {
        self.vocab.report(severity, location, message);
    }

    /// The root `x-specjet` settings of the API titled `title`.
    pub(crate) fn service_settings(&mut self, title: &str) -> ServiceSettings {
        let mut settings = ServiceSettings {
            opted_in: self.opted_in,
            ..ServiceSettings::default()
        };
        settings.cache.key_prefix = default_key_prefix(title);
        let root = Location {
            doc: 0,
            pointer: "/x-specjet".to_owned(),
        };
        // Checked whether or not `x-specjet.base-path` overrides it.
        let served_under = self.servers_base_path();
        settings.base_path = served_under.clone();
        let Some(value) = self.spec.get(&root).cloned() else {
            return settings;
        };
        let Value::Object(map) = value else {
            if !value.is_null() {
                self.report(
                    Severity::Error,
                    &root,
                    "`x-specjet` must be an object (or `{}` to opt in)",
                );
            }
            return settings;
        };
        // The cache's key prefix first: the defaults of the connections are named after it.
        if let Some(cache) = map.get("cache") {
            self.cache_settings(&root.child("cache"), cache, &mut settings.cache);
        }
        let prefix = settings.cache.key_prefix.clone();
        let mut base_path = None;
        for (key, value) in &map {
            let location = root.child(key);
            match key.as_str() {
                "cache" => {}
                "rate-limit" => {
                    (settings.rate_limit, settings.rate_limit_policies) =
                        self.rate_limit_settings(&location, value)
                }
                "compression" => settings.compression = self.compression_settings(&location, value),
                "max-in-flight" => match value.as_u64().filter(|n| *n > 0) {
                    Some(limit) => settings.max_in_flight = Some(limit),
                    None => self.report(
                        Severity::Error,
                        &location,
                        "`max-in-flight` is a whole number of requests, at least 1",
                    ),
                },
                "database" => {
                    settings.database = Some(self.database_settings(&location, value, &prefix))
                }
                "batch" => settings.batch = self.batch_settings(&location, value),
                "http-client" => {
                    settings.http_client =
                        Some(self.http_client_settings(&location, value, &prefix))
                }
                "base-path" => base_path = self.base_path(&location, value),
                "docs" => settings.docs = self.docs_settings(&location, value),
                "cors" => settings.cors = Some(self.cors_settings(&location, value)),
                "validation" => settings.validation = self.validation_settings(&location, value),
                "types" => settings.types = self.type_settings(&location, value),
                "client" => match value.as_bool() {
                    Some(client) => settings.client = client,
                    None => {
                        self.report(Severity::Error, &location, "`client` is `true` or `false`")
                    }
                },
                "server" => settings.server = self.server_settings(&location, value),
                "security" => settings.security = self.security_settings(&location, value),
                concern if PLANNED_CONCERNS.contains(&concern) => self.report(
                    Severity::Warning,
                    &location,
                    format!("`{concern}` is not implemented yet; it is ignored"),
                ),
                other => self.report(
                    Severity::Error,
                    &location,
                    format!("unknown key `{other}` in `x-specjet`"),
                ),
            }
        }
        settings.base_path = base_path.unwrap_or(served_under);
        // One prefix for every Redis key of the service.
        settings.rate_limit.key_prefix = settings.cache.key_prefix.clone();
        settings
    }

    /// Reads `x-specjet.cache` over `settings`.
    fn cache_settings(&mut self, location: &Location, value: &Value, settings: &mut CacheSettings) {
        let Value::Object(map) = value else {
            self.report(Severity::Error, location, "`cache` must be an object");
            return;
        };
        for (key, value) in map {
            let at = location.child(key);
            match key.as_str() {
                "backend" => match value.as_str() {
                    Some("memory") => settings.backend = CacheBackend::Memory,
                    Some("redis") => settings.backend = CacheBackend::Redis,
                    Some("tiered") => settings.backend = CacheBackend::Tiered,
                    _ => self.report(
                        Severity::Error,
                        &at,
                        "`backend` must be `memory`, `redis` or `tiered`",
                    ),
                },
                "capacity" => match parse_size(value) {
                    Ok(bytes) => settings.capacity_bytes = bytes,
                    Err(message) => self.report(Severity::Error, &at, message),
                },
                "key-prefix" => match value.as_str() {
                    Some(prefix) if !prefix.is_empty() => settings.key_prefix = prefix.to_owned(),
                    _ => self.report(
                        Severity::Error,
                        &at,
                        "`key-prefix` must be a non-empty string",
                    ),
                },
                other => self.report(
                    Severity::Error,
                    &at,
                    format!("unknown key `{other}` in `x-specjet.cache`"),
                ),
            }
        }
    }

    /// The value of a concern on an object: `x-specjet-<name>`, or the short `x-<name>` in
    /// opted-in documents (in others the short name is ignored with a warning).
    fn concern(
        &mut self,
        owner: &Location,
        object: &Value,
        name: &str,
    ) -> Option<(Location, Value)> {
        debug_assert!(
            registry::by_name(name).is_some(),
            "`{name}` is missing from the registry"
        );
        let long = format!("x-specjet-{name}");
        if let Some(value) = object.get(&long) {
            return Some((owner.child(&long), value.clone()));
        }
        let short = format!("x-{name}");
        let value = object.get(&short)?;
        if self.opted_in {
            Some((owner.child(&short), value.clone()))
        } else {
            self.report(
                Severity::Warning,
                &owner.child(&short),
                format!("`{short}` is read only in documents with a root `x-specjet` key (or write `{long}`); it is ignored"),
            );
            None
        }
    }

    /// Every policy of an operation, from its annotations (invalidation targets are resolved
    /// once every operation is known): for each annotation of the registry that is a policy,
    /// the most specific one written (the operation's, its path item's, the document's) is
    /// parsed.
    pub(crate) fn policies(
        &mut self,
        operation: &OperationFacts<'_>,
        item: (&Location, &Value),
        own: (&Location, &Value),
    ) -> Policies {
        let mut policies = Policies::default();
        let root_location = Location {
            doc: 0,
            pointer: String::new(),
        };
        // Borrowed from the spec, not from `self`: no copy of the document per operation.
        let spec: &'a Spec = self.spec;
        for annotation in registry::ANNOTATIONS {
            let Some(parse) = annotation.parse else {
                continue;
            };
            let mut found = None;
            for level in annotation.levels {
                let (owner, object) = match level {
                    registry::Level::Root => (&root_location, spec.root()),
                    registry::Level::PathItem => item,
                    registry::Level::Operation => own,
                };
                for name in annotation.alias.into_iter().chain([annotation.name]) {
                    if let Some(value) = self.concern(owner, object, name) {
                        found = Some(value);
                    }
                }
            }
            if let Some((location, value)) = found {
                let on_operation = location.pointer.starts_with(&own.0.pointer);
                parse(
                    &mut self.vocab,
                    operation,
                    on_operation,
                    &location,
                    &value,
                    &mut policies,
                );
            }
        }
        policies
    }

    /// The operation ids an operation invalidates (checked against the API later), and the
    /// tag templates it drops: a list of operationIds, or `{operations: [...], tags: [...]}`.
    pub(crate) fn invalidates(
        &mut self,
        facts: &OperationFacts<'_>,
        operation: (&Location, &Value),
    ) -> (Vec<(Location, String)>, Vec<TagTemplate>) {
        let Some((location, value)) = self.concern(operation.0, operation.1, "cache-invalidates")
        else {
            return (Vec::new(), Vec::new());
        };
        if matches!(
            facts.method,
            Method::Get | Method::Head | Method::Options | Method::Trace
        ) {
            self.report(Severity::Error, &location, "only operations that change state (POST, PUT, PATCH, DELETE) invalidate cached entries");
            return (Vec::new(), Vec::new());
        }
        let (location, value, tags) = match &value {
            Value::Object(map) => {
                let mut tags = Vec::new();
                for key in map.keys() {
                    if key != "operations" && key != "tags" {
                        let message = format!(
                            "unknown key `{key}` in `x-cache-invalidates`: `operations` and `tags`"
                        );
                        self.report(Severity::Error, &location.child(key), message);
                    }
                }
                if let Some(templates) = map.get("tags") {
                    let at = location.child("tags");
                    tags = self
                        .vocab
                        .tags(facts, &at, templates, TagValues::PathAndAnswer)
                        .unwrap_or_default();
                }
                let operations = map
                    .get("operations")
                    .cloned()
                    .unwrap_or(Value::Array(Vec::new()));
                (location.child("operations"), operations, tags)
            }
            _ => (location, value, Vec::new()),
        };
        let ids = match &value {
            Value::String(id) => vec![(location.clone(), id.clone())],
            Value::Array(ids) => ids
                .iter()
                .enumerate()
                .filter_map(|(index, id)| match id.as_str() {
                    Some(id) => Some((location.child(&index.to_string()), id.to_owned())),
                    None => {
                        self.report(
                            Severity::Error,
                            &location.child(&index.to_string()),
                            "expected an operationId",
                        );
                        None
                    }
                })
                .collect(),
            _ => {
                self.report(
                    Severity::Error,
                    &location,
                    "expected a list of operationIds, or `{operations: [...], tags: [...]}`",
                );
                Vec::new()
            }
        };
        (ids, tags)
    }

    pub(crate) fn error(&mut self, location: &Location, message: impl Into<String>) {
        self.report(Severity::Error, location, message);
    }

    pub(crate) fn warning(&mut self, location: &Location, message: impl Into<String>) {
        self.report(Severity::Warning, location, message);
    }
}

impl Vocabulary {
    /// An operation's timeout (`x-timeout`, `#[timeout]`): a duration above zero.
    pub(crate) fn timeout(&mut self, location: &Location, value: &Value) -> Option<u64> {
        match parse_duration(value) {
            Ok(0) => {
                self.report(
                    Severity::Error,
                    location,
                    "a timeout must be longer than zero",
                );
                None
            }
            Ok(ms) => Some(ms),
            Err(message) => {
                self.report(Severity::Error, location, message);
                None
            }
        }
    }

    /// An operation's body limit (`x-max-body-size`, `#[max_body_size]`): a size above zero
    /// (`10MiB`), in bytes.
    pub(crate) fn max_body_size(&mut self, location: &Location, value: &Value) -> Option<u64> {
        match parse_size(value) {
            Ok(0) => {
                self.report(
                    Severity::Error,
                    location,
                    "a body limit must be larger than zero bytes",
                );
                None
            }
            Ok(bytes) => Some(bytes),
            Err(message) => {
                self.report(Severity::Error, location, message);
                None
            }
        }
    }

    /// An operation's caching policy (`x-cache`, `x-cache-ttl`, `#[cache]`): a duration, an
    /// object with `ttl` and the rest, or `false` for none. Only GET and HEAD are cached; an
    /// annotation elsewhere is an error when it is the operation's own (`on_operation`).
    pub(crate) fn cache(
        &mut self,
        facts: &OperationFacts<'_>,
        on_operation: bool,
        location: &Location,
        value: &Value,
    ) -> Option<CachePolicy> {
        let method = facts.method;
        if *value == Value::Bool(false) {
            return None;
        }
        if !matches!(method, Method::Get | Method::Head) {
            if on_operation {
                self.report(
                    Severity::Error,
                    location,
                    format!(
                        "`{}` operations are not cached: only GET and HEAD responses are",
                        method.as_str().to_uppercase()
                    ),
                );
            }
            return None;
        }
        let map = match value {
            Value::String(_) | Value::Number(_) => match parse_duration(value) {
                Ok(_) => [("ttl".to_owned(), value.clone())].into_iter().collect(),
                Err(message) => {
                    self.report(Severity::Error, location, message);
                    return None;
                }
            },
            Value::Object(map) => map.clone(),
            _ => {
                self.report(
                    Severity::Error,
                    location,
                    "expected a duration (`10m`), an object with `ttl`, or `false`",
                );
                return None;
            }
        };
        let mut policy = CachePolicy::with_ttl(Duration::ZERO);
        let mut ok = true;
        // A `ttl` that does not parse is reported as such, not as missing.
        let has_ttl = map.contains_key("ttl");
        for (key, value) in &map {
            let at = location.child(key);
            let result: Result<(), String> = match key.as_str() {
                "ttl" => parse_duration(value).map(|ms| policy.ttl = Duration::from_millis(ms)),
                "stale-while-revalidate" => parse_duration(value)
                    .map(|ms| policy.stale_while_revalidate = Duration::from_millis(ms)),
                "stale-if-error" => parse_duration(value)
                    .map(|ms| policy.stale_if_error = Duration::from_millis(ms)),
                "scope" => match value.as_str() {
                    Some("public") => {
                        policy.scope = CacheScope::Public;
                        Ok(())
                    }
                    Some("private") => {
                        policy.scope = CacheScope::Private;
                        Ok(())
                    }
                    _ => Err("`scope` must be `public` or `private`".to_owned()),
                },
                "vary" => match value.as_array() {
                    Some(names) if names.iter().all(|n| n.as_str().is_some_and(is_header_name)) => {
                        policy.vary = names
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_ascii_lowercase)
                            .collect();
                        Ok(())
                    }
                    _ => Err("`vary` must be a list of header names".to_owned()),
                },
                "status" => match value.as_array() {
                    Some(codes) => {
                        let parsed: Option<Vec<u16>> = codes
                            .iter()
                            .map(|c| {
                                c.as_u64()
                                    .or_else(|| c.as_str()?.parse().ok())
                                    .and_then(|c| u16::try_from(c).ok())
                                    .filter(|c| (100..=599).contains(c))
                            })
                            .collect();
                        match parsed {
                            Some(codes) if !codes.is_empty() => {
                                policy.statuses = codes;
                                Ok(())
                            }
                            _ => Err("`status` must be a list of status codes".to_owned()),
                        }
                    }
                    None => Err("`status` must be a list of status codes".to_owned()),
                },
                "tags" => match self.tags(facts, &at, value, TagValues::Path) {
                    Some(tags) => {
                        policy.tags = tags;
                        Ok(())
                    }
                    // Reported where it is wrong.
                    None => {
                        ok = false;
                        Ok(())
                    }
                },
                other => Err(format!("unknown key `{other}` in a cache annotation")),
            };
            if let Err(message) = result {
                self.report(Severity::Error, &at, message);
                ok = false;
            }
        }
        if !has_ttl {
            self.report(
                Severity::Error,
                location,
                "a cache annotation needs a `ttl`",
            );
            return None;
        }
        if ok && policy.ttl.is_zero() {
            self.report(
                Severity::Error,
                &location.child("ttl"),
                "`ttl` must be longer than zero",
            );
            return None;
        }
        ok.then_some(policy)
    }

    /// Cache tag templates: strings whose `{name}`s are path parameters of the operation
    /// (`pet:{petId}`) or, where `values` allows, values of its answer
    /// (`user:{$response.body#/user_id}`), parsed by the model's one grammar; every problem
    /// is reported at its item.
    pub(crate) fn tags(
        &mut self,
        facts: &OperationFacts<'_>,
        location: &Location,
        value: &Value,
        values: TagValues,
    ) -> Option<Vec<TagTemplate>> {
        let Some(items) = value.as_array() else {
            self.report(
                Severity::Error,
                location,
                "`tags` is a list of tags such as `pet:{petId}`",
            );
            return None;
        };
        let mut tags = Vec::new();
        let mut ok = true;
        for (index, item) in items.iter().enumerate() {
            let at = location.child(&index.to_string());
            let result = item
                .as_str()
                .ok_or_else(|| "a tag is a non-empty string such as `pet:{petId}`".to_owned())
                .and_then(specjet_model::tag::parse)
                .and_then(|pieces| {
                    pieces
                        .iter()
                        .try_for_each(|piece| tag_value(facts, values, piece))
                        .map(|()| pieces)
                });
            match result {
                Ok(tag) => tags.push(tag),
                Err(message) => {
                    self.report(Severity::Error, &at, message);
                    ok = false;
                }
            }
        }
        ok.then_some(tags)
    }
}

/// Why `piece` cannot fill a tag of the operation of `facts`, if it cannot.
fn tag_value(
    facts: &OperationFacts<'_>,
    values: TagValues,
    piece: &TagPiece<String>,
) -> Result<(), String> {
    match piece {
        TagPiece::Text(_) => Ok(()),
        TagPiece::Param(name) if facts.path_params.iter().any(|param| param == name) => Ok(()),
        TagPiece::Param(name) => Err(format!(
            "`{{{name}}}` is not a path parameter of `{}`{}",
            facts.id,
            if facts.path_params.is_empty() {
                String::new()
            } else {
                format!(" (it has {})", facts.path_params.join(", "))
            }
        )),
        TagPiece::Answer(pointer) if values == TagValues::Path => Err(format!(
            "`{{{}{pointer}}}` names a value of the answer, known only once a write has \
             answered: it can fill the tags of `x-cache-invalidates`, not those of a cached entry",
            specjet_model::tag::ANSWER_VALUE
        )),
        TagPiece::Answer(_) => Ok(()),
    }
}

/// What the `{name}`s of a tag template may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagValues {
    /// Path parameters (the tags of a cached entry).
    Path,
    /// Path parameters and values of the answer (the tags a write invalidates).
    PathAndAnswer,
}

/// A path the router serves as written: absolute, not the root, no template, query,
/// fragment, wildcard or space (the batch endpoint, the document, the docs).
fn is_fixed_path(path: &str) -> bool {
    path.starts_with('/') && path.len() > 1 && !path.contains(['{', '}', '?', '#', '*', ' '])
}

/// Whether `name` is a header name (an HTTP token).
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The Redis key prefix of an API that names none: its title as a snake-case name.
fn default_key_prefix(title: &str) -> String {
    let name = crate::naming::field_name(title);
    if name == "empty" {
        "specjet".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations() {
        assert_eq!(parse_duration(&json!("500ms")), Ok(500));
        assert_eq!(parse_duration(&json!("30s")), Ok(30_000));
        assert_eq!(parse_duration(&json!("10m")), Ok(600_000));
        assert_eq!(parse_duration(&json!("1h")), Ok(3_600_000));
        assert_eq!(parse_duration(&json!("1d")), Ok(86_400_000));
        assert!(parse_duration(&json!(30)).unwrap_err().contains("`30s`"));
        assert!(parse_duration(&json!("30"))
            .unwrap_err()
            .contains("no unit"));
        assert!(parse_duration(&json!("3 weeks")).is_err());
        assert!(parse_duration(&json!("99999999999999999999d")).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size(&json!("1KiB")), Ok(1024));
        assert_eq!(parse_size(&json!("4MiB")), Ok(4 << 20));
        assert_eq!(parse_size(&json!("2MB")), Ok(2_000_000));
        assert!(parse_size(&json!("4")).is_err());
        assert!(parse_size(&json!(4)).is_err());
    }
}
