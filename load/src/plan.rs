//! What the load test sends: for each operation it calls, one request made valid from the
//! spec (each value from the parameter's or the media type's example, else its schema's
//! example, default, first enum value or minimum, else a value of its type), written by the
//! client's own `Call`, as a generated client would write it.

use serde_json::{Map, Value};
use specjet::client::Call;
use specjet_generator::ir::{
    Api, BodyKind, Method, Operation, Param, ParamLocation, TypeKind, TypeRef,
};

/// One operation the test calls, and how often against the others.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `operationId`.
    pub(crate) id: &'static str,
    /// Its `x-slo`.
    pub(crate) slo: Option<specjet_generator::ir::Slo>,
    /// Its share of the mix (`x-load: {weight}`, else 1).
    pub(crate) weight: u32,
    method: http::Method,
    path: &'static str,
    params: Vec<(Param, Value)>,
    body: Option<(String, Value)>,
}

impl Target {
    /// The call to send, as the client writes it (retries and revalidation are the
    /// client's, off for a load test).
    pub(crate) fn call(&self) -> Call {
        let mut call = Call::new(self.id, self.method.clone(), self.path);
        for (param, value) in &self.params {
            call.param(param.written(), &param.wire, value);
        }
        if let Some((media, body)) = &self.body {
            call.json(media, body);
        }
        call
    }
}

/// Which operations a run calls.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selection {
    /// Only these (by `operationId`); all when empty.
    pub(crate) only: Vec<String>,
    /// Writes too (POST, PUT, PATCH, DELETE), not only reads.
    pub(crate) writes: bool,
}

/// The operations to call, each with its request; and the operations left out, with why.
pub(crate) fn targets(
    api: &Api,
    selection: &Selection,
) -> (Vec<Target>, Vec<(String, &'static str)>) {
    let document: Value = serde_json::from_str(&api.document).unwrap_or(Value::Null);
    let mut targets = Vec::new();
    let mut left_out = Vec::new();
    for op in &api.operations {
        if !selection.only.is_empty() && !selection.only.contains(&op.id) {
            continue;
        }
        let read = matches!(op.method, Method::Get | Method::Head);
        let why = if op.load_weight == Some(0) {
            Some("`x-load: false`")
        } else if !read && !selection.writes && selection.only.is_empty() {
            Some("a write (pass --writes)")
        } else if specjet_generator::ir::answers_with_stream(&op.responses) {
            Some("answers a stream")
        } else if unsendable_body(op) {
            Some("takes a body that is not JSON")
        } else {
            None
        };
        if let Some(why) = why {
            left_out.push((op.id.clone(), why));
            continue;
        }
        targets.push(target(api, &document, op));
    }
    (targets, left_out)
}

fn unsendable_body(op: &Operation) -> bool {
    op.body.as_ref().is_some_and(|body| {
        body.required
            && !body
                .contents
                .iter()
                .any(|content| matches!(content.kind, BodyKind::Json(_)))
    })
}

/// `text` for as long as the run lasts (targets are made once, before it).
fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn target(api: &Api, document: &Value, op: &Operation) -> Target {
    let raw = operation_object(document, op);
    let path = format!(
        "{}{}",
        api.settings.base_path.trim_end_matches('/'),
        op.path
    );
    let params = op
        .params
        .iter()
        .filter(|param| param.required || param.location == ParamLocation::Path)
        .map(|param| {
            let value =
                param_example(document, &raw, param).unwrap_or_else(|| sample(api, &param.ty, 0));
            (param.clone(), value)
        })
        .collect();
    let body = op.body.as_ref().and_then(|body| {
        let content = body
            .contents
            .iter()
            .find(|content| matches!(content.kind, BodyKind::Json(_)))?;
        let BodyKind::Json(ty) = &content.kind else {
            return None;
        };
        let media = raw
            .pointer(&format!(
                "/requestBody/content/{}",
                content.media_type.replace('~', "~0").replace('/', "~1")
            ))
            .map(|media| resolve(document, media).clone())
            .unwrap_or(Value::Null);
        let value = example_of(document, &media).unwrap_or_else(|| sample(api, ty, 0));
        let sent = if content.media_type.contains('*') {
            "application/json".to_owned()
        } else {
            content.media_type.clone()
        };
        Some((sent, value))
    });
    Target {
        id: leak(op.id.clone()),
        slo: op.slo.clone(),
        weight: op.load_weight.unwrap_or(1),
        method: http_method(op.method),
        path: leak(path),
        params,
        body,
    }
}

fn http_method(method: Method) -> http::Method {
    match method {
        Method::Get => http::Method::GET,
        Method::Put => http::Method::PUT,
        Method::Post => http::Method::POST,
        Method::Delete => http::Method::DELETE,
        Method::Options => http::Method::OPTIONS,
        Method::Head => http::Method::HEAD,
        Method::Patch => http::Method::PATCH,
        Method::Trace => http::Method::TRACE,
    }
}

/// The operation object in the bundled document, with its path item's parameters added.
fn operation_object(document: &Value, op: &Operation) -> Value {
    let item = document
        .get("paths")
        .and_then(|paths| paths.get(&op.path))
        .map(|item| resolve(document, item))
        .cloned()
        .unwrap_or(Value::Null);
    let mut operation = item
        .get(op.method.as_str())
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    if let (Some(shared), Some(object)) = (item.get("parameters"), operation.as_object_mut()) {
        let own = object
            .entry("parameters")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let (Value::Array(own), Value::Array(shared)) = (own, shared) {
            own.extend(shared.iter().cloned());
        }
    }
    operation
}

/// `value` with a local `$ref` followed (a few hops at most: a cycle ends).
fn resolve<'a>(document: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..8 {
        let Some(pointer) = value.get("$ref").and_then(Value::as_str) else {
            break;
        };
        match pointer.strip_prefix('#').and_then(|p| document.pointer(p)) {
            Some(target) => value = target,
            None => break,
        }
    }
    value
}

/// The example the spec gives for `param`, or a value its schema names.
fn param_example(document: &Value, operation: &Value, param: &Param) -> Option<Value> {
    let declared = operation
        .get("parameters")?
        .as_array()?
        .iter()
        .map(|p| resolve(document, p))
        .find(|p| {
            p.get("name").and_then(Value::as_str) == Some(&param.wire)
                && p.get("in").and_then(Value::as_str) == Some(param.location.as_str())
        })?;
    example_of(document, declared)
}

/// An example of a parameter or media type object: its `example`, its first `examples`
/// value, else its schema's `example`, `default`, first `enum` value or `minimum`.
fn example_of(document: &Value, object: &Value) -> Option<Value> {
    if let Some(example) = object.get("example") {
        return Some(example.clone());
    }
    if let Some(Value::Object(examples)) = object.get("examples") {
        if let Some(value) = examples
            .values()
            .find_map(|example| resolve(document, example).get("value"))
        {
            return Some(value.clone());
        }
    }
    let schema = resolve(document, object.get("schema")?);
    ["example", "default"]
        .into_iter()
        .find_map(|key| schema.get(key).cloned())
        .or_else(|| {
            schema
                .get("examples")
                .and_then(Value::as_array)
                .and_then(|values| values.first().cloned())
        })
        .or_else(|| {
            schema
                .get("enum")
                .and_then(Value::as_array)
                .and_then(|values| values.first().cloned())
        })
        .or_else(|| schema.get("minimum").cloned())
}

/// A value of `ty`: required fields only, the first of every choice.
fn sample(api: &Api, ty: &TypeRef, depth: usize) -> Value {
    if depth > 16 {
        return Value::Null;
    }
    match ty {
        TypeRef::Bool => Value::Bool(true),
        TypeRef::I32 | TypeRef::I64 | TypeRef::U32 | TypeRef::U64 => Value::from(1),
        TypeRef::F32 | TypeRef::F64 => Value::from(1.0),
        TypeRef::String => Value::from("load"),
        TypeRef::Bytes => Value::from("bG9hZA=="),
        TypeRef::Value | TypeRef::Map(_) => Value::Object(Map::new()),
        TypeRef::Vec(inner) => Value::Array(vec![sample(api, inner, depth + 1)]),
        TypeRef::Option(inner) | TypeRef::Box(inner) => sample(api, inner, depth + 1),
        TypeRef::Named(id) => match &api.types[*id].kind {
            TypeKind::Struct { fields, .. } => {
                let mut object = Map::new();
                for field in fields.iter().filter(|field| field.required) {
                    let value = sample(api, &field.ty, depth + 1);
                    match (field.flatten, value) {
                        (true, Value::Object(members)) => object.extend(members),
                        (_, value) => {
                            object.insert(field.wire.clone(), value);
                        }
                    }
                }
                Value::Object(object)
            }
            TypeKind::StringEnum { variants } => variants
                .first()
                .map_or(Value::from("load"), |v| Value::from(v.wire.clone())),
            TypeKind::IntEnum { variants } => variants
                .first()
                .map_or(Value::from(1), |v| Value::from(v.value)),
            TypeKind::Union { variants, .. } => variants
                .first()
                .map_or(Value::Null, |v| sample(api, &v.ty, depth + 1)),
            TypeKind::Alias(inner) | TypeKind::Newtype(inner) => sample(api, inner, depth + 1),
        },
    }
}
