//! Spec → IR: operations, parameters, bodies, responses and routes. Schemas are lowered by
//! [`schema`], path templates by [`paths`].

pub(crate) mod annotations;
mod fan_out;
pub(crate) mod paths;
pub(crate) mod recursion;
pub(crate) mod schema;
mod security;
mod serde_use;
mod share;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::diag::{Diagnostics, Severity};
use crate::ir::{
    Api, BodyKind, Content, InvalidationTarget, Method, Module, Operation, Param, ParamLocation,
    ParamStyle, Piece, RequestBody, Response, ResponseHeader, Route, StatusSpec, TypeKind, TypeRef,
};
use crate::load::{Location, Spec};
use crate::naming::{field_name, type_name, Namespace};
use annotations::Annotations;
use schema::TypeBuilder;

/// Names the generated code uses inside every operation module.
const OPERATION_RESERVED: &[&str] = &["Request", "Response"];
/// Field names of every request struct besides its parameters, and the locals of its `read`
/// (a parameter's field is a local there too).
const REQUEST_RESERVED: &[&str] = &[
    "body",
    "parts",
    "req_path",
    "req_query",
    "req_headers",
    "req_cookies",
    "req_body",
    "req_out_of_bounds",
    "principal",
    "last_event_id",
];

/// Lowers a loaded spec. Problems are added to `diags`.
/// `api` with its typed client, whatever its `x-specjet.client` says: the types derive what
/// the client needs too.
pub(crate) fn enable_client(api: &mut Api, only: bool) {
    api.settings.client = true;
    api.settings.client_only = only;
    serde_use::assign(&mut api.types, &api.operations, &api.settings.types, true);
}

pub(crate) fn lower(spec: &Spec, diags: &mut Diagnostics) -> Api {
    let root = spec.root();
    let mut types = TypeBuilder::new(spec);
    types.define_components();

    let info = root.get("info");
    let text = |key: &str| {
        info.and_then(|i| i.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let title = text("title").unwrap_or_else(|| "API".to_owned());
    let mut annotations = Annotations::new(spec);
    let settings = annotations.service_settings(&title);
    let mut lowering = Lowering {
        spec,
        types,
        diags: Diagnostics::default(),
        // Module names of the generated tree, and methods every `Api` already has
        // (`Clone::clone`, the provided hooks).
        operation_names: Namespace::with_reserved(
            &[
                &["types", "operations", "server", "clone", "clone_from"][..],
                &crate::ir::PROVIDED_HOOKS[..],
            ]
            .concat(),
        ),
        operations: Vec::new(),
        annotations,
        pending_invalidations: Vec::new(),
        pending_fan_outs: Vec::new(),
        check_formats: settings.validation.formats,
        security_schemes: Vec::new(),
    };
    lowering.security_schemes = lowering.security_schemes();
    lowering.check_builtin_verifiers(&settings);
    lowering.paths();
    paths::name_captures(&mut lowering.operations);
    lowering.resolve_invalidations();
    let fan_out_sites = lowering.resolve_fan_outs();
    let routes = lowering.routes();
    check_batch_path(
        &settings,
        &lowering.operations,
        &routes,
        &mut lowering.annotations,
    );
    check_docs_paths(&settings, &routes, &mut lowering.annotations);
    let Lowering {
        types,
        diags: own,
        mut operations,
        mut annotations,
        security_schemes,
        ..
    } = lowering;
    let (mut types, type_diags) = types.finish();
    fan_out::check_shapes(&fan_out_sites, &operations, &types, &mut annotations);
    share::identical_inline_types(&mut types, &mut operations);
    serde_use::assign(&mut types, &operations, &settings.types, settings.client);
    for d in own
        .items()
        .iter()
        .chain(type_diags.items())
        .chain(annotations.vocab.diags.items())
    {
        diags.push_diagnostic(d.clone());
    }
    // Embedded whether or not it is served: request bodies are checked against its schemas.
    let document = crate::bundle::document(spec, settings.docs.strip_annotations);
    Api {
        title,
        version: text("version").unwrap_or_default(),
        description: text("description"),
        operations,
        types,
        routes,
        settings,
        document,
        security_schemes,
    }
}

struct Lowering<'a> {
    spec: &'a Spec,
    types: TypeBuilder<'a>,
    diags: Diagnostics,
    operation_names: Namespace,
    operations: Vec<Operation>,
    annotations: Annotations<'a>,
    /// (invalidating operation, where, target operationId), resolved once all are known.
    pending_invalidations: Vec<(usize, Location, String)>,
    /// `x-fan-out` annotations, resolved once every operation is known.
    pending_fan_outs: Vec<(usize, annotations::FanOutAnnotation)>,
    /// `x-specjet.validation.formats`: a parameter with a checked format is checked.
    check_formats: bool,
    /// `components.securitySchemes`, read before the operations that name them.
    security_schemes: Vec<crate::ir::SecurityScheme>,
}

impl Lowering<'_> {
    /// A path item or operation that is not an object: `[]` and `null` (which real documents
    /// hold, and other tools read as empty) are read as `{}`, with a warning that says what
    /// that means (`read_as`); anything else is an error. Returns whether it was read as `{}`.
    fn not_an_object(
        &mut self,
        location: &Location,
        value: &Value,
        what: &str,
        read_as: &str,
    ) -> bool {
        let empty = value.is_null() || value.as_array().is_some_and(Vec::is_empty);
        if empty {
            let file = self.spec.doc_name(location.doc).to_owned();
            self.diags.push(
                Severity::Nonstandard,
                &file,
                &location.pointer,
                format!("{what} must be an object, not `{value}`; read as `{{}}`, {read_as}"),
            );
        } else {
            self.error(location, format!("{what} must be an object"));
        }
        empty
    }

    fn warn(&mut self, location: &Location, message: impl Into<String>) {
        let file = self.spec.doc_name(location.doc).to_owned();
        self.diags
            .push(Severity::Warning, &file, &location.pointer, message);
    }

    fn error(&mut self, location: &Location, message: impl Into<String>) {
        let file = self.spec.doc_name(location.doc).to_owned();
        self.diags
            .push(Severity::Error, &file, &location.pointer, message);
    }

    /// Follows references from `location`, reporting a broken one at its `$ref`.
    fn deref(&mut self, location: &Location) -> Option<(Location, Value)> {
        match self.spec.deref(location) {
            Ok((location, value)) => Some((location, value.clone())),
            Err(message) => {
                let reference = location.child("$ref");
                let at = if self.spec.get(&reference).is_some() {
                    &reference
                } else {
                    location
                };
                self.error(at, message);
                None
            }
        }
    }

    fn paths(&mut self) {
        let paths_location = Location {
            doc: 0,
            pointer: "/paths".to_owned(),
        };
        let paths: Vec<String> = match self.spec.get(&paths_location) {
            Some(Value::Object(paths)) => paths.keys().cloned().collect(),
            Some(_) => {
                self.error(&paths_location, "`paths` is not an object");
                return;
            }
            None => return,
        };
        for path in paths {
            if path.starts_with("x-") {
                continue;
            }
            let item_location = paths_location.child(&path);
            let Some((item_location, item)) = self.deref(&item_location) else {
                continue;
            };
            let Value::Object(item_map) = &item else {
                self.not_an_object(&item_location, &item, "a path item", "without operations");
                continue;
            };
            let template = paths::parse(&path);
            if let Some(suffix) = &template.dropped_suffix {
                self.warn(
                    &item_location,
                    format!(
                        "`{suffix}` in a path key is not part of the URL; routed as `{}`",
                        template.axum_path
                    ),
                );
            }
            for (key, _) in item_map {
                let Some(method) = Method::ALL
                    .iter()
                    .copied()
                    .find(|m| m.as_str() == key.to_ascii_lowercase())
                else {
                    continue;
                };
                let operation_location = item_location.child(key);
                self.operation(
                    &path,
                    &template,
                    method,
                    (&item_location, &item),
                    &operation_location,
                );
            }
        }
    }

    fn operation(
        &mut self,
        path: &str,
        template: &paths::Template,
        method: Method,
        item: (&Location, &Value),
        location: &Location,
    ) {
        let item_location = item.0;
        let Some((location, mut operation)) = self.deref(location) else {
            return;
        };
        // An operation that declares nothing is valid OpenAPI 3.1 (3.0 wants `responses`): it
        // is generated like any other, and answers what its handler answers (the scaffold's,
        // 501) with the statuses it documents (none).
        if !operation.is_object() {
            let read_as = "an operation that declares nothing, generated like any other";
            if !self.not_an_object(&location, &operation, "an operation", read_as) {
                return;
            }
            operation = Value::Object(serde_json::Map::new());
        }
        let id = match operation
            .get("operationId")
            .and_then(Value::as_str)
            .map(str::trim)
        {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => format!("{} {}", method.as_str(), path),
        };
        let name = self.operation_names.claim(&field_name(&id));
        let index = self.operations.len();
        let module = Module::Operation(index);
        self.types.reserve(module, OPERATION_RESERVED);

        let params = self.params(template, item_location, &location, module);
        let body = self.request_body(&location, &operation, module);
        let responses = self.responses(&location, &operation, module);
        let text = |key: &str| {
            operation
                .get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let schemes = std::mem::take(&mut self.security_schemes);
        let security = self.security_of(&schemes, (&location, &operation));
        self.security_schemes = schemes;
        let secured = security::requires_credentials(&security);
        let names_in = |location: ParamLocation| -> Vec<String> {
            params
                .iter()
                .filter(|p| p.location == location)
                .map(|p| p.wire.clone())
                .collect()
        };
        let path_params = names_in(ParamLocation::Path);
        let query_params = names_in(ParamLocation::Query);
        let facts = annotations::OperationFacts {
            id: &id,
            method,
            path_params: &path_params,
            query_params: &query_params,
        };
        let mut policies = self
            .annotations
            .policies(&facts, item, (&location, &operation));
        let (targets, tags) = self
            .annotations
            .invalidates(&facts, (&location, &operation));
        for (at, target) in targets {
            self.pending_invalidations.push((index, at, target));
        }
        policies.invalidate_tags = tags;
        let streams = crate::ir::answers_with_stream(&responses);
        if streams && policies.cache.is_some() {
            self.warn(
                &location,
                "a streaming answer (server-sent events, items) is never cached: this operation's `x-cache` is left out",
            );
            policies.cache = None;
        }
        if streams && policies.batch_group.is_some() {
            self.warn(
                &location,
                "a batch holds whole answers, not streams: this operation's `x-batch-group` is left out",
            );
            policies.batch_group = None;
        }
        let slo = self.annotations.slo(item, (&location, &operation));
        let load_weight = self.annotations.load_weight(&location, &operation);
        let tags = operation
            .get("tags")
            .and_then(Value::as_array)
            .map(|tags| {
                tags.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        self.operations.push(Operation {
            id,
            name,
            method,
            path: path.to_owned(),
            summary: text("summary"),
            description: text("description"),
            deprecated: operation.get("deprecated") == Some(&Value::Bool(true)),
            params,
            body,
            responses,
            route: usize::MAX,
            path_captures: template.captures.clone(),
            secured,
            security,
            policies,
            fan_out: None,
            tags,
            slo,
            load_weight,
        });
        if let Some(found) = self.annotations.fan_out((&location, &operation)) {
            self.pending_fan_outs.push((index, found));
        }
    }

    /// Path-item and operation parameters (the operation's win on the same name and place),
    /// plus any parameter the path template names but the spec forgot to declare.
    fn params(
        &mut self,
        template: &paths::Template,
        item_location: &Location,
        location: &Location,
        module: Module,
    ) -> Vec<Param> {
        let mut declared: Vec<(Location, Value)> = Vec::new();
        for owner in [item_location, location] {
            let list_location = owner.child("parameters");
            let count = self
                .spec
                .get(&list_location)
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            for index in 0..count {
                let Some((param_location, param)) =
                    self.deref(&list_location.child(&index.to_string()))
                else {
                    continue;
                };
                let key = |p: &Value| (p.get("name").cloned(), p.get("in").cloned());
                declared.retain(|(_, existing)| key(existing) != key(&param));
                declared.push((param_location, param));
            }
        }
        let mut fields = Namespace::with_reserved(REQUEST_RESERVED);
        let mut params = Vec::new();
        for (param_location, param) in declared {
            let Some(name) = param.get("name").and_then(Value::as_str) else {
                self.error(&param_location, "parameter without a `name`");
                continue;
            };
            let place = match param.get("in").and_then(Value::as_str) {
                Some("path") => ParamLocation::Path,
                Some("query") => ParamLocation::Query,
                Some("header") => ParamLocation::Header,
                Some("cookie") => ParamLocation::Cookie,
                other => {
                    self.error(
                        &param_location,
                        format!("parameter `{name}` has an unknown `in`: {other:?}"),
                    );
                    continue;
                }
            };
            if place == ParamLocation::Path && !template.params.iter().any(|p| p == name) {
                self.warn(
                    &param_location,
                    format!("path parameter `{name}` is not in the path template; it is ignored"),
                );
                continue;
            }
            if place == ParamLocation::Header
                && ["accept", "content-type", "authorization"]
                    .contains(&name.to_ascii_lowercase().as_str())
            {
                // OpenAPI says these are ignored as parameters: the request parts carry them.
                continue;
            }
            let field = fields.claim(&field_name(name));
            let required =
                place == ParamLocation::Path || param.get("required") == Some(&Value::Bool(true));
            let (ty, style) = self.param_type(&param_location, &param, name, place, module);
            let default = match (required, style, param.pointer("/schema/default")) {
                (false, ParamStyle::Scalar, Some(default)) => {
                    self.types.default_value(default, &ty)
                }
                _ => None,
            };
            let constrained = self.constrained(&param_location.child("schema"));
            params.push(Param {
                wire: name.to_owned(),
                field,
                location: place,
                ty,
                required,
                style,
                default,
                constrained,
                docs: param
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            });
        }
        for name in &template.params {
            if !params
                .iter()
                .any(|p| p.location == ParamLocation::Path && &p.wire == name)
            {
                self.warn(
                    location,
                    format!("path parameter `{name}` is not declared; typed as a string"),
                );
                params.push(Param {
                    wire: name.clone(),
                    field: fields.claim(&field_name(name)),
                    location: ParamLocation::Path,
                    ty: TypeRef::String,
                    required: true,
                    style: ParamStyle::Scalar,
                    default: None,
                    constrained: false,
                    docs: None,
                });
            }
        }
        params
    }

    /// Whether the schema at `location` (or its items') bounds values beyond their type: a
    /// bound, or a format the contract checks.
    fn constrained(&self, location: &Location) -> bool {
        const BOUNDS: [&str; 11] = [
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "multipleOf",
            "minLength",
            "maxLength",
            "pattern",
            "minItems",
            "maxItems",
            "uniqueItems",
        ];
        let Ok((at, schema)) = self.spec.deref(location) else {
            return false;
        };
        let checked_format = || {
            self.check_formats
                && schema
                    .get("format")
                    .and_then(Value::as_str)
                    .is_some_and(|format| crate::ir::CHECKED_FORMATS.contains(&format))
        };
        BOUNDS.iter().any(|bound| schema.get(*bound).is_some())
            || checked_format()
            || (schema.get("items").is_some() && self.constrained(&at.child("items")))
    }

    /// Whether the multipart schema at `location` has a file among its properties (a
    /// binary string, or a list of them): `format: binary`, or 3.1's `contentMediaType`.
    fn uploads_files(&self, location: &Location) -> bool {
        let Ok((at, schema)) = self.spec.deref(location) else {
            return false;
        };
        let Some(Value::Object(properties)) = schema.get("properties") else {
            return false;
        };
        let is_file = |location: &Location| {
            self.spec.deref(location).is_ok_and(|(_, property)| {
                property.get("format").and_then(Value::as_str) == Some("binary")
                    || property.get("contentMediaType").is_some()
            })
        };
        properties.keys().any(|name| {
            let property = at.child("properties").child(name);
            is_file(&property) || is_file(&property.child("items"))
        })
    }

    fn param_type(
        &mut self,
        location: &Location,
        param: &Value,
        name: &str,
        place: ParamLocation,
        module: Module,
    ) -> (TypeRef, ParamStyle) {
        let hint = type_name(name);
        if let Some(Value::Object(content)) = param.get("content") {
            let Some((media, _)) = content.iter().next() else {
                return (TypeRef::String, ParamStyle::Scalar);
            };
            let schema_location = location.child("content").child(media).child("schema");
            if crate::lower::is_json_media(media)
                && self.spec.get(&schema_location).is_some()
                && matches!(place, ParamLocation::Query | ParamLocation::Header)
            {
                let ty = self.types.schema(&schema_location, &hint, module).ty;
                return (ty, ParamStyle::Json);
            }
            return (TypeRef::String, ParamStyle::Scalar);
        }
        let schema_location = location.child("schema");
        if self.spec.get(&schema_location).is_none() {
            return (TypeRef::String, ParamStyle::Scalar);
        }
        let ty = self.types.schema(&schema_location, &hint, module).ty;
        let explode = param.get("explode").and_then(Value::as_bool);
        let style = param.get("style").and_then(Value::as_str);
        match self.shape_of(&ty) {
            ParamShape::Scalar => (ty, ParamStyle::Scalar),
            ParamShape::Array(item) => {
                let style = match (place, style, explode) {
                    (ParamLocation::Query, Some("spaceDelimited"), _) => ParamStyle::Delimited(' '),
                    (ParamLocation::Query, Some("pipeDelimited"), _) => ParamStyle::Delimited('|'),
                    (ParamLocation::Query, _, Some(false)) => ParamStyle::Delimited(','),
                    (ParamLocation::Query, _, _) => ParamStyle::Exploded,
                    (ParamLocation::Path, ..) => {
                        self.warn(
                            location,
                            format!("array path parameter `{name}` is read as one string"),
                        );
                        return (TypeRef::String, ParamStyle::Scalar);
                    }
                    _ => ParamStyle::Delimited(','),
                };
                (item, style)
            }
            ParamShape::Object if place == ParamLocation::Query => {
                if style == Some("deepObject") {
                    (ty, ParamStyle::DeepObject)
                } else if explode != Some(false) {
                    (ty, ParamStyle::FormObject)
                } else {
                    (ty, ParamStyle::DelimitedObject)
                }
            }
            ParamShape::Object => {
                self.warn(
                    location,
                    format!(
                        "object {} parameter `{name}` is read as one string",
                        place.as_str()
                    ),
                );
                (TypeRef::String, ParamStyle::Scalar)
            }
        }
    }

    fn shape_of(&self, ty: &TypeRef) -> ParamShape {
        match ty {
            TypeRef::Vec(item) => match self.shape_of(item) {
                ParamShape::Scalar => ParamShape::Array((**item).clone()),
                _ => ParamShape::Array(TypeRef::String),
            },
            TypeRef::Map(_) | TypeRef::Value => ParamShape::Object,
            TypeRef::Option(inner) | TypeRef::Box(inner) => self.shape_of(inner),
            TypeRef::Named(id) => match &self.types.types[*id].kind {
                TypeKind::Struct { .. } => ParamShape::Object,
                TypeKind::Alias(inner) | TypeKind::Newtype(inner) => self.shape_of(inner),
                TypeKind::Union { variants, .. } => {
                    if variants
                        .iter()
                        .all(|v| matches!(self.shape_of(&v.ty), ParamShape::Scalar))
                    {
                        ParamShape::Scalar
                    } else {
                        ParamShape::Object
                    }
                }
                TypeKind::StringEnum { .. } | TypeKind::IntEnum { .. } => ParamShape::Scalar,
            },
            _ => ParamShape::Scalar,
        }
    }

    fn request_body(
        &mut self,
        location: &Location,
        operation: &Value,
        module: Module,
    ) -> Option<RequestBody> {
        operation.get("requestBody")?;
        let (body_location, body) = self.deref(&location.child("requestBody"))?;
        let media_enum = self.media_enum(&body, "Body", module);
        let contents = self.contents(&body_location, &body, "Body", module, false);
        Some(RequestBody {
            required: body.get("required") == Some(&Value::Bool(true)),
            media_enum,
            docs: body
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            contents,
        })
    }

    /// Names the enum over a body's media types when it has several.
    fn media_enum(&mut self, body: &Value, base: &str, module: Module) -> Option<String> {
        let count = body
            .get("content")
            .and_then(Value::as_object)
            .map_or(0, |c| c.len());
        (count > 1).then(|| self.types.claim_name(module, base))
    }

    /// The media types of a body; `hint` names inline schemas.
    fn contents(
        &mut self,
        location: &Location,
        body: &Value,
        hint: &str,
        module: Module,
        response: bool,
    ) -> Vec<Content> {
        let Some(Value::Object(content)) = body.get("content") else {
            return Vec::new();
        };
        let mut variants = Namespace::default();
        let mut contents = Vec::new();
        let count = content.len();
        for (media, media_object) in content {
            let media_type = media.trim().to_owned();
            let essence = media_type
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            let schema_location = location.child("content").child(media).child("schema");
            let has_schema = media_object.get("schema").is_some();
            let type_hint = if count > 1 {
                format!("{hint}{}", media_variant(&essence))
            } else {
                hint.to_owned()
            };
            // Requests stream items (an upload of records); events are answers only.
            let stream = match stream_framing(&essence) {
                Some(framing) if response || framing.is_some() => Some(framing),
                _ => None,
            };
            let kind = if let Some(framing) = stream {
                // The schema of one item: OpenAPI 3.2's `itemSchema`, else the media type's.
                let item_key = if media_object.get("itemSchema").is_some() {
                    "itemSchema"
                } else {
                    "schema"
                };
                let item_location = location.child("content").child(media).child(item_key);
                let ty = if media_object.get(item_key).is_some() {
                    self.types
                        .schema(&item_location, &type_hint, module)
                        .wrapped()
                } else if framing.is_none() {
                    TypeRef::String
                } else {
                    TypeRef::Value
                };
                match framing {
                    None => BodyKind::Events(ty),
                    Some(framing) if response => BodyKind::Items(ty, framing),
                    Some(framing) => BodyKind::ItemUpload(ty, framing),
                }
            } else if is_json_media(&essence) {
                let ty = if has_schema {
                    self.types
                        .schema(&schema_location, &type_hint, module)
                        .wrapped()
                } else {
                    TypeRef::Value
                };
                BodyKind::Json(ty)
            } else if essence == "application/x-www-form-urlencoded" {
                let ty = if has_schema {
                    self.types
                        .schema(&schema_location, &type_hint, module)
                        .wrapped()
                } else {
                    TypeRef::Map(Box::new(TypeRef::String))
                };
                BodyKind::Form(ty)
            } else if essence.starts_with("multipart/") {
                // A form that uploads files is read part by part as it arrives.
                if !response && self.uploads_files(&schema_location) {
                    BodyKind::MultipartUpload
                } else {
                    BodyKind::Multipart
                }
            } else if is_text_media(&essence) {
                BodyKind::Text
            } else if response {
                BodyKind::Bytes
            } else {
                BodyKind::Binary
            };
            contents.push(Content {
                variant: variants.claim(&media_variant(&essence)),
                media_type,
                kind,
            });
        }
        contents
    }

    fn responses(
        &mut self,
        location: &Location,
        operation: &Value,
        module: Module,
    ) -> Vec<Response> {
        let Some(Value::Object(responses)) = operation.get("responses") else {
            return Vec::new();
        };
        let mut variants = Namespace::with_reserved(&["Problem"]);
        let mut out = Vec::new();
        let keys: Vec<String> = responses.keys().cloned().collect();
        let mut sorted: BTreeMap<StatusSpec, String> = BTreeMap::new();
        for key in keys {
            if key.starts_with("x-") {
                continue;
            }
            match parse_status(&key) {
                Some(status) => {
                    sorted.entry(status).or_insert(key);
                }
                None => self.warn(
                    &location.child("responses").child(&key),
                    format!("`{key}` is not a status code; the response is skipped"),
                ),
            }
        }
        for (status, key) in sorted {
            let Some((response_location, response)) =
                self.deref(&location.child("responses").child(&key))
            else {
                continue;
            };
            let variant = variants.claim(&status_variant(status));
            let media_enum = self.media_enum(&response, &format!("{variant}Body"), module);
            let contents = self.contents(
                &response_location,
                &response,
                &format!("{variant}Body"),
                module,
                true,
            );
            let headers = self.response_headers(&response_location, &response, &variant, module);
            out.push(Response {
                status,
                variant,
                docs: response
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                media_enum,
                contents,
                headers,
            });
        }
        out
    }

    fn response_headers(
        &mut self,
        location: &Location,
        response: &Value,
        variant: &str,
        module: Module,
    ) -> Vec<ResponseHeader> {
        let Some(Value::Object(headers)) = response.get("headers") else {
            return Vec::new();
        };
        let mut fields = Namespace::with_reserved(&["body", "status"]);
        let mut out = Vec::new();
        let names: Vec<String> = headers.keys().cloned().collect();
        for name in names {
            if name.eq_ignore_ascii_case("content-type") {
                continue;
            }
            if http_header_name_invalid(&name) {
                self.warn(
                    &location.child("headers").child(&name),
                    format!("`{name}` is not a valid header name; it is skipped"),
                );
                continue;
            }
            let Some((header_location, header)) =
                self.deref(&location.child("headers").child(&name))
            else {
                continue;
            };
            let schema_location = header_location.child("schema");
            let ty = if self.spec.get(&schema_location).is_some() {
                self.types
                    .schema(
                        &schema_location,
                        &format!("{variant}{}", type_name(&name)),
                        module,
                    )
                    .ty
            } else {
                TypeRef::String
            };
            out.push(ResponseHeader {
                field: fields.claim(&field_name(&name)),
                wire: name.to_ascii_lowercase(),
                ty,
                required: header.get("required") == Some(&Value::Bool(true)),
                docs: header
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            });
        }
        out
    }

    /// Resolves `x-cache-invalidates` operationIds now that every operation is known.
    fn resolve_invalidations(&mut self) {
        for (index, location, target) in std::mem::take(&mut self.pending_invalidations) {
            match self.operations.iter().position(|op| op.id == target) {
                None => self.annotations.error(
                    &location,
                    format!("no operation has the operationId `{target}`"),
                ),
                Some(found) if self.operations[found].policies.cache.is_none() => {
                    self.annotations.warning(
                        &location,
                        format!("`{target}` is not cached; there is nothing to invalidate"),
                    )
                }
                Some(found) => {
                    let entry = InvalidationTarget {
                        operation: target,
                        shared: shared_params(&self.operations[index], &self.operations[found]),
                    };
                    let invalidates = &mut self.operations[index].policies.invalidates;
                    if !invalidates.contains(&entry) {
                        invalidates.push(entry);
                    }
                }
            }
        }
    }

    /// Groups operations by route shape and method, and warns where one shadows another.
    fn routes(&mut self) -> Vec<Route> {
        let mut routes: Vec<Route> = Vec::new();
        let mut by_path: HashMap<String, usize> = HashMap::new();
        for index in 0..self.operations.len() {
            let op = &self.operations[index];
            let axum_path = paths::route_path(&op.path, &op.path_captures);
            let route = *by_path.entry(axum_path.clone()).or_insert_with(|| {
                routes.push(Route {
                    axum_path,
                    methods: Vec::new(),
                });
                routes.len() - 1
            });
            self.operations[index].route = route;
            let method = self.operations[index].method;
            let methods = &mut routes[route].methods;
            match methods.iter_mut().find(|(m, _)| *m == method) {
                Some((_, ops)) => ops.push(index),
                None => methods.push((method, vec![index])),
            }
        }
        for route in &mut routes {
            route.methods.sort_by_key(|(method, _)| *method);
            for (_, ops) in &route.methods {
                let catch_all = ops.iter().position(|&op| {
                    self.operations[op]
                        .path_captures
                        .iter()
                        .all(|c| c.is_whole())
                });
                if let Some(first) = catch_all {
                    for &shadowed in &ops[first + 1..] {
                        let (winner, loser) =
                            (&self.operations[ops[first]], &self.operations[shadowed]);
                        let message = format!(
                            "operation `{}` ({} {}) has the same route as `{}` ({}); requests go to `{}`",
                            loser.id,
                            loser.method.as_str().to_uppercase(),
                            loser.path,
                            winner.id,
                            winner.path,
                            winner.id
                        );
                        let pointer = crate::pointer::push(
                            &crate::pointer::push("/paths", &loser.path),
                            loser.method.as_str(),
                        );
                        let file = self.spec.doc_name(0).to_owned();
                        self.diags.push(Severity::Warning, &file, &pointer, message);
                    }
                }
            }
        }
        routes
    }
}

enum ParamShape {
    Scalar,
    Array(TypeRef),
    Object,
}

fn parse_status(key: &str) -> Option<StatusSpec> {
    let key = key.trim();
    if key.eq_ignore_ascii_case("default") {
        return Some(StatusSpec::Default);
    }
    // Three bytes need not be three characters (`\u{200B}` is one).
    if key.len() == 3 && key.is_char_boundary(1) && key[1..].eq_ignore_ascii_case("xx") {
        let class = key[..1]
            .parse::<u8>()
            .ok()
            .filter(|c| (1..=5).contains(c))?;
        return Some(StatusSpec::Range(class));
    }
    key.parse::<u16>()
        .ok()
        .filter(|c| (100..=999).contains(c))
        .map(StatusSpec::Code)
}

/// `Ok`, `NotFound`, `Status2xx`, `Default`.
fn status_variant(status: StatusSpec) -> String {
    match status {
        StatusSpec::Code(code) => {
            http_reason(code).map_or_else(|| format!("Status{code}"), type_name)
        }
        StatusSpec::Range(class) => format!("Status{class}xx"),
        StatusSpec::Default => "Default".to_owned(),
    }
}

fn http_reason(code: u16) -> Option<&'static str> {
    Some(match code {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi Status",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "Im A Teapot",
        422 => "Unprocessable Entity",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => return None,
    })
}

/// A variant name for a media type: `Json`, `Form`, `Multipart`, `Text`, `Xml`, ...
fn media_variant(essence: &str) -> String {
    match essence {
        "application/json" => "Json".to_owned(),
        "application/x-www-form-urlencoded" => "Form".to_owned(),
        "multipart/form-data" => "Multipart".to_owned(),
        "text/plain" => "Text".to_owned(),
        "application/xml" | "text/xml" => "Xml".to_owned(),
        "application/octet-stream" => "Binary".to_owned(),
        "*/*" => "Any".to_owned(),
        other => type_name(other.rsplit('/').next().unwrap_or(other)),
    }
}

pub(crate) fn is_json_media(essence: &str) -> bool {
    let essence = essence
        .split(';')
        .next()
        .unwrap_or(essence)
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence == "text/json" || essence.ends_with("+json")
}

/// How a response of media type `essence` is streamed: `Some(None)` for server-sent events,
/// `Some(Some(framing))` for items; `None` for a body sent whole.
fn stream_framing(essence: &str) -> Option<Option<crate::ir::Framing>> {
    match essence {
        "text/event-stream" => Some(None),
        "application/x-ndjson" | "application/jsonl" | "application/x-jsonlines" => {
            Some(Some(crate::ir::Framing::Lines))
        }
        "application/json-seq" => Some(Some(crate::ir::Framing::RecordSeparated)),
        _ => None,
    }
}

pub(crate) fn is_text_media(essence: &str) -> bool {
    essence.starts_with("text/")
        || essence.ends_with("+xml")
        || matches!(
            essence,
            "application/xml"
                | "application/javascript"
                | "application/x-ndjson"
                | "application/yaml"
                | "application/x-yaml"
                | "application/csv"
        )
}

fn http_header_name_invalid(name: &str) -> bool {
    name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The batch endpoint's path must not be an operation's, nor one the runtime serves itself,
/// when some operation is in a batch group.
fn check_batch_path(
    settings: &crate::ir::ServiceSettings,
    operations: &[crate::ir::Operation],
    routes: &[crate::ir::Route],
    annotations: &mut Annotations<'_>,
) {
    if !operations
        .iter()
        .any(|op| op.policies.batch_group.is_some())
    {
        return;
    }
    let path = settings.batch.path.as_str();
    let taken = routes.iter().any(|route| route.axum_path == path)
        || crate::ir::BUILTIN_PATHS.contains(&path);
    if taken {
        let location = crate::load::Location {
            doc: 0,
            pointer: "/x-specjet".to_owned(),
        };
        annotations.error(
            &location,
            format!(
                "the batch endpoint's path `{path}` is already served; set another with `x-specjet.batch.path`"
            ),
        );
    }
}

/// A docs path the API serves itself is left to the API: say so, and how to move the docs.
fn check_docs_paths(
    settings: &crate::ir::ServiceSettings,
    routes: &[crate::ir::Route],
    annotations: &mut Annotations<'_>,
) {
    for path in settings.paths_taken_by(routes) {
        if crate::ir::BUILTIN_PATHS.contains(&path.as_str()) {
            continue;
        }
        let location = crate::load::Location {
            doc: 0,
            pointer: "/paths".to_owned(),
        };
        annotations.warning(
            &location,
            format!(
                "the API serves `{path}` itself, where the service would serve its docs; they are not served there (move them with `x-specjet.docs`)"
            ),
        );
    }
}

/// `(parameter name, capture key)` for the whole-segment path parameters of `op` that
/// `target` also has: an invalidation drops only the entries with the same values.
fn shared_params(op: &Operation, target: &Operation) -> Vec<(String, String)> {
    let whole = |op: &Operation| -> Vec<(String, String)> {
        op.path_captures
            .iter()
            .filter_map(|capture| match capture.pieces.as_slice() {
                [Piece::Param(name)] => Some((name.clone(), capture.key.clone())),
                _ => None,
            })
            .collect()
    };
    let other = whole(target);
    whole(op)
        .into_iter()
        .filter(|(name, _)| other.iter().any(|(n, _)| n == name))
        .collect()
}
