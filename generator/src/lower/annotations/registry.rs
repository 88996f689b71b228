//! Every `x-` annotation specjet reads on operations, path items or the root, in one table:
//! its name, the levels it is read at, its handler attribute, its parser, the field of the
//! model it sets, and the statuses the service may answer because of it. The vocabulary finds
//! annotations by this table, the attribute macros take their attribute names and forms from
//! it, and `lint` its statuses.
//!
//! Adding a per-operation annotation: its entry here, its parser (a `Vocabulary` method
//! called from the entry's `parse`), its field of `specjet_model::Policies`, its runtime step,
//! and its line in codegen's `policy_fields`.

use std::time::Duration;

use serde_json::Value;

use super::{OperationFacts, Vocabulary};
use crate::ir::Policies;
use crate::load::Location;

/// Where an annotation may be written; the most specific one found wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// The document's root: every operation.
    Root,
    /// A path item: its operations.
    PathItem,
    /// The operation itself.
    Operation,
}

/// How a handler attribute's positional arguments are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positional {
    /// None: every argument is `name = value` (`#[cache(ttl = "30s")]`).
    No,
    /// Each is one rate of the `rate` key (`#[rate_limit("10/s", "1000/h")]`).
    Rates,
    /// Exactly one, the whole value (`#[timeout("5s")]`).
    Whole,
}

/// A handler attribute that sets an annotation's policy in code, under `#[specjet::api]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute that sets it (`cache`), if any.
    pub set: Option<&'static str>,
    /// The attribute that turns it off (`no_cache`: the annotation's `false`), if any.
    pub off: Option<&'static str>,
    /// How `set`'s positional arguments are read.
    pub positional: Positional,
    /// What it sets, for messages (`caching`).
    pub what: &'static str,
    /// The attribute written out, for messages (`#[timeout("5s")]`).
    pub example: &'static str,
}

/// Parses an annotation's value (found at `location`; `on_operation` when it is the
/// operation's own) into its field of `policies`, reporting problems to the vocabulary.
pub(crate) type Parse =
    fn(&mut Vocabulary, &OperationFacts<'_>, bool, &Location, &Value, &mut Policies);

/// One annotation.
#[derive(Debug, Clone, Copy)]
pub struct Annotation {
    /// `x-specjet-<name>`, or `x-<name>` in documents that opt in.
    pub name: &'static str,
    /// An older name read as this one (`cache-ttl`), below it at the same level.
    pub alias: Option<&'static str>,
    /// Where it is read.
    pub(crate) levels: &'static [Level],
    /// Its handler attribute.
    pub attribute: Option<Attribute>,
    /// Its parser, for an annotation that is one field of [`Policies`]; the others are read
    /// by their own step of lowering (named in `field`).
    pub(crate) parse: Option<Parse>,
    /// The field of the model it sets.
    pub field: &'static str,
    /// Statuses the service may answer because of it, each with why (for `lint`).
    pub statuses: &'static [(u16, &'static str)],
    /// Whether it is in force on an operation with `policies` (then `statuses` apply).
    pub in_force: fn(&Policies) -> bool,
}

const EVERYWHERE: &[Level] = &[Level::Root, Level::PathItem, Level::Operation];
const PATHS: &[Level] = &[Level::PathItem, Level::Operation];
const OPERATION: &[Level] = &[Level::Operation];

fn never(_: &Policies) -> bool {
    false
}

/// Every annotation, in the order the vocabulary reads them.
pub(crate) const ANNOTATIONS: &[Annotation] = &[
    Annotation {
        name: "cache",
        alias: Some("cache-ttl"),
        levels: PATHS,
        attribute: Some(Attribute {
            set: Some("cache"),
            off: Some("no_cache"),
            positional: Positional::No,
            what: "caching",
            example: "#[cache(ttl = \"30s\")]",
        }),
        parse: Some(|vocab, facts, on_operation, location, value, policies| {
            policies.cache = vocab.cache(facts, on_operation, location, value);
        }),
        field: "Policies::cache",
        statuses: &[],
        in_force: never,
    },
    Annotation {
        name: "cache-invalidates",
        alias: None,
        levels: OPERATION,
        attribute: None,
        parse: None,
        field: "Policies::invalidates, Policies::invalidate_tags (resolved once every operation is known)",
        statuses: &[],
        in_force: never,
    },
    Annotation {
        name: "rate-limit",
        alias: None,
        levels: EVERYWHERE,
        attribute: Some(Attribute {
            set: Some("rate_limit"),
            off: Some("no_rate_limit"),
            positional: Positional::Rates,
            what: "rate limit",
            example: "#[rate_limit(\"10/s\")]",
        }),
        parse: Some(|vocab, facts, _, location, value, policies| {
            policies.rate_limit = vocab.rate_limit(facts, location, value);
        }),
        field: "Policies::rate_limit",
        statuses: &[(429, "its rate limit")],
        in_force: |policies| policies.rate_limit.is_some(),
    },
    Annotation {
        name: "compress",
        alias: None,
        levels: EVERYWHERE,
        attribute: Some(Attribute {
            set: None,
            off: Some("no_compress"),
            positional: Positional::No,
            what: "compression",
            example: "#[no_compress]",
        }),
        parse: Some(|vocab, _, _, location, value, policies| {
            if let Some(on) = vocab.compress(location, value) {
                policies.compress = on;
            }
        }),
        field: "Policies::compress",
        statuses: &[],
        in_force: never,
    },
    Annotation {
        name: "timeout",
        alias: None,
        levels: EVERYWHERE,
        attribute: Some(Attribute {
            set: Some("timeout"),
            off: None,
            positional: Positional::Whole,
            what: "timeout",
            example: "#[timeout(\"5s\")]",
        }),
        parse: Some(|vocab, _, _, location, value, policies| {
            if let Some(ms) = vocab.timeout(location, value) {
                policies.timeout = Some(Duration::from_millis(ms));
            }
        }),
        field: "Policies::timeout",
        statuses: &[(504, "its timeout")],
        in_force: |policies| policies.timeout.is_some(),
    },
    Annotation {
        name: "max-body-size",
        alias: None,
        levels: PATHS,
        attribute: Some(Attribute {
            set: Some("max_body_size"),
            off: None,
            positional: Positional::Whole,
            what: "body limit",
            example: "#[max_body_size(\"10MiB\")]",
        }),
        parse: Some(|vocab, _, _, location, value, policies| {
            if let Some(bytes) = vocab.max_body_size(location, value) {
                policies.max_body_size = Some(bytes);
            }
        }),
        field: "Policies::max_body_size",
        statuses: &[(413, "its body limit")],
        in_force: |policies| policies.max_body_size.is_some(),
    },
    Annotation {
        name: "batch-group",
        alias: None,
        levels: EVERYWHERE,
        attribute: None,
        parse: Some(|vocab, _, _, location, value, policies| {
            if let Some(group) = vocab.batch_group(location, value) {
                policies.batch_group = group;
            }
        }),
        field: "Policies::batch_group",
        statuses: &[],
        in_force: never,
    },
    Annotation {
        name: "fan-out",
        alias: None,
        levels: OPERATION,
        attribute: None,
        parse: None,
        field: "Operation::fan_out",
        statuses: &[],
        in_force: never,
    },
    Annotation {
        name: "fan-out-optional",
        alias: None,
        levels: OPERATION,
        attribute: None,
        parse: None,
        field: "Operation::fan_out (parts that may fail)",
        statuses: &[],
        in_force: never,
    },
    Annotation {
        name: "slo",
        alias: None,
        levels: OPERATION,
        attribute: None,
        parse: None,
        field: "Operation::slo",
        statuses: &[],
        in_force: never,
    },
    Annotation {
        name: "load",
        alias: None,
        levels: OPERATION,
        attribute: None,
        parse: None,
        field: "Operation::load_weight (the load test's mix)",
        statuses: &[],
        in_force: never,
    },
];

/// The annotation named `name` (or whose alias it is).
pub(crate) fn by_name(name: &str) -> Option<&'static Annotation> {
    ANNOTATIONS
        .iter()
        .find(|a| a.name == name || a.alias == Some(name))
}

/// The annotation a handler attribute belongs to, and whether the attribute turns it off.
pub fn by_attribute(attribute: &str) -> Option<(&'static Annotation, bool)> {
    ANNOTATIONS.iter().find_map(|annotation| {
        let form = annotation.attribute?;
        if form.set == Some(attribute) {
            Some((annotation, false))
        } else if form.off == Some(attribute) {
            Some((annotation, true))
        } else {
            None
        }
    })
}

/// Every handler attribute name (`cache`, `no_cache`, ...).
pub fn attribute_names() -> impl Iterator<Item = &'static str> {
    ANNOTATIONS
        .iter()
        .filter_map(|annotation| annotation.attribute)
        .flat_map(|form| form.set.into_iter().chain(form.off))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_attributes_are_unique() {
        let mut names: Vec<&str> = ANNOTATIONS
            .iter()
            .flat_map(|a| std::iter::once(a.name).chain(a.alias))
            .collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "an annotation name is taken twice");
        let mut attributes: Vec<&str> = attribute_names().collect();
        let count = attributes.len();
        attributes.sort_unstable();
        attributes.dedup();
        assert_eq!(attributes.len(), count, "an attribute name is taken twice");
        for name in attribute_names() {
            assert!(by_attribute(name).is_some());
        }
    }

    #[test]
    fn every_policy_field_is_parsed_by_its_entry() {
        // Each field of `Policies` but the resolved invalidations has a parser in the table.
        let parsed: Vec<&str> = ANNOTATIONS
            .iter()
            .filter(|a| a.parse.is_some())
            .map(|a| a.field)
            .collect();
        for field in ["cache", "rate_limit", "compress", "timeout", "batch_group"] {
            assert!(
                parsed.contains(&format!("Policies::{field}").as_str()),
                "`Policies::{field}` has no parser in the registry"
            );
        }
    }
}
