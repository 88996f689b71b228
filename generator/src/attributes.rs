//! Handler attributes (`#[cache]`, `#[rate_limit]`, `#[no_compress]`, ... under
//! `#[specjet::api]`): the macros turn an attribute's arguments into the value the spec's
//! annotation would hold, and this module parses it with the spec's own parser, so an
//! attribute and an annotation accept and reject alike, with the same messages.

use proc_macro2::TokenStream;
use serde_json::Value;

use crate::codegen::server::{override_field, OverrideValue};
use crate::diag::Severity;
use crate::ir::{Api, Operation, ParamLocation, RateLimitUse};
use crate::load::Location;
use crate::lower::annotations::{OperationFacts, Vocabulary};

/// The policy an attribute sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concern {
    /// `x-cache`: `#[cache(...)]`, `#[no_cache]` (`false`).
    Cache,
    /// `x-rate-limit`: `#[rate_limit(...)]`, `#[no_rate_limit]` (`false`).
    RateLimit,
    /// `x-compress`: `#[no_compress]` (`false`).
    Compress,
    /// `x-timeout`: `#[timeout("5s")]`.
    Timeout,
}

/// A problem of an attribute: where in its value (a JSON pointer: `/ttl` is the `ttl`
/// argument, empty for the whole attribute) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeError {
    /// Where in the attribute's value the problem is.
    pub pointer: String,
    /// What is wrong, worded as for the spec's annotation.
    pub message: String,
}

/// The field of the generated `policies` hook that an attribute on `operation`'s handler sets,
/// as an expression (`cache: Some(...)`), or every problem of the attribute.
pub fn policy_field(
    api: &Api,
    operation: &Operation,
    concern: Concern,
    value: &Value,
) -> Result<TokenStream, Vec<AttributeError>> {
    let mut vocab = Vocabulary::new(
        vec![String::new()],
        api.settings.rate_limit_policies.clone(),
    );
    let at = Location {
        doc: 0,
        pointer: String::new(),
    };
    let names_in = |location: ParamLocation| -> Vec<String> {
        operation
            .params
            .iter()
            .filter(|p| p.location == location)
            .map(|p| p.wire.clone())
            .collect()
    };
    let (path_params, query_params) = (
        names_in(ParamLocation::Path),
        names_in(ParamLocation::Query),
    );
    let facts = OperationFacts {
        id: &operation.id,
        method: operation.method,
        path_params: &path_params,
        query_params: &query_params,
    };
    let tokens = match concern {
        Concern::Cache => {
            let policy = vocab.cache(&facts, true, &at, value);
            let value = policy
                .as_ref()
                .map_or(OverrideValue::Off, OverrideValue::Cache);
            override_field("cache", value)
        }
        Concern::RateLimit => {
            let used = vocab.rate_limit(&facts, &at, value);
            let policy = match used {
                Some(RateLimitUse::Own(policy)) => Some(policy),
                Some(RateLimitUse::Named { name, cost }) => {
                    vocab
                        .policies
                        .get(&name)
                        .map(|policy| crate::ir::RateLimitPolicy {
                            cost,
                            ..policy.clone()
                        })
                }
                None => None,
            };
            let value = policy
                .as_ref()
                .map_or(OverrideValue::Off, OverrideValue::RateLimit);
            override_field("rate_limit", value)
        }
        Concern::Compress => {
            let on = vocab.compress(&at, value);
            override_field("compress", OverrideValue::Compress(on.unwrap_or(true)))
        }
        Concern::Timeout => {
            let ms = vocab.timeout(&at, value);
            override_field(
                "timeout",
                OverrideValue::Timeout(ms.unwrap_or(crate::ir::DEFAULT_TIMEOUT_MS)),
            )
        }
    };
    let errors: Vec<AttributeError> = vocab
        .diags
        .items()
        .iter()
        .filter(|d| d.severity >= Severity::Error)
        .map(|d| AttributeError {
            pointer: d.pointer.clone(),
            message: d.message.clone(),
        })
        .collect();
    if errors.is_empty() {
        Ok(tokens)
    } else {
        Err(errors)
    }
}
