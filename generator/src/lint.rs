//! What `specjet validate` checks beyond what generation needs, so that a spec's author can
//! make its contract honest: answers the service gives that the operation does not document,
//! and `pattern`s the service cannot check.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::diag::{Diagnostics, Severity};
use crate::ir::{Api, BodyKind, Operation, StatusSpec};
use crate::load::{Location, Spec};
use crate::lower::annotations::registry;

/// Adds the warnings of both checks to `diags`. Undocumented answers are listed per operation
/// in documents that opt in to specjet (a root `x-specjet`); in others, where few operations
/// document their errors, one warning counts them.
pub(crate) fn contract(spec: &Spec, api: &Api, diags: &mut Diagnostics) {
    let mut found = Diagnostics::default();
    for op in &api.operations {
        undocumented_answers(spec, api, op, &mut found);
    }
    let count = found.items().len();
    if api.settings.opted_in {
        for diagnostic in found.items() {
            diags.push_diagnostic(diagnostic.clone());
        }
    } else if count > 0 {
        diags.push(
            Severity::Warning,
            spec.doc_name(0),
            "",
            format!(
                "{count} of {} operations may answer statuses (400, 413, 415, 422, 504, ...) \
                 their `responses` do not document; with a root `x-specjet` key, `validate` \
                 lists them per operation",
                api.operations.len()
            ),
        );
    }
    uncheckable_patterns(spec, diags);
}

/// The statuses the service itself may answer for `op`, each with why.
fn own_answers(api: &Api, op: &Operation) -> Vec<(u16, &'static str)> {
    let reads_structured = |kind: &BodyKind| matches!(kind, BodyKind::Json(_) | BodyKind::Form(_));
    let structured_body = op
        .body
        .as_ref()
        .is_some_and(|body| body.contents.iter().any(|c| reads_structured(&c.kind)));
    let mut answers = Vec::new();
    if !op.params.is_empty() || structured_body {
        answers.push((400, "a parameter or body that cannot be read"));
    }
    if op.body.is_some() {
        answers.push((413, "a body over its size limit"));
        answers.push((415, "a media type it does not declare"));
    }
    if structured_body {
        answers.push((422, "a body that breaks its schema"));
    }
    if !op.security.is_empty() {
        answers.push((401, "its `security`: credentials missing or refused"));
        if op
            .security
            .iter()
            .flatten()
            .any(|(_, scopes)| !scopes.is_empty())
        {
            answers.push((403, "a caller without the scopes its `security` requires"));
        }
    }
    // The statuses of the policies in force, then the service's own, in status order.
    let policies_from = answers.len();
    for annotation in registry::ANNOTATIONS {
        if (annotation.in_force)(&op.policies) {
            answers.extend(annotation.statuses.iter().copied());
        }
    }
    let guessing_limited = !op.security.is_empty() && api.settings.security.failures > 0;
    if guessing_limited && !answers.iter().any(|(status, _)| *status == 429) {
        answers.push((429, "a client address whose credentials keep failing"));
    }
    if api.settings.max_in_flight.is_some() {
        answers.push((503, "`max-in-flight`"));
    }
    answers[policies_from..].sort_by_key(|(status, _)| *status);
    answers
}

/// One warning for `op` listing the statuses the service may answer that its `responses`
/// document neither by code, by class (`4XX`) nor by `default`.
fn undocumented_answers(spec: &Spec, api: &Api, op: &Operation, diags: &mut Diagnostics) {
    let documented = |status: u16| {
        op.responses.iter().any(|response| match response.status {
            StatusSpec::Code(code) => code == status,
            StatusSpec::Range(class) => u16::from(class) == status / 100,
            StatusSpec::Default => true,
        })
    };
    let missing: Vec<String> = own_answers(api, op)
        .into_iter()
        .filter(|(status, _)| !documented(*status))
        .map(|(status, why)| format!("{status} ({why})"))
        .collect();
    if missing.is_empty() {
        return;
    }
    let location = Location {
        doc: 0,
        pointer: String::new(),
    }
    .child("paths")
    .child(&op.path)
    .child(op.method.as_str());
    let at = location.child("responses");
    let at = if spec.get(&at).is_some() {
        at
    } else {
        location
    };
    diags.push(
        Severity::Warning,
        spec.doc_name(at.doc),
        &at.pointer,
        format!(
            "`{} {}` may answer {}, which its `responses` do not document; document them (or a \
             `default` response) so that clients know their shape, and answer in it with \
             `Api::reject`",
            op.method.as_str().to_uppercase(),
            op.path,
            missing.join(", ")
        ),
    );
}

/// A warning at each `pattern` the service's regex engine cannot compile: the service leaves
/// it unchecked (and checks the rest of its schema).
fn uncheckable_patterns(spec: &Spec, diags: &mut Diagnostics) {
    let mut verdicts: HashMap<String, bool> = HashMap::new();
    for (doc, document) in spec.docs.iter().enumerate() {
        let mut found = Vec::new();
        each_pattern(&document.value, String::new(), false, &mut found);
        for (pointer, pattern) in found {
            let compiles = *verdicts.entry(pattern.to_owned()).or_insert_with(|| {
                jsonschema::options()
                    .build(&json!({ "pattern": pattern }))
                    .is_ok()
            });
            if !compiles {
                diags.push(
                    Severity::Warning,
                    spec.doc_name(doc),
                    &pointer,
                    format!(
                        "the pattern `{pattern}` cannot be compiled by the service's regex \
                         engine; the service does not check it (the rest of its schema it does)"
                    ),
                );
            }
        }
    }
}

/// Every `pattern` of a schema in `value`, with its JSON pointer: not inside literal values
/// (`enum`, `const`, `default`, `example`, `examples`) nor `x-` extensions, but in every entry
/// of a map of names (`properties`, `schemas`, ...), whatever its name.
fn each_pattern<'v>(value: &'v Value, at: String, names: bool, found: &mut Vec<(String, &'v str)>) {
    use specjet_model::schema::{descend, Descend};
    match value {
        Value::Object(map) => {
            if !names {
                if let Some(Value::String(pattern)) = map.get("pattern") {
                    found.push((crate::pointer::push(&at, "pattern"), pattern));
                }
            }
            for (key, child) in map {
                if let Descend::Into { names } = descend(key, names) {
                    each_pattern(child, crate::pointer::push(&at, key), names, found);
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                each_pattern(item, format!("{at}/{index}"), false, found);
            }
        }
        _ => {}
    }
}
