//! Which serde traits each type implements. A request is only read and a response only
//! written, so a type a request holds derives `Deserialize`, one a response (or a parameter,
//! which the contract checks as JSON) holds derives `Serialize`, and a type no operation
//! reaches keeps both for the handlers' own use. `Deserialize` is most of a large crate's
//! compile time; Stripe's responses alone hold two thousand types.

use crate::ir::{
    AlsoDerive, BodyKind, Operation, SerdeUse, TypeDef, TypeId, TypeKind, TypeRef, TypeSettings,
};
use crate::load::Location;

/// Sets [`TypeDef::serde`] of every type from what the operations do with it, and what
/// `x-specjet.types` adds. With a `client`, the client writes what the server reads and
/// reads what it writes: every type derives both.
pub(crate) fn assign(
    types: &mut [TypeDef],
    operations: &[Operation],
    also: &TypeSettings,
    client: bool,
) {
    let mut read = Vec::new();
    let mut written = Vec::new();
    for op in operations {
        for param in &op.params {
            read.extend(param.ty.named());
            written.extend(param.ty.named());
        }
        for content in op.body.iter().flat_map(|body| &body.contents) {
            read.extend(body_type(&content.kind));
        }
        for response in &op.responses {
            written.extend(response.contents.iter().filter_map(|c| body_type(&c.kind)));
            written.extend(response.headers.iter().filter_map(|h| h.ty.named()));
        }
    }
    // A type no operation reaches keeps both traits, and so does everything it holds.
    let used = reachable(types, read.iter().chain(&written).copied().collect());
    let unused = (0..types.len()).filter(|&id| !used[id]);
    read.extend(unused.clone());
    written.extend(unused);
    read.extend(also_derived(types, &also.deserialize));
    written.extend(also_derived(types, &also.serialize));
    if client {
        let both: Vec<TypeId> = read.iter().chain(&written).copied().collect();
        read.clone_from(&both);
        written = both;
    }
    let read = reachable(types, read);
    let written = reachable(types, written);
    for (id, def) in types.iter_mut().enumerate() {
        def.serde = SerdeUse {
            serialize: written[id],
            deserialize: read[id],
        };
    }
}

/// The types `x-specjet.types` names for a trait.
fn also_derived(types: &[TypeDef], also: &AlsoDerive) -> Vec<TypeId> {
    match also {
        AlsoDerive::All => (0..types.len()).collect(),
        AlsoDerive::Schemas(names) => {
            let schemas = Location::component_schemas();
            let origins: Vec<String> = names.iter().map(|n| schemas.child(n).pointer).collect();
            (0..types.len())
                .filter(|&id| origins.contains(&types[id].origin))
                .collect()
        }
    }
}

fn body_type(kind: &BodyKind) -> Option<TypeId> {
    kind.value_type().and_then(TypeRef::named)
}

/// Every type reachable from `roots`, as a mark per type id.
fn reachable(types: &[TypeDef], mut pending: Vec<TypeId>) -> Vec<bool> {
    let mut seen = vec![false; types.len()];
    while let Some(id) = pending.pop() {
        if std::mem::replace(&mut seen[id], true) {
            continue;
        }
        pending.extend(references(&types[id].kind).filter_map(TypeRef::named));
    }
    seen
}

/// The type references a type's definition holds.
fn references(kind: &TypeKind) -> Box<dyn Iterator<Item = &TypeRef> + '_> {
    match kind {
        TypeKind::Struct {
            fields, additional, ..
        } => Box::new(fields.iter().map(|f| &f.ty).chain(additional)),
        TypeKind::Union { variants, .. } => Box::new(variants.iter().map(|v| &v.ty)),
        TypeKind::Alias(target) | TypeKind::Newtype(target) => Box::new(std::iter::once(target)),
        TypeKind::StringEnum { .. } | TypeKind::IntEnum { .. } => Box::new(std::iter::empty()),
    }
}

#[cfg(test)]
mod tests {
    use crate::ir::SerdeUse;

    const SPEC: &str = r#"
openapi: 3.0.3
info: {title: Directions, version: '1'}
paths:
  /pets:
    get:
      operationId: listPets
      responses:
        '200':
          description: A page of pets.
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Page'}
    post:
      operationId: addPet
      parameters:
        - {name: kind, in: query, schema: {$ref: '#/components/schemas/Kind'}}
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/NewPet'}
      responses:
        '200':
          description: The pet.
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Pet'}
  /owners:
    put:
      operationId: putOwner
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Owner'}
      responses:
        '200':
          description: The owner.
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Owner'}
components:
  schemas:
    Kind: {type: string, enum: [cat, dog]}
    NewPet:
      type: object
      properties:
        name: {type: string}
    Pet:
      type: object
      properties:
        name: {type: string}
        tag: {$ref: '#/components/schemas/Tag'}
    Page:
      type: object
      properties:
        items:
          type: array
          items: {$ref: '#/components/schemas/Summary'}
    Summary:
      type: object
      properties:
        name: {type: string}
    Tag:
      type: object
      properties:
        label: {type: string}
    Owner:
      type: object
      properties:
        name: {type: string}
    Webhook:
      type: object
      properties:
        pet: {$ref: '#/components/schemas/Pet'}
"#;

    #[test]
    fn a_type_derives_what_its_operations_do_with_it() {
        let api = crate::analyze_text("directions.yaml", SPEC).unwrap().api;
        let serde_of = |name: &str| {
            api.types
                .iter()
                .find(|def| def.name == name)
                .unwrap_or_else(|| panic!("no type {name}"))
                .serde
        };
        let read = SerdeUse {
            serialize: false,
            deserialize: true,
        };
        let written = SerdeUse {
            serialize: true,
            deserialize: false,
        };
        assert_eq!(serde_of("NewPet"), read, "a request body is only read");
        assert_eq!(serde_of("Page"), written, "a response is only written");
        assert_eq!(serde_of("Summary"), written, "and what it holds");
        assert_eq!(serde_of("Tag"), SerdeUse::BOTH, "Webhook reads it too");
        assert_eq!(serde_of("Owner"), SerdeUse::BOTH, "read and written");
        // A parameter is read, and written as JSON for its schema check.
        assert_eq!(serde_of("Kind"), SerdeUse::BOTH);
        // No operation holds `Webhook`: it keeps both, and so does what it holds.
        assert_eq!(serde_of("Webhook"), SerdeUse::BOTH);
        assert_eq!(serde_of("Pet"), SerdeUse::BOTH);
    }

    #[test]
    fn x_specjet_types_adds_the_traits_handlers_use_themselves() {
        // The handlers read `Page` from a JSON column and forward `NewPet` to a queue.
        let spec = SPEC.replace(
            "info: {title",
            "x-specjet: {types: {deserialize: [Page], serialize: [NewPet]}}\ninfo: {title",
        );
        let api = crate::analyze_text("directions.yaml", &spec).unwrap().api;
        let serde_of = |name: &str| api.types.iter().find(|def| def.name == name).unwrap().serde;
        assert_eq!(serde_of("Page"), SerdeUse::BOTH);
        assert_eq!(serde_of("Summary"), SerdeUse::BOTH, "what `Page` holds too");
        assert_eq!(serde_of("NewPet"), SerdeUse::BOTH);

        let all = SPEC.replace(
            "info: {title",
            "x-specjet: {types: {deserialize: all}}\ninfo: {title",
        );
        let api = crate::analyze_text("directions.yaml", &all).unwrap().api;
        assert!(api.types.iter().all(|def| def.serde.deserialize));

        let unknown = SPEC.replace(
            "info: {title",
            "x-specjet: {types: {deserialize: [Pets], write: all}}\ninfo: {title",
        );
        let analysis = crate::analyze_text("directions.yaml", &unknown).unwrap();
        let errors: Vec<String> = analysis
            .diagnostics
            .items()
            .iter()
            .map(|d| format!("{} {}", d.pointer, d.message))
            .collect();
        assert!(
            errors.contains(
                &"/x-specjet/types/deserialize/0 no schema `Pets` in `components/schemas`"
                    .to_owned()
            ),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("/x-specjet/types/write unknown key")),
            "{errors:?}"
        );
    }
}
