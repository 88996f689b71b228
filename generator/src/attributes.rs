//! Handler attributes (`#[cache]`, `#[rate_limit]`, `#[no_compress]`, ... under
//! `#[specjet::api]`): the macros turn an attribute's arguments into the value the spec's
//! annotation would hold, and this module parses it with the spec's own parser, so an
//! attribute and an annotation accept and reject alike, with the same messages.

use proc_macro2::TokenStream;
use serde_json::Value;

use crate::codegen::server::override_field;
use crate::diag::Severity;
use crate::ir::{Api, Operation, ParamLocation, Policies};
use crate::load::Location;
use crate::lower::annotations::{OperationFacts, Vocabulary};

pub use crate::lower::annotations::registry::{
    attribute_names, by_attribute, Annotation, Attribute, Positional,
};

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
    annotation: &Annotation,
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
    let mut policies = Policies::default();
    if let Some(parse) = annotation.parse {
        parse(&mut vocab, &facts, true, &at, value, &mut policies);
    }
    let tokens = override_field(annotation.field, &policies);
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
