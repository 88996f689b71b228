//! Resolving `x-fan-out` once every operation is known: each part must be a GET operation
//! whose required parameters the composite's request has (by name, in its path or query),
//! and the composite a GET operation answered by its parts alone.

use super::Lowering;
use crate::ir::{ArgSource, FanOut, FanOutArg, FanOutPart, Method, ParamLocation, Piece};
use crate::lower::annotations::FanOutAnnotation;

impl Lowering<'_> {
    pub(super) fn resolve_fan_outs(&mut self) {
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
