//! Resolving `x-fan-out` once every operation is known: each part must be a GET operation
//! whose required parameters the composite's request has (by name, in its path or query),
//! and the composite a GET operation answered by its parts alone.

use super::Lowering;
use crate::ir::{ArgSource, FanOut, FanOutArg, FanOutPart, Method, ParamLocation, Piece};
use crate::ir::{BodyKind, Operation, StatusSpec, TypeDef, TypeKind, TypeRef};
use crate::load::Location;
use crate::lower::annotations::{Annotations, FanOutAnnotation};

impl Lowering<'_> {
    /// Resolves every `x-fan-out`; returns, per composite, where each part is named (for the
    /// shape check once the types are known: [`check_shapes`]).
    pub(super) fn resolve_fan_outs(&mut self) -> Vec<(usize, Vec<Location>)> {
        let pending = std::mem::take(&mut self.pending_fan_outs);
        for (index, annotation) in &pending {
            if let Some(fan_out) = self.fan_out(*index, annotation) {
                self.operations[*index].fan_out = Some(fan_out);
            }
        }
        // Parts answer with their own handler: a composite made of composites could loop.
        for (index, annotation) in &pending {
            let Some(fan_out) = &self.operations[*index].fan_out else {
                continue;
            };
            let nested: Vec<(usize, String)> = fan_out
                .parts
                .iter()
                .enumerate()
                .filter(|(_, part)| self.operations[part.operation].fan_out.is_some())
                .map(|(n, part)| (n, self.operations[part.operation].id.clone()))
                .collect();
            for (n, id) in nested {
                let at = &annotation.parts[n].0;
                self.annotations.error(
                    at,
                    format!("`{id}` is composed by `x-fan-out` itself; a part must have a handler"),
                );
            }
        }
        pending
            .into_iter()
            .filter(|(index, _)| self.operations[*index].fan_out.is_some())
            .map(|(index, annotation)| {
                let sites = annotation.parts.into_iter().map(|(at, _, _)| at).collect();
                (index, sites)
            })
            .collect()
    }

    fn fan_out(&mut self, index: usize, annotation: &FanOutAnnotation) -> Option<FanOut> {
        let composite = &self.operations[index];
        let mut problems = Vec::new();
        if composite.method != Method::Get {
            problems.push((
                annotation.location.clone(),
                "only a GET operation can be composed by `x-fan-out`".to_owned(),
            ));
        }
        if !composite.path_captures.iter().all(|c| c.is_whole()) {
            problems.push((
                annotation.location.clone(),
                "a composed operation's path segments must be whole parameters (`/a/{id}`)"
                    .to_owned(),
            ));
        }
        let mut parts = Vec::new();
        for (at, field, id) in &annotation.parts {
            let Some(target) = self.operations.iter().position(|op| op.id == *id) else {
                problems.push((
                    at.clone(),
                    format!("no operation has the operationId `{id}`"),
                ));
                continue;
            };
            let part = &self.operations[target];
            if target == index {
                problems.push((
                    at.clone(),
                    "an operation cannot be a part of itself".to_owned(),
                ));
                continue;
            }
            if part.method != Method::Get {
                problems.push((
                    at.clone(),
                    format!(
                        "`{id}` is a {} operation; parts run at once, so they must be GET operations",
                        part.method.as_str().to_uppercase()
                    ),
                ));
                continue;
            }
            if !part.path_captures.iter().all(|c| c.is_whole()) {
                problems.push((
                    at.clone(),
                    format!("`{id}`'s path has parameters inside segments; it cannot be a part"),
                ));
                continue;
            }
            let mut args = Vec::new();
            for param in &part.params {
                let in_path = match param.location {
                    ParamLocation::Path => true,
                    ParamLocation::Query => false,
                    // Headers and cookies reach the parts with the composite's request.
                    _ => continue,
                };
                let from_path = composite.path_captures.iter().find_map(|capture| {
                    matches!(capture.pieces.as_slice(), [Piece::Param(name)] if *name == param.wire)
                        .then(|| ArgSource::Path(capture.key.clone()))
                });
                let from_query = composite
                    .params
                    .iter()
                    .any(|p| p.location == ParamLocation::Query && p.wire == param.wire)
                    .then(|| ArgSource::Query(param.wire.clone()));
                match from_path.or(from_query) {
                    Some(from) => args.push(FanOutArg {
                        name: param.wire.clone(),
                        in_path,
                        from,
                    }),
                    None if param.required => problems.push((
                        at.clone(),
                        format!(
                            "`{id}` needs the parameter `{}`, which `{}` does not have in its path or query",
                            param.wire, composite.id
                        ),
                    )),
                    None => {}
                }
            }
            parts.push(FanOutPart {
                field: field.clone(),
                operation: target,
                optional: annotation.optional.contains(field),
                args,
            });
        }
        let ok = problems.is_empty();
        for (at, message) in problems {
            self.annotations.error(&at, message);
        }
        ok.then_some(FanOut { parts })
    }
}

/// Once the types are known: the composite answers a JSON object with a field for each part,
/// of the type the part answers (`null` allowed where the part is optional).
pub(super) fn check_shapes(
    sites: &[(usize, Vec<Location>)],
    operations: &[Operation],
    types: &[TypeDef],
    annotations: &mut Annotations<'_>,
) {
    for (index, part_sites) in sites {
        let composite = &operations[*index];
        let Some(fan_out) = &composite.fan_out else {
            continue;
        };
        let fields = match success_type(composite) {
            Some(TypeRef::Named(id)) => match &types[id].kind {
                TypeKind::Struct { fields, .. } => fields,
                _ => continue,
            },
            // A map or any JSON value holds whatever the parts answer.
            Some(TypeRef::Map(_) | TypeRef::Value) => continue,
            _ => {
                if let Some(at) = part_sites.first() {
                    annotations.error(
                        at,
                        format!(
                            "`{}` composes its parts into a JSON object, but its success answer is not one",
                            composite.id
                        ),
                    );
                }
                continue;
            }
        };
        for (part, at) in fan_out.parts.iter().zip(part_sites) {
            let Some(field) = fields.iter().find(|f| f.wire == part.field) else {
                annotations.error(
                    at,
                    format!(
                        "`{}`'s success answer has no property `{}` for this part",
                        composite.id, part.field
                    ),
                );
                continue;
            };
            let target = &operations[part.operation];
            let Some(answered) = success_type(target) else {
                continue;
            };
            if !same_shape(
                &unwrap_option(&field.ty),
                &unwrap_option(&answered),
                types,
                4,
            ) {
                annotations.error(
                    at,
                    format!(
                        "property `{}` of `{}`'s answer is not the type `{}` answers",
                        part.field, composite.id, target.id
                    ),
                );
            }
        }
    }
}

/// The JSON type of an operation's first success response.
fn success_type(op: &Operation) -> Option<TypeRef> {
    op.responses
        .iter()
        .filter(|response| match response.status {
            StatusSpec::Code(code) => (200..300).contains(&code),
            StatusSpec::Range(class) => class == 2,
            StatusSpec::Default => false,
        })
        .flat_map(|response| &response.contents)
        .find_map(|content| match &content.kind {
            BodyKind::Json(ty) => Some(ty.clone()),
            _ => None,
        })
}

fn unwrap_option(ty: &TypeRef) -> TypeRef {
    match ty {
        TypeRef::Option(inner) | TypeRef::Box(inner) => unwrap_option(inner),
        other => other.clone(),
    }
}

/// The same JSON shape: the same type, or named types of the same kind whose fields have the
/// same names and shapes (an inline schema repeated in two places becomes two types).
fn same_shape(a: &TypeRef, b: &TypeRef, types: &[TypeDef], depth: u8) -> bool {
    if a == b {
        return true;
    }
    if depth == 0 {
        return true; // deep enough to trust the rest
    }
    match (a, b) {
        (TypeRef::Vec(a), TypeRef::Vec(b)) | (TypeRef::Map(a), TypeRef::Map(b)) => {
            same_shape(a, b, types, depth - 1)
        }
        (TypeRef::Named(a), TypeRef::Named(b)) => match (&types[*a].kind, &types[*b].kind) {
            (TypeKind::Struct { fields: a, .. }, TypeKind::Struct { fields: b, .. }) => {
                a.len() == b.len()
                    && a.iter().all(|fa| {
                        b.iter().any(|fb| {
                            fa.wire == fb.wire
                                && same_shape(
                                    &unwrap_option(&fa.ty),
                                    &unwrap_option(&fb.ty),
                                    types,
                                    depth - 1,
                                )
                        })
                    })
            }
            (a, b) => a == b,
        },
        (TypeRef::Value, _) | (_, TypeRef::Value) => true,
        _ => false,
    }
}
