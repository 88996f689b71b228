//! Inline types shared: operations often declare the same inline schema again and again (a
//! metadata map, an address, an `expand` list: Stripe declares one per operation), and each
//! would be a type of its own, with its serde code to compile. Inline types of the same shape
//! (fields, variants and the types they refer to, recursively; docs aside) become one type in
//! the `types` module, named after the first of them. Component schemas are never merged:
//! their names are the spec's.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::ir::{BodyKind, Module, Operation, TypeDef, TypeId, TypeKind, TypeRef};

/// Merges the structurally identical inline types of `types`, pointing every reference in
/// `types` and `operations` at the one kept. Returns how many types were merged away.
pub(crate) fn identical_inline_types(
    types: &mut Vec<TypeDef>,
    operations: &mut [Operation],
) -> usize {
    let inline: Vec<TypeId> = (0..types.len())
        .filter(|&id| matches!(types[id].module, Module::Operation(_)))
        .collect();
    if inline.len() < 2 {
        return 0;
    }
    let classes = partition(types, &inline);
    // The first type of each class of several is kept; the others point at it.
    let mut members: BTreeMap<usize, Vec<TypeId>> = BTreeMap::new();
    for &id in &inline {
        members.entry(classes[&id]).or_default().push(id);
    }
    let mut kept_for: HashMap<TypeId, TypeId> = HashMap::new();
    let mut shared: Vec<TypeId> = Vec::new();
    for ids in members.values().filter(|ids| ids.len() > 1) {
        shared.push(ids[0]);
        for &id in &ids[1..] {
            kept_for.insert(id, ids[0]);
        }
    }
    if kept_for.is_empty() {
        return 0;
    }
    // A type used by several operations lives in `types`, under a name unique there.
    let mut taken: HashSet<String> = types
        .iter()
        .filter(|def| def.module == Module::Types)
        .map(|def| def.name.clone())
        .collect();
    shared.sort_unstable();
    for id in shared {
        let base = types[id].name.clone();
        let mut name = base.clone();
        let mut n = 2;
        while !taken.insert(name.clone()) {
            name = format!("{base}{n}");
            n += 1;
        }
        types[id].name = name;
        types[id].module = Module::Types;
    }
    // Drop the merged ones, and number every reference anew.
    let mut new_id = vec![usize::MAX; types.len()];
    let mut next = 0;
    for (id, slot) in new_id.iter_mut().enumerate() {
        if !kept_for.contains_key(&id) {
            *slot = next;
            next += 1;
        }
    }
    let target = |id: TypeId| new_id[kept_for.get(&id).copied().unwrap_or(id)];
    let old = std::mem::take(types);
    for (id, mut def) in old.into_iter().enumerate() {
        if kept_for.contains_key(&id) {
            continue;
        }
        each_ref_in_kind(&mut def.kind, &mut |r| renumber(r, &target));
        types.push(def);
    }
    for op in operations.iter_mut() {
        each_ref_in_operation(op, &mut |r| renumber(r, &target));
    }
    kept_for.len()
}

/// The classes of `inline` types (by id) under structural equality: refined from their
/// shallow shapes until the types they refer to agree too.
fn partition(types: &[TypeDef], inline: &[TypeId]) -> HashMap<TypeId, usize> {
    let mut classes: HashMap<TypeId, usize> = inline.iter().map(|&id| (id, 0)).collect();
    let mut count = 1;
    loop {
        let mut by_shape: HashMap<String, usize> = HashMap::new();
        let mut next: HashMap<TypeId, usize> = HashMap::new();
        for &id in inline {
            let shape = shape(&types[id].kind, &classes);
            let fresh = by_shape.len();
            let class = *by_shape.entry(shape).or_insert(fresh);
            next.insert(id, class);
        }
        let refined = by_shape.len();
        classes = next;
        if refined == count {
            return classes;
        }
        count = refined;
    }
}

/// A type's shape as text: its kind with docs left out and each reference to an inline type
/// named by that type's class.
fn shape(kind: &TypeKind, classes: &HashMap<TypeId, usize>) -> String {
    let mut kind = kind.clone();
    match &mut kind {
        TypeKind::Struct { fields, .. } => {
            for field in fields {
                field.docs = None;
            }
        }
        TypeKind::StringEnum { variants } => {
            for variant in variants {
                variant.docs = None;
            }
        }
        _ => {}
    }
    // Inline types are told apart from component types by a mark far above any id.
    const INLINE: usize = usize::MAX / 2;
    each_ref_in_kind(&mut kind, &mut |r| {
        if let TypeRef::Named(id) = r {
            if let Some(class) = classes.get(id) {
                *id = INLINE + class;
            }
        }
    });
    format!("{kind:?}")
}

fn renumber(reference: &mut TypeRef, target: &impl Fn(TypeId) -> TypeId) {
    if let TypeRef::Named(id) = reference {
        *id = target(*id);
    }
}

/// Calls `visit` on every type reference in `reference`, innermost included.
fn each_ref(reference: &mut TypeRef, visit: &mut impl FnMut(&mut TypeRef)) {
    match reference {
        TypeRef::Vec(inner)
        | TypeRef::Map(inner)
        | TypeRef::Option(inner)
        | TypeRef::Box(inner) => each_ref(inner, visit),
        _ => visit(reference),
    }
}

fn each_ref_in_kind(kind: &mut TypeKind, visit: &mut impl FnMut(&mut TypeRef)) {
    match kind {
        TypeKind::Struct {
            fields, additional, ..
        } => {
            for field in fields {
                each_ref(&mut field.ty, visit);
            }
            if let Some(additional) = additional {
                each_ref(additional, visit);
            }
        }
        TypeKind::Union { variants, .. } => {
            for variant in variants {
                each_ref(&mut variant.ty, visit);
            }
        }
        TypeKind::Alias(target) | TypeKind::Newtype(target) => each_ref(target, visit),
        TypeKind::StringEnum { .. } | TypeKind::IntEnum { .. } => {}
    }
}

fn each_ref_in_operation(op: &mut Operation, visit: &mut impl FnMut(&mut TypeRef)) {
    for param in &mut op.params {
        each_ref(&mut param.ty, visit);
    }
    let bodies = op.body.iter_mut().flat_map(|body| body.contents.iter_mut());
    let responses = op
        .responses
        .iter_mut()
        .flat_map(|response| response.contents.iter_mut());
    for content in bodies.chain(responses) {
        if let BodyKind::Json(ty)
        | BodyKind::Form(ty)
        | BodyKind::Events(ty)
        | BodyKind::Items(ty, _)
        | BodyKind::ItemUpload(ty, _) = &mut content.kind
        {
            each_ref(ty, visit);
        }
    }
    for response in &mut op.responses {
        for header in &mut response.headers {
            each_ref(&mut header.ty, visit);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ir::{Module, TypeKind, TypeRef};

    const SPEC: &str = r#"
openapi: 3.0.3
info: {title: Shared, version: '1'}
paths:
  /a:
    post:
      operationId: makeA
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                address:
                  description: Where A lives.
                  type: object
                  properties:
                    street: {type: string}
                    city: {type: string}
      responses:
        '200': {description: ok}
  /b:
    post:
      operationId: makeB
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                address:
                  description: Where B lives (other words, the same shape).
                  type: object
                  properties:
                    street: {type: string}
                    city: {type: string}
      responses:
        '200': {description: ok}
  /c:
    post:
      operationId: makeC
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                address:
                  type: object
                  properties:
                    street: {type: string}
                    zip: {type: integer}
      responses:
        '200': {description: ok}
"#;

    #[test]
    fn inline_types_of_one_shape_are_one_type_in_types() {
        let api = crate::analyze_text("shared.yaml", SPEC).unwrap().api;
        // makeA's and makeB's bodies and addresses are the same shapes: one of each, shared;
        // makeC's differ (a `zip` for a `city`) and stay its own.
        let named = |name: &str| {
            api.types
                .iter()
                .filter(|def| def.name.starts_with(name))
                .map(|def| def.module)
                .collect::<Vec<_>>()
        };
        assert_eq!(named("BodyAddress"), [Module::Types, Module::Operation(2)]);
        assert_eq!(
            named("Body"),
            [
                Module::Types,
                Module::Types,
                Module::Operation(2),
                Module::Operation(2)
            ]
        );
        let body_of = |op: usize| match &api.operations[op].body.as_ref().unwrap().contents[0].kind
        {
            crate::ir::BodyKind::Json(TypeRef::Named(id)) => *id,
            other => panic!("{other:?}"),
        };
        assert_eq!(body_of(0), body_of(1));
        assert_ne!(body_of(0), body_of(2));
        // The shared body refers to the shared address, by its new number.
        let TypeKind::Struct { fields, .. } = &api.types[body_of(1)].kind else {
            panic!("a struct");
        };
        let TypeRef::Named(address) = fields[0].ty.clone() else {
            panic!("{:?}", fields[0].ty);
        };
        assert_eq!(api.types[address].name, "BodyAddress");
        assert_eq!(api.types[address].docs.as_deref(), Some("Where A lives."));
    }
}
