//! Schemas → Rust types.
//!
//! Component schemas become named types in the `types` module under their own names; inline
//! objects, enums and unions become named types in the module of the place that uses them,
//! named from that place (`PetOwner`, `OkBody`). What cannot be typed faithfully becomes
//! `serde_json::Value` with a warning that says where and why.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::diag::{Diagnostics, Severity};
use crate::ir::{
    DefaultValue, EnumVariant, Field, IntVariant, Module, SerdeUse, TypeDef, TypeId, TypeKind,
    TypeRef, UnionVariant,
};
use crate::load::{Location, Spec};
use crate::naming::{field_name, type_name, Namespace};
use crate::pointer;

/// How deeply inline schemas may nest before the rest is typed as a JSON value. rustc checks
/// auto traits (`Send`) through nested types only to a depth of 128, so a deeper chain of
/// structs would not compile.
const MAX_DEPTH: usize = 96;
/// How deeply arrays and maps may nest in one type expression (`Vec<Vec<...>>`).
const MAX_CONTAINER_DEPTH: usize = 16;
/// Longest generated type name; longer ones (names built from deep nesting) are cut.
const MAX_NAME_LEN: usize = 64;

/// A lowered schema: its type and whether `null` is allowed.
#[derive(Debug, Clone)]
pub(crate) struct Ty {
    pub ty: TypeRef,
    pub nullable: bool,
}

impl Ty {
    fn plain(ty: TypeRef) -> Ty {
        Ty {
            ty,
            nullable: false,
        }
    }

    /// The type with `Option` when null is allowed (array items, map values).
    pub(crate) fn wrapped(self) -> TypeRef {
        if self.nullable && !matches!(self.ty, TypeRef::Value | TypeRef::Option(_)) {
            TypeRef::option(self.ty)
        } else {
            self.ty
        }
    }
}

/// Builds the types of one API.
pub(crate) struct TypeBuilder<'a> {
    spec: &'a Spec,
    pub types: Vec<TypeDef>,
    pub diags: Diagnostics,
    by_location: HashMap<Location, TypeId>,
    namespaces: HashMap<Module, Namespace>,
    depth: usize,
    /// Locations whose `allOf` is being merged (guards against `allOf` cycles).
    merging: HashSet<Location>,
}

impl<'a> TypeBuilder<'a> {
    pub(crate) fn new(spec: &'a Spec) -> Self {
        TypeBuilder {
            spec,
            types: Vec::new(),
            diags: Diagnostics::default(),
            by_location: HashMap::new(),
            namespaces: HashMap::new(),
            depth: 0,
            merging: HashSet::new(),
        }
    }

    fn warn(&mut self, location: &Location, message: impl Into<String>) {
        let file = self.spec.doc_name(location.doc).to_owned();
        self.diags
            .push(Severity::Warning, &file, &location.pointer, message);
    }

    /// Reserves a name in a module (for names the generator itself uses there).
    pub(crate) fn reserve(&mut self, module: Module, names: &[&str]) {
        let namespace = self.namespaces.entry(module).or_default();
        for name in names {
            namespace.claim(name);
        }
    }

    /// Claims a unique type name in a module for a type the generator itself defines.
    pub(crate) fn claim_name(&mut self, module: Module, base: &str) -> String {
        self.namespaces.entry(module).or_default().claim(base)
    }

    fn new_type(
        &mut self,
        hint: &str,
        module: Module,
        location: &Location,
        docs: Option<String>,
    ) -> TypeId {
        let mut base = type_name(hint);
        base.truncate(MAX_NAME_LEN);
        let name = self.namespaces.entry(module).or_default().claim(&base);
        self.types.push(TypeDef {
            name,
            module,
            docs,
            origin: location.pointer.clone(),
            kind: TypeKind::Alias(TypeRef::Value),
            serde: SerdeUse::BOTH,
        });
        self.types.len() - 1
    }

    /// Names every component schema first, so they keep their own names whatever inline type
    /// is met before them; then defines them in document order.
    pub(crate) fn define_components(&mut self) {
        let root = Location::component_schemas();
        let Some(Value::Object(schemas)) = self.spec.get(&root) else {
            return;
        };
        let names: Vec<String> = schemas.keys().cloned().collect();
        let mut pending = Vec::new();
        for name in names {
            let location = root.child(&name);
            let docs = self.spec.get(&location).and_then(description);
            let id = self.new_type(&name, Module::Types, &location, docs);
            self.by_location.insert(location.clone(), id);
            pending.push((id, location));
        }
        for (id, location) in pending {
            self.define(id, &location);
        }
    }

    /// Sets the definition of a registered type from the schema at `location`.
    fn define(&mut self, id: TypeId, location: &Location) {
        let hint = self.types[id].name.clone();
        let module = self.types[id].module;
        let kind = match self.spec.get(location) {
            Some(value) if value.get("$ref").is_some() => {
                let ty = self.schema(location, &hint, module);
                TypeKind::Alias(ty.wrapped())
            }
            Some(value) => {
                let value = value.clone();
                match self.shape(location, &value, &hint, module, Some(id)) {
                    Shape::Defined => return,
                    Shape::Type(ty) => TypeKind::Alias(ty.wrapped()),
                }
            }
            None => TypeKind::Alias(TypeRef::Value),
        };
        self.types[id].kind = kind;
    }

    /// The type of the schema at `location`, used where `hint` names it.
    pub(crate) fn schema(&mut self, location: &Location, hint: &str, module: Module) -> Ty {
        let Some(value) = self.spec.get(location) else {
            self.warn(location, "schema not found; typed as a JSON value");
            return Ty::plain(TypeRef::Value);
        };
        if let Some(reference) = value.get("$ref") {
            let Some(reference) = reference.as_str() else {
                self.warn(location, "`$ref` is not a string; typed as a JSON value");
                return Ty::plain(TypeRef::Value);
            };
            return self.reference(location, reference, hint);
        }
        if let Some(&id) = self.by_location.get(location) {
            let nullable = is_nullable(value);
            return Ty {
                ty: TypeRef::Named(id),
                nullable,
            };
        }
        if self.depth >= MAX_DEPTH {
            self.warn(location, "schema nested too deeply; typed as a JSON value");
            return Ty::plain(TypeRef::Value);
        }
        let value = value.clone();
        self.depth += 1;
        let shape = self.shape(location, &value, hint, module, None);
        self.depth -= 1;
        match shape {
            Shape::Type(ty) => ty,
            // `shape` registered the location when it defined a type.
            Shape::Defined => Ty {
                ty: self
                    .by_location
                    .get(location)
                    .map_or(TypeRef::Value, |&id| TypeRef::Named(id)),
                nullable: is_nullable(&value),
            },
        }
    }

    fn reference(&mut self, location: &Location, reference: &str, hint: &str) -> Ty {
        // A reference that leads nowhere breaks the document (an error in `validate`, at the
        // `$ref` itself); generation goes on with a JSON value.
        let broken = |this: &mut Self, message: String| {
            let file = this.spec.doc_name(location.doc).to_owned();
            let at = location.child("$ref");
            this.diags.push(
                Severity::Nonstandard,
                &file,
                &at.pointer,
                format!("{message}; typed as a JSON value"),
            );
            Ty::plain(TypeRef::Value)
        };
        let target = match self.spec.ref_target(location.doc, reference) {
            Ok(target) => target,
            Err(message) => return broken(self, message),
        };
        // A chain of references that never reaches a schema (`A: {$ref: A}`) has no type.
        if let Err(message) = self.spec.deref(&target) {
            return broken(self, message);
        }
        let nullable = self.spec.get(&target).is_some_and(is_nullable);
        if let Some(&id) = self.by_location.get(&target) {
            return Ty {
                ty: TypeRef::Named(id),
                nullable,
            };
        }
        // A schema outside `components/schemas` (another file, or a path inside a schema):
        // it gets a named type of its own, named after where it lives.
        let name = ref_name(&target.pointer, self.spec.doc_name(target.doc))
            .unwrap_or_else(|| hint.to_owned());
        let docs = self.spec.get(&target).and_then(description);
        let id = self.new_type(&name, Module::Types, &target, docs);
        self.by_location.insert(target.clone(), id);
        if self.depth >= MAX_DEPTH {
            self.warn(location, "schema nested too deeply; typed as a JSON value");
        } else {
            self.depth += 1;
            self.define(id, &target);
            self.depth -= 1;
        }
        Ty {
            ty: TypeRef::Named(id),
            nullable,
        }
    }

    /// Lowers an inline schema. When it needs a named type, that type is `existing` (a
    /// component being defined) or a new one named `hint`.
    fn shape(
        &mut self,
        location: &Location,
        value: &Value,
        hint: &str,
        module: Module,
        existing: Option<TypeId>,
    ) -> Shape {
        let Value::Object(schema) = value else {
            // `true` / `{}` mean any value; anything else is not a schema.
            if !matches!(value, Value::Bool(true)) {
                self.warn(location, "schema is not an object; typed as a JSON value");
            }
            return Shape::Type(Ty::plain(TypeRef::Value));
        };
        let nullable = is_nullable(value);
        let docs = description(value);

        if let Some(Value::Array(parts)) = schema.get("allOf") {
            if !parts.is_empty() {
                return self.all_of(location, value, hint, module, existing);
            }
        }
        let mut beside_properties = None;
        for keyword in ["oneOf", "anyOf"] {
            if let Some(Value::Array(variants)) = schema.get(keyword) {
                if !variants.is_empty() {
                    if has_properties(value) {
                        // Properties shared by every variant, plus the variant: a struct
                        // with the union flattened into it (unless the members only constrain).
                        if self.union_has_types(location, keyword, variants.len()) {
                            beside_properties = Some(keyword);
                        }
                        break;
                    }
                    return self.union(location, value, keyword, hint, module, existing, location);
                }
            }
        }
        if let Some(Value::Array(values)) = schema.get("enum") {
            if let Some(shape) = self.enumeration(location, values, value, hint, module, existing) {
                return shape;
            }
        }
        let types = type_names(value);
        let primary = types.iter().find(|t| *t != "null").cloned();
        if types.iter().filter(|t| *t != "null").count() > 1 {
            self.warn(location, "several types allowed; typed as a JSON value");
            return Shape::Type(Ty {
                ty: TypeRef::Value,
                nullable,
            });
        }
        let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
        let scalar = match primary.as_deref() {
            Some("string") => Some(TypeRef::String),
            Some("boolean") => Some(TypeRef::Bool),
            Some("integer") => Some(match format {
                "int32" => TypeRef::I32,
                "uint32" => TypeRef::U32,
                "uint64" => TypeRef::U64,
                _ => TypeRef::I64,
            }),
            Some("number") => Some(match format {
                "float" => TypeRef::F32,
                "int32" => TypeRef::I32,
                "int64" => TypeRef::I64,
                _ => TypeRef::F64,
            }),
            Some("null") | None
                if !has_properties(value)
                    && !schema.contains_key("items")
                    && !schema.contains_key("additionalProperties") =>
            {
                Some(TypeRef::Value)
            }
            Some("array") | Some("object") | None => None,
            Some(other) => {
                self.warn(
                    location,
                    format!("unknown type `{other}`; typed as a JSON value"),
                );
                Some(TypeRef::Value)
            }
        };
        if let Some(ty) = scalar {
            return Shape::Type(Ty { ty, nullable });
        }
        if primary.as_deref() == Some("array")
            || (primary.is_none() && schema.contains_key("items"))
        {
            let item_hint = format!("{hint}Item");
            let items = match schema.get("items") {
                Some(Value::Array(_)) => {
                    self.warn(
                        location,
                        "tuple `items` is not supported; items typed as JSON values",
                    );
                    TypeRef::Value
                }
                Some(_) => self
                    .schema(&location.child("items"), &item_hint, module)
                    .wrapped(),
                None => TypeRef::Value,
            };
            return self.container(location, TypeRef::Vec(Box::new(items)), nullable);
        }
        // An object.
        let additional = schema.get("additionalProperties");
        if !has_properties(value) && !matches!(additional, Some(Value::Bool(false))) {
            let values = match additional {
                Some(Value::Object(_)) => self
                    .schema(
                        &location.child("additionalProperties"),
                        &format!("{hint}Value"),
                        module,
                    )
                    .wrapped(),
                _ => TypeRef::Value,
            };
            return self.container(location, TypeRef::Map(Box::new(values)), nullable);
        }
        let id = self.claim(location, hint, module, existing, docs);
        let mut fields = FieldSet::new(&self.types[id].name, module);
        self.collect_properties(location, value, &mut fields);
        if let Some(keyword) = beside_properties {
            let union_hint = format!("{}Variant", fields.parent);
            let key = location.child(keyword);
            let ty = match self.union(location, value, keyword, &union_hint, module, None, &key) {
                Shape::Defined => self
                    .by_location
                    .get(&key)
                    .map_or(TypeRef::Value, |&id| TypeRef::Named(id)),
                Shape::Type(ty) => ty.ty,
            };
            self.flatten_into(location, &mut fields, ty, "variant");
        }
        let additional_ty = self.additional(location, value, &fields);
        let deny_unknown =
            matches!(additional, Some(Value::Bool(false))) && !fields.has_flattened();
        self.types[id].kind = TypeKind::Struct {
            fields: fields.finish(),
            additional: additional_ty,
            deny_unknown,
        };
        Shape::Defined
    }

    /// An array or map type, or a JSON value (with a warning) when containers nest too deeply.
    fn container(&mut self, location: &Location, ty: TypeRef, nullable: bool) -> Shape {
        if container_depth(&ty) > MAX_CONTAINER_DEPTH {
            self.warn(
                location,
                "arrays or maps nested too deeply; typed as a JSON value",
            );
            return Shape::Type(Ty {
                ty: TypeRef::Value,
                nullable,
            });
        }
        Shape::Type(Ty { ty, nullable })
    }

    /// The type id for a schema that defines a named type: the component itself, or a new
    /// type registered at `location` so later uses of the same schema share it.
    fn claim(
        &mut self,
        location: &Location,
        hint: &str,
        module: Module,
        existing: Option<TypeId>,
        docs: Option<String>,
    ) -> TypeId {
        match existing {
            Some(id) => id,
            None => {
                let id = self.new_type(hint, module, location, docs);
                self.by_location.insert(location.clone(), id);
                id
            }
        }
    }

    fn additional(
        &mut self,
        location: &Location,
        value: &Value,
        fields: &FieldSet,
    ) -> Option<TypeRef> {
        match value.get("additionalProperties") {
            Some(Value::Bool(true)) => Some(TypeRef::Value),
            Some(Value::Object(map)) if map.is_empty() => Some(TypeRef::Value),
            Some(Value::Object(_)) => {
                let hint = format!("{}Value", fields.parent);
                Some(
                    self.schema(
                        &location.child("additionalProperties"),
                        &hint,
                        fields.module,
                    )
                    .wrapped(),
                )
            }
            _ => None,
        }
    }

    /// Adds the `properties` of an object schema to `fields`.
    fn collect_properties(&mut self, location: &Location, value: &Value, fields: &mut FieldSet) {
        let required: HashSet<&str> = value
            .get("required")
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(Value::Object(properties)) = value.get("properties") else {
            return;
        };
        let module = fields.module;
        for (wire, property) in properties {
            let property_location = location.child("properties").child(wire);
            let hint = format!("{}{}", fields.parent, type_name(wire));
            let ty = self.schema(&property_location, &hint, module);
            let resolved = self.resolved(&property_location);
            let read_or_write_only = resolved.as_ref().is_some_and(|schema| {
                schema.get("readOnly") == Some(&Value::Bool(true))
                    || schema.get("writeOnly") == Some(&Value::Bool(true))
            });
            let docs = description(property).or_else(|| resolved.as_ref().and_then(description));
            let default = property
                .get("default")
                .and_then(|default| self.default_value(default, &ty.ty));
            fields.add(Field {
                name: String::new(),
                wire: wire.clone(),
                ty: ty.ty,
                // readOnly members are absent from requests and writeOnly ones from
                // responses, so one type serves both only when they are optional.
                required: required.contains(wire.as_str()) && !read_or_write_only,
                nullable: ty.nullable,
                docs,
                default,
                flatten: false,
            });
        }
    }

    /// Adds a flattened member of type `ty`, when `ty` is object-shaped (a struct, a union or
    /// a map); otherwise the part cannot be merged and is left out with a warning.
    fn flatten_into(
        &mut self,
        location: &Location,
        fields: &mut FieldSet,
        ty: TypeRef,
        wire: &str,
    ) {
        if !self.is_object_shaped(&ty) {
            self.warn(
                location,
                "a part that is not an object cannot be merged into the object; it is left out",
            );
            return;
        }
        // serde gives a member to a named field before any flattened one, so members that the
        // flattened part declares (a discriminator, most often) must be left to it.
        let mut owned = HashSet::new();
        self.member_names(&ty, &mut owned, 0);
        fields
            .fields
            .retain(|f| f.flatten || !owned.contains(&f.wire));
        fields.add(Field {
            name: String::new(),
            wire: wire.to_owned(),
            ty,
            required: true,
            nullable: false,
            docs: None,
            default: None,
            flatten: true,
        });
    }

    fn union_has_types(&self, location: &Location, keyword: &str, count: usize) -> bool {
        (0..count).any(|index| {
            self.spec
                .deref(&location.child(keyword).child(&index.to_string()))
                .is_ok_and(|(_, member)| {
                    !is_constraint_only(member) && type_names(member) != ["null"]
                })
        })
    }

    /// Wire names of the members an object-shaped type declares (through unions and flattened
    /// parts).
    fn member_names(&self, ty: &TypeRef, out: &mut HashSet<String>, depth: usize) {
        if depth > 16 {
            return;
        }
        match ty {
            TypeRef::Box(inner) => self.member_names(inner, out, depth + 1),
            TypeRef::Named(id) => match &self.types[*id].kind {
                TypeKind::Struct { fields, .. } => {
                    for field in fields {
                        if field.flatten {
                            self.member_names(&field.ty, out, depth + 1);
                        } else {
                            out.insert(field.wire.clone());
                        }
                    }
                }
                TypeKind::Union {
                    variants,
                    discriminator,
                } => {
                    out.extend(discriminator.iter().cloned());
                    for variant in variants {
                        self.member_names(&variant.ty, out, depth + 1);
                    }
                }
                TypeKind::Alias(inner) | TypeKind::Newtype(inner) => {
                    self.member_names(inner, out, depth + 1)
                }
                TypeKind::StringEnum { .. } | TypeKind::IntEnum { .. } => {}
            },
            _ => {}
        }
    }

    fn is_object_shaped(&self, ty: &TypeRef) -> bool {
        match ty {
            TypeRef::Map(_) => true,
            TypeRef::Box(inner) => self.is_object_shaped(inner),
            TypeRef::Named(id) => match &self.types[*id].kind {
                TypeKind::Struct { .. } => true,
                TypeKind::Union { variants, .. } => {
                    variants.iter().all(|v| self.is_object_shaped(&v.ty))
                }
                TypeKind::Alias(inner) | TypeKind::Newtype(inner) => self.is_object_shaped(inner),
                TypeKind::StringEnum { .. } | TypeKind::IntEnum { .. } => false,
            },
            _ => false,
        }
    }

    /// The schema at `location` after following references.
    fn resolved(&self, location: &Location) -> Option<Value> {
        self.spec
            .deref(location)
            .ok()
            .map(|(_, value)| value.clone())
    }

    pub(crate) fn default_value(&self, default: &Value, ty: &TypeRef) -> Option<DefaultValue> {
        match (ty, default) {
            (TypeRef::Bool, Value::Bool(b)) => Some(DefaultValue::Bool(*b)),
            (TypeRef::I32, Value::Number(n)) => n
                .as_i64()
                .filter(|v| i32::try_from(*v).is_ok())
                .map(DefaultValue::Int),
            (TypeRef::I64, Value::Number(n)) => n.as_i64().map(DefaultValue::Int),
            (TypeRef::U32, Value::Number(n)) => n
                .as_i64()
                .filter(|v| u32::try_from(*v).is_ok())
                .map(DefaultValue::Int),
            (TypeRef::U64, Value::Number(n)) => {
                n.as_i64().filter(|v| *v >= 0).map(DefaultValue::Int)
            }
            (TypeRef::F32 | TypeRef::F64, Value::Number(n)) => n.as_f64().map(DefaultValue::Float),
            (TypeRef::String, Value::String(s)) => Some(DefaultValue::Str(s.clone())),
            (TypeRef::Named(id), Value::String(s)) => {
                match &self.types[*id].kind {
                    TypeKind::StringEnum { variants } => variants
                        .iter()
                        .find(|v| &v.wire == s)
                        .map(|v| DefaultValue::Variant {
                            name: v.name.clone(),
                            wire: v.wire.clone(),
                        }),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn all_of(
        &mut self,
        location: &Location,
        value: &Value,
        hint: &str,
        module: Module,
        existing: Option<TypeId>,
    ) -> Shape {
        let nullable = is_nullable(value);
        let parts = value
            .get("allOf")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // One part plus annotations (`allOf: [$ref]` with a description): that part's type.
        if parts.len() == 1 && !has_properties(value) {
            let ty = self.schema(&location.child("allOf").child("0"), hint, module);
            return Shape::Type(Ty {
                ty: ty.ty,
                nullable: nullable || ty.nullable,
            });
        }
        let mut objects = Vec::new();
        let mut others = Vec::new();
        self.merge_parts(location, value, &mut objects, &mut others);
        if objects.is_empty() && others.len() == 1 {
            let ty = self.schema(&others[0], hint, module);
            return Shape::Type(Ty {
                ty: ty.ty,
                nullable: nullable || ty.nullable,
            });
        }
        if objects.is_empty() && others.is_empty() {
            // Only annotations (`allOf: [{}, {description}]`): any value, faithfully.
            return Shape::Type(Ty {
                ty: TypeRef::Value,
                nullable,
            });
        }
        if objects.is_empty() {
            self.warn(
                location,
                "`allOf` of several non-object schemas; typed as a JSON value",
            );
            return Shape::Type(Ty {
                ty: TypeRef::Value,
                nullable,
            });
        }
        let id = self.claim(location, hint, module, existing, description(value));
        let mut fields = FieldSet::new(&self.types[id].name, module);
        let mut additional = None;
        let mut deny_unknown = false;
        for (part_location, part) in &objects {
            self.collect_properties(part_location, part, &mut fields);
            if additional.is_none() {
                additional = self.additional(part_location, part, &fields);
            }
            deny_unknown |= matches!(part.get("additionalProperties"), Some(Value::Bool(false)));
        }
        // Parts that are unions (or other object shapes) are flattened beside the properties.
        for (index, other) in others.iter().enumerate() {
            let part_hint = format!("{}Part{}", fields.parent, index + 1);
            let ty = self.schema(other, &part_hint, module).ty;
            self.flatten_into(other, &mut fields, ty, "part");
        }
        // Parts list `required` members declared by other parts.
        let required: HashSet<String> = objects
            .iter()
            .flat_map(|(_, part)| {
                part.get("required")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|name| name.as_str().map(str::to_owned))
            .collect();
        fields.require(&required);
        // An object assembled from parts cannot refuse members another part declares.
        let deny_unknown = deny_unknown && objects.len() == 1 && !fields.has_flattened();
        self.types[id].kind = TypeKind::Struct {
            fields: fields.finish(),
            additional,
            deny_unknown,
        };
        Shape::Defined
    }

    /// Flattens `allOf` (nested, through references) into object parts and other parts.
    fn merge_parts(
        &mut self,
        location: &Location,
        value: &Value,
        objects: &mut Vec<(Location, Value)>,
        others: &mut Vec<Location>,
    ) {
        if !self.merging.insert(location.clone()) {
            self.warn(location, "`allOf` refers to itself; the cycle is cut");
            return;
        }
        if has_properties(value) || value.get("required").is_some() {
            objects.push((location.clone(), value.clone()));
        }
        let parts = value
            .get("allOf")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        for index in 0..parts {
            let part_location = location.child("allOf").child(&index.to_string());
            let (resolved_location, resolved) = match self.spec.deref(&part_location) {
                Ok((l, v)) => (l, v.clone()),
                Err(message) => {
                    self.warn(&part_location, format!("{message}; the part is skipped"));
                    continue;
                }
            };
            if resolved.get("allOf").is_some() {
                self.merge_parts(&resolved_location, &resolved, objects, others);
            } else if is_object_like(&resolved) {
                objects.push((resolved_location, resolved));
            } else if resolved
                .as_object()
                .is_some_and(|o| o.keys().all(|k| !is_type_keyword(k)))
            {
                // Annotations only (`{description: ...}`): nothing to merge.
            } else {
                others.push(part_location);
            }
        }
        self.merging.remove(location);
    }

    /// `key` is where the union type is registered: the schema itself, or (for a union beside
    /// properties) a location of its own so the struct and the union do not collide.
    #[allow(clippy::too_many_arguments)]
    fn union(
        &mut self,
        location: &Location,
        value: &Value,
        keyword: &str,
        hint: &str,
        module: Module,
        existing: Option<TypeId>,
        key: &Location,
    ) -> Shape {
        let entries = value
            .get(keyword)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut nullable = is_nullable(value);
        let mut members = Vec::new();
        for index in 0..entries.len() {
            let entry_location = location.child(keyword).child(&index.to_string());
            let resolved = self
                .spec
                .deref(&entry_location)
                .ok()
                .map(|(l, v)| (l, v.clone()));
            if let Some((_, schema)) = &resolved {
                if type_names(schema) == ["null"] {
                    nullable = true;
                    continue;
                }
                if is_constraint_only(schema) {
                    continue;
                }
            }
            members.push((entry_location, resolved));
        }
        if members.is_empty() {
            return Shape::Type(Ty {
                ty: TypeRef::Value,
                nullable,
            });
        }
        if members.len() == 1 {
            let ty = self.schema(&members[0].0, hint, module);
            return Shape::Type(Ty {
                ty: ty.ty,
                nullable: nullable || ty.nullable,
            });
        }
        let id = self.claim(key, hint, module, existing, description(value));
        let parent = self.types[id].name.clone();
        let mut names = Namespace::default();
        let mut variants = Vec::new();
        for (index, (entry_location, _)) in members.iter().enumerate() {
            let entry_hint = format!("{parent}{}", index + 1);
            let ty = self.schema(entry_location, &entry_hint, module);
            let base = self.variant_base_name(&ty.ty);
            variants.push(UnionVariant {
                name: names.claim(&base),
                ty: ty.wrapped(),
                tags: Vec::new(),
            });
        }
        let discriminator = self.tags(location, value, &members, &mut variants);
        self.types[id].kind = TypeKind::Union {
            variants,
            discriminator,
        };
        Shape::Defined
    }

    /// Finds the property that tells the variants apart: the `discriminator` (with its
    /// mapping, or the referenced schema names), or else a property every variant declares
    /// with one constant value. `None` leaves the union untagged.
    fn tags(
        &mut self,
        location: &Location,
        value: &Value,
        members: &[(Location, Option<(Location, Value)>)],
        variants: &mut [UnionVariant],
    ) -> Option<String> {
        if let Some(property) = value
            .pointer("/discriminator/propertyName")
            .and_then(Value::as_str)
        {
            let mapping: Vec<(String, Location)> = value
                .pointer("/discriminator/mapping")
                .and_then(Value::as_object)
                .map(|mapping| {
                    mapping
                        .iter()
                        .filter_map(|(tag, target)| {
                            let target = target.as_str()?;
                            let reference = if target.contains('#') || target.contains('/') {
                                target.to_owned()
                            } else {
                                format!("#/components/schemas/{target}")
                            };
                            let resolved = self.spec.ref_target(location.doc, &reference).ok()?;
                            Some((tag.clone(), resolved))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let mut complete = true;
            for ((entry_location, resolved), variant) in members.iter().zip(variants.iter_mut()) {
                let target = self
                    .spec
                    .get(entry_location)
                    .and_then(|entry| entry.get("$ref"))
                    .and_then(Value::as_str)
                    .and_then(|reference| self.spec.ref_target(entry_location.doc, reference).ok());
                let mut tags: Vec<String> = mapping
                    .iter()
                    .filter(|(_, l)| {
                        Some(l) == target.as_ref()
                            || resolved.as_ref().is_some_and(|(rl, _)| rl == l)
                    })
                    .map(|(tag, _)| tag.clone())
                    .collect();
                if tags.is_empty() {
                    if let Some(target) = &target {
                        if let Some(name) = pointer::last(&target.pointer) {
                            tags.push(name);
                        }
                    }
                }
                complete &= !tags.is_empty();
                variant.tags = tags;
            }
            if complete && distinct_tags(variants) {
                return Some(property.to_owned());
            }
            for variant in variants.iter_mut() {
                variant.tags.clear();
            }
            self.warn(location, format!("discriminator `{property}` does not name every variant; the union is matched by shape"));
            return None;
        }
        // A property with one constant value in every variant works as a tag.
        let constants: Vec<Vec<(String, String)>> = members
            .iter()
            .map(|(_, resolved)| {
                resolved
                    .as_ref()
                    .map(|(_, schema)| constant_properties(schema))
                    .unwrap_or_default()
            })
            .collect();
        let first = constants.first()?;
        for (property, _) in first {
            let tags: Option<Vec<String>> = constants
                .iter()
                .map(|props| {
                    props
                        .iter()
                        .find(|(p, _)| p == property)
                        .map(|(_, tag)| tag.clone())
                })
                .collect();
            if let Some(tags) = tags {
                let unique: HashSet<&String> = tags.iter().collect();
                if unique.len() == tags.len() {
                    for (variant, tag) in variants.iter_mut().zip(tags) {
                        variant.tags = vec![tag];
                    }
                    return Some(property.clone());
                }
            }
        }
        None
    }

    fn variant_base_name(&self, ty: &TypeRef) -> String {
        match ty {
            TypeRef::Named(id) => self.types[*id].name.clone(),
            TypeRef::Bool => "Bool".into(),
            TypeRef::I32 | TypeRef::I64 | TypeRef::U32 | TypeRef::U64 => "Integer".into(),
            TypeRef::F32 | TypeRef::F64 => "Number".into(),
            TypeRef::String => "String".into(),
            TypeRef::Bytes => "Bytes".into(),
            TypeRef::Value => "Any".into(),
            TypeRef::Vec(inner) => format!("{}List", self.variant_base_name(inner)),
            TypeRef::Map(inner) => format!("{}Map", self.variant_base_name(inner)),
            TypeRef::Option(inner) | TypeRef::Box(inner) => self.variant_base_name(inner),
        }
    }

    fn enumeration(
        &mut self,
        location: &Location,
        values: &[Value],
        schema: &Value,
        hint: &str,
        module: Module,
        existing: Option<TypeId>,
    ) -> Option<Shape> {
        let nullable = is_nullable(schema) || values.iter().any(Value::is_null);
        let present: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
        if present.is_empty() {
            return Some(Shape::Type(Ty {
                ty: TypeRef::Value,
                nullable: true,
            }));
        }
        let docs = description(schema);
        let names = enum_names(schema, present.len());
        if present.iter().all(|v| v.is_string())
            && type_names(schema)
                .iter()
                .all(|t| t == "string" || t == "null")
        {
            let id = self.claim(location, hint, module, existing, docs);
            let mut namespace = Namespace::default();
            let mut seen = HashSet::new();
            let mut variants = Vec::new();
            for (index, value) in present.iter().enumerate() {
                let wire = value.as_str().unwrap_or_default().to_owned();
                if !seen.insert(wire.clone()) {
                    continue;
                }
                let base = names
                    .as_ref()
                    .map_or_else(|| type_name(&wire), |n| type_name(&n[index]));
                variants.push(EnumVariant {
                    name: namespace.claim(&base),
                    wire,
                    docs: None,
                });
            }
            self.types[id].kind = TypeKind::StringEnum { variants };
            return Some(Shape::Defined);
        }
        let integers: Option<Vec<i64>> = present.iter().map(|v| v.as_i64()).collect();
        if let Some(integers) = integers {
            if type_names(schema)
                .iter()
                .all(|t| t == "integer" || t == "number" || t == "null")
            {
                let id = self.claim(location, hint, module, existing, docs);
                let mut namespace = Namespace::default();
                let mut seen = HashSet::new();
                let mut variants = Vec::new();
                for (index, value) in integers.iter().enumerate() {
                    if !seen.insert(*value) {
                        continue;
                    }
                    let base = names
                        .as_ref()
                        .map_or_else(|| type_name(&value.to_string()), |n| type_name(&n[index]));
                    variants.push(IntVariant {
                        name: namespace.claim(&base),
                        value: *value,
                    });
                }
                self.types[id].kind = TypeKind::IntEnum { variants };
                return Some(Shape::Defined);
            }
        }
        if present.iter().all(|v| v.is_boolean()) {
            return Some(Shape::Type(Ty {
                ty: TypeRef::Bool,
                nullable,
            }));
        }
        let types = type_names(schema);
        if types
            .iter()
            .any(|t| t == "string" || t == "number" || t == "integer")
        {
            // An enum whose values do not match its type: keep the type, drop the list.
            self.warn(
                location,
                "enum values do not match the schema type; the list is not enforced",
            );
            return None;
        }
        self.warn(location, "enum of mixed values; typed as a JSON value");
        Some(Shape::Type(Ty {
            ty: TypeRef::Value,
            nullable,
        }))
    }

    /// Finishes the type graph: aliases that refer to themselves become newtypes, and fields
    /// that make a type contain itself are boxed.
    pub(crate) fn finish(mut self) -> (Vec<TypeDef>, Diagnostics) {
        crate::lower::recursion::break_cycles(&mut self.types);
        (self.types, self.diags)
    }
}

enum Shape {
    /// A named type was defined (and registered at its location).
    Defined,
    Type(Ty),
}

/// The fields of one struct being built; later properties with the same wire name replace
/// earlier ones (as `allOf` parts override).
struct FieldSet {
    parent: String,
    module: Module,
    fields: Vec<Field>,
}

impl FieldSet {
    fn new(parent: &str, module: Module) -> Self {
        FieldSet {
            parent: parent.to_owned(),
            module,
            fields: Vec::new(),
        }
    }

    fn add(&mut self, field: Field) {
        match self
            .fields
            .iter_mut()
            .find(|f| f.wire == field.wire && !f.flatten && !field.flatten)
        {
            Some(existing) => {
                let required = existing.required || field.required;
                *existing = field;
                existing.required = required;
            }
            None => self.fields.push(field),
        }
    }

    fn has_flattened(&self) -> bool {
        self.fields.iter().any(|f| f.flatten)
    }

    fn require(&mut self, names: &HashSet<String>) {
        for field in &mut self.fields {
            if names.contains(&field.wire) {
                field.required = true;
            }
        }
    }

    fn finish(mut self) -> Vec<Field> {
        let mut namespace = Namespace::default();
        for field in &mut self.fields {
            field.name = namespace.claim(&field_name(&field.wire));
        }
        self.fields
    }
}

fn container_depth(ty: &TypeRef) -> usize {
    match ty {
        TypeRef::Vec(inner) | TypeRef::Map(inner) => 1 + container_depth(inner),
        TypeRef::Option(inner) | TypeRef::Box(inner) => container_depth(inner),
        _ => 0,
    }
}

fn description(value: &Value) -> Option<String> {
    let text = value
        .get("description")
        .or_else(|| value.get("title"))
        .and_then(Value::as_str)?
        .trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// `type` as a list (3.0 has one name; 3.1 allows several).
fn type_names(value: &Value) -> Vec<String> {
    match value.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn is_nullable(value: &Value) -> bool {
    value.get("nullable") == Some(&Value::Bool(true))
        || type_names(value).iter().any(|t| t == "null")
}

fn has_properties(value: &Value) -> bool {
    value
        .get("properties")
        .is_some_and(|p| p.as_object().is_some_and(|p| !p.is_empty()))
}

fn is_object_like(value: &Value) -> bool {
    value.get("properties").is_some_and(Value::is_object)
        || type_names(value).iter().any(|t| t == "object")
        || value.get("additionalProperties").is_some()
        || (value.get("required").is_some()
            && value.get("oneOf").is_none()
            && value.get("anyOf").is_none()
            && value.get("enum").is_none())
}

/// A schema that only constrains (`{required: [id]}`, `{not: ...}`) and says nothing of the
/// shape: as a union member it adds no type.
fn is_constraint_only(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|o| !o.is_empty() && o.keys().all(|k| !is_type_keyword(k) && k != "nullable"))
}

fn is_type_keyword(key: &str) -> bool {
    matches!(
        key,
        "type"
            | "properties"
            | "items"
            | "enum"
            | "oneOf"
            | "anyOf"
            | "allOf"
            | "additionalProperties"
            | "$ref"
            | "const"
            | "format"
    )
}

/// Names for enum values from `x-enum-varnames` / `x-enumNames`, when there is one per value.
fn enum_names(schema: &Value, count: usize) -> Option<Vec<String>> {
    ["x-enum-varnames", "x-enumNames", "x-enum-names"]
        .iter()
        .find_map(|key| {
            let names: Vec<String> = schema
                .get(*key)?
                .as_array()?
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect();
            (names.len() == count).then_some(names)
        })
}

/// Properties declared with one constant string (`enum: [x]` or `const: x`).
fn constant_properties(schema: &Value) -> Vec<(String, String)> {
    let Some(Value::Object(properties)) = schema.get("properties") else {
        return Vec::new();
    };
    properties
        .iter()
        .filter_map(|(name, property)| {
            let constant = match (property.get("const"), property.get("enum")) {
                (Some(Value::String(c)), _) => c.clone(),
                (_, Some(Value::Array(values))) if values.len() == 1 => {
                    values[0].as_str()?.to_owned()
                }
                _ => return None,
            };
            Some((name.clone(), constant))
        })
        .collect()
}

fn distinct_tags(variants: &[UnionVariant]) -> bool {
    let mut seen = HashSet::new();
    variants
        .iter()
        .flat_map(|v| &v.tags)
        .all(|tag| seen.insert(tag))
}

/// A type name for a schema found by reference outside `components/schemas`: its key, or the
/// file's name for a whole-file reference.
fn ref_name(pointer_text: &str, doc_name: &str) -> Option<String> {
    let generic = [
        "schema",
        "items",
        "additionalProperties",
        "properties",
        "allOf",
        "oneOf",
        "anyOf",
        "content",
    ];
    let segments: Vec<String> = pointer::segments(pointer_text).collect();
    if let Some(name) = segments
        .iter()
        .rev()
        .find(|s| !generic.contains(&s.as_str()) && s.parse::<usize>().is_err() && !s.contains('/'))
    {
        return Some(name.clone());
    }
    let file = std::path::Path::new(doc_name).file_stem()?.to_str()?;
    Some(file.to_owned())
}
