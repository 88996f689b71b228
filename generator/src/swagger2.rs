//! Swagger 2.0 documents, read as the OpenAPI 3.0 documents they describe, so that everything
//! downstream (types, router, policies, macros, the served document) works unchanged:
//! `definitions`, `parameters` and `responses` become components, `in: body` and
//! `in: formData` parameters a `requestBody` in the media types of `consumes`, response
//! `schema`s content in the media types of `produces`, `collectionFormat` a parameter style,
//! `securityDefinitions` security schemes, and `host`, `basePath` and `schemes` the `servers`.
//! `x-` annotations (specjet's own included) stay where they are.
//!
//! Every `$ref` into the places that moved is rewritten, in the root document and in the files
//! it references. Diagnostics name places in the upgraded document;
//! [`original_pointer`] takes a pointer back to where the 2.0 text says it, to find its line.

use serde_json::{json, Map, Value};

/// Whether `document` is a Swagger 2.0 document.
pub(crate) fn is_swagger2(document: &Value) -> bool {
    document
        .get("swagger")
        .is_some_and(|version| version.as_str().is_some_and(|v| v.starts_with('2')))
}

/// `document` (the root of a Swagger 2.0 spec, or a file it references) as OpenAPI 3.0.
pub(crate) fn upgrade(document: Value) -> Value {
    let Value::Object(mut root) = document else {
        return document;
    };
    let mut out = Map::new();
    let is_root = root.remove("swagger").is_some();
    if is_root {
        out.insert("openapi".to_owned(), json!("3.0.3"));
    }
    let consumes = media_list(root.get("consumes"));
    let produces = media_list(root.get("produces"));
    if let Some(servers) = servers(&root) {
        out.insert("servers".to_owned(), servers);
    }
    for key in ["host", "basePath", "schemes", "consumes", "produces"] {
        root.remove(key);
    }
    // Top-level parameters: body and form parameters become request bodies.
    let shared_params = root
        .get("parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let context = Context {
        consumes: &consumes,
        produces: &produces,
        shared_params: &shared_params,
    };
    let mut components = Map::new();
    if let Some(Value::Object(definitions)) = root.remove("definitions") {
        let schemas = definitions
            .into_iter()
            .map(|(name, schema)| (name, upgrade_schema(schema)))
            .collect();
        components.insert("schemas".to_owned(), Value::Object(schemas));
    }
    if let Some(Value::Object(parameters)) = root.remove("parameters") {
        let mut params = Map::new();
        let mut bodies = Map::new();
        for (name, param) in parameters {
            match param.get("in").and_then(Value::as_str) {
                // A shared body parameter is a shared request body; form parameters are
                // brought into each operation's form body where they are used.
                Some("body") => {
                    let body = context.request_body(std::slice::from_ref(&param), &consumes);
                    if let Some(body) = body {
                        bodies.insert(name, body);
                    }
                }
                Some("formData") => {}
                _ => {
                    params.insert(name, upgrade_parameter(param));
                }
            }
        }
        if !params.is_empty() {
            components.insert("parameters".to_owned(), Value::Object(params));
        }
        if !bodies.is_empty() {
            components.insert("requestBodies".to_owned(), Value::Object(bodies));
        }
    }
    if let Some(Value::Object(responses)) = root.remove("responses") {
        let responses = responses
            .into_iter()
            .map(|(name, response)| (name, upgrade_response(response, &produces)))
            .collect();
        components.insert("responses".to_owned(), Value::Object(responses));
    }
    if let Some(Value::Object(schemes)) = root.remove("securityDefinitions") {
        let schemes = schemes
            .into_iter()
            .map(|(name, scheme)| (name, upgrade_security_scheme(scheme)))
            .collect();
        components.insert("securitySchemes".to_owned(), Value::Object(schemes));
    }
    if let Some(Value::Object(paths)) = root.remove("paths") {
        let paths = paths
            .into_iter()
            .map(|(path, item)| {
                let item = if path.starts_with("x-") {
                    item
                } else {
                    context.path_item(item)
                };
                (path, item)
            })
            .collect();
        out.insert("paths".to_owned(), Value::Object(paths));
    }
    // Everything else (info, tags, security, externalDocs, x- annotations) as it is.
    for (key, value) in root {
        out.insert(key, value);
    }
    if !components.is_empty() {
        out.insert("components".to_owned(), Value::Object(components));
    }
    let mut out = Value::Object(out);
    rewrite_refs(&mut out);
    out
}

/// A pointer into the upgraded document, as the 2.0 text spells the place (its nearest
/// equivalent: a request body is the operation's parameters, a response's content its schema).
pub(crate) fn original_pointer(pointer: &str) -> String {
    let moved = [
        ("/components/schemas/", "/definitions/"),
        ("/components/parameters/", "/parameters/"),
        ("/components/requestBodies/", "/parameters/"),
        ("/components/responses/", "/responses/"),
        ("/components/securitySchemes/", "/securityDefinitions/"),
    ];
    let mut pointer = pointer.to_owned();
    for (new, old) in moved {
        if let Some(rest) = pointer.strip_prefix(new) {
            pointer = format!("{old}{rest}");
            break;
        }
    }
    if let Some(at) = pointer.find("/requestBody") {
        pointer.truncate(at);
        pointer.push_str("/parameters");
    }
    if let Some(at) = pointer.find("/content/") {
        let rest = &pointer[at + "/content/".len()..];
        let after_media = rest.find('/').map_or("", |i| &rest[i..]);
        pointer = format!("{}{after_media}", &pointer[..at]);
    }
    pointer
}

struct Context<'a> {
    consumes: &'a [String],
    produces: &'a [String],
    shared_params: &'a Map<String, Value>,
}

impl Context<'_> {
    fn path_item(&self, item: Value) -> Value {
        let Value::Object(mut item) = item else {
            return item;
        };
        let shared = match item.remove("parameters") {
            Some(Value::Array(params)) => params,
            _ => Vec::new(),
        };
        // Body and form parameters of the path item go into each operation's request body;
        // the others stay on the path item.
        let (moving, staying): (Vec<Value>, Vec<Value>) = shared
            .into_iter()
            .partition(|param| self.is_body_or_form(param));
        if !staying.is_empty() {
            let staying = staying.into_iter().map(upgrade_parameter).collect();
            item.insert("parameters".to_owned(), Value::Array(staying));
        }
        let methods = ["get", "put", "post", "delete", "options", "head", "patch"];
        for method in methods {
            if let Some(operation) = item.remove(method) {
                item.insert(method.to_owned(), self.operation(operation, &moving));
            }
        }
        Value::Object(item)
    }

    fn operation(&self, operation: Value, inherited_body: &[Value]) -> Value {
        let Value::Object(mut operation) = operation else {
            return operation;
        };
        let consumes = operation
            .remove("consumes")
            .map_or_else(|| self.consumes.to_vec(), |list| media_list(Some(&list)));
        let produces = operation
            .remove("produces")
            .map_or_else(|| self.produces.to_vec(), |list| media_list(Some(&list)));
        let params = match operation.remove("parameters") {
            Some(Value::Array(params)) => params,
            _ => Vec::new(),
        };
        let (mut body_params, others): (Vec<Value>, Vec<Value>) = params
            .into_iter()
            .partition(|param| self.is_body_or_form(param));
        for inherited in inherited_body {
            let name = self.resolved(inherited).get("name").cloned();
            let overridden = body_params
                .iter()
                .any(|param| self.resolved(param).get("name").cloned() == name);
            if !overridden {
                body_params.push(inherited.clone());
            }
        }
        if !others.is_empty() {
            let others = others.into_iter().map(upgrade_parameter).collect();
            operation.insert("parameters".to_owned(), Value::Array(others));
        }
        let resolved: Vec<Value> = body_params.iter().map(|p| self.resolved(p)).collect();
        // A referenced body parameter stays a reference, to the request body it became.
        let shared_body = body_params
            .iter()
            .zip(&resolved)
            .find_map(|(param, resolved)| {
                let name = param
                    .get("$ref")
                    .and_then(Value::as_str)?
                    .strip_prefix("#/parameters/")?;
                is_body(resolved)
                    .then(|| json!({ "$ref": format!("#/components/requestBodies/{name}") }))
            });
        let body = shared_body.or_else(|| self.request_body(&resolved, &consumes));
        if let Some(body) = body {
            operation.insert("requestBody".to_owned(), body);
        }
        if let Some(Value::Object(responses)) = operation.remove("responses") {
            let responses = responses
                .into_iter()
                .map(|(status, response)| (status, upgrade_response(response, &produces)))
                .collect();
            operation.insert("responses".to_owned(), Value::Object(responses));
        }
        Value::Object(operation)
    }

    /// A parameter, its local `#/parameters/...` reference followed.
    fn resolved(&self, param: &Value) -> Value {
        match param.get("$ref").and_then(Value::as_str) {
            Some(reference) => reference
                .strip_prefix("#/parameters/")
                .and_then(|name| self.shared_params.get(&crate::pointer::unescape(name)))
                .cloned()
                .unwrap_or_else(|| param.clone()),
            None => param.clone(),
        }
    }

    fn is_body_or_form(&self, param: &Value) -> bool {
        matches!(
            self.resolved(param).get("in").and_then(Value::as_str),
            Some("body") | Some("formData")
        )
    }

    /// The request body of an operation's body parameter or form parameters.
    fn request_body(&self, params: &[Value], consumes: &[String]) -> Option<Value> {
        if let Some(body) = params.iter().find(|param| is_body(param)) {
            let schema = body
                .get("schema")
                .cloned()
                .map(upgrade_schema)
                .unwrap_or_else(|| json!({}));
            let medias: Vec<&String> = consumes
                .iter()
                .filter(|media| !is_form_media(media))
                .collect();
            let medias = if medias.is_empty() {
                vec!["application/json".to_owned()]
            } else {
                medias.into_iter().cloned().collect()
            };
            let content: Map<String, Value> = medias
                .into_iter()
                .map(|media| (media, json!({ "schema": schema })))
                .collect();
            let mut out = Map::new();
            if let Some(description) = body.get("description") {
                out.insert("description".to_owned(), description.clone());
            }
            out.insert("content".to_owned(), Value::Object(content));
            if body.get("required") == Some(&Value::Bool(true)) {
                out.insert("required".to_owned(), Value::Bool(true));
            }
            copy_extensions(body, &mut out);
            return Some(Value::Object(out));
        }
        let form: Vec<&Value> = params
            .iter()
            .filter(|param| param.get("in").and_then(Value::as_str) == Some("formData"))
            .collect();
        if form.is_empty() {
            return None;
        }
        let mut properties = Map::new();
        let mut required = Vec::new();
        let mut has_file = false;
        for param in &form {
            let Some(name) = param.get("name").and_then(Value::as_str) else {
                continue;
            };
            has_file |= param.get("type").and_then(Value::as_str) == Some("file");
            let mut schema = parameter_schema(param);
            if let Some(description) = param.get("description") {
                if let Value::Object(schema) = &mut schema {
                    schema.insert("description".to_owned(), description.clone());
                }
            }
            properties.insert(name.to_owned(), schema);
            if param.get("required") == Some(&Value::Bool(true)) {
                required.push(json!(name));
            }
        }
        let mut schema = json!({ "type": "object", "properties": properties });
        if !required.is_empty() {
            schema["required"] = Value::Array(required.clone());
        }
        let declared: Vec<&String> = consumes.iter().filter(|m| is_form_media(m)).collect();
        let medias: Vec<String> = if !declared.is_empty() {
            declared.into_iter().cloned().collect()
        } else if has_file {
            vec!["multipart/form-data".to_owned()]
        } else {
            vec!["application/x-www-form-urlencoded".to_owned()]
        };
        let content: Map<String, Value> = medias
            .into_iter()
            .map(|media| (media, json!({ "schema": schema })))
            .collect();
        let mut out = json!({ "content": content });
        if !required.is_empty() {
            out["required"] = Value::Bool(true);
        }
        Some(out)
    }
}

fn is_body(param: &Value) -> bool {
    param.get("in").and_then(Value::as_str) == Some("body")
}

fn is_form_media(media: &str) -> bool {
    media.starts_with("multipart/") || media.starts_with("application/x-www-form-urlencoded")
}

fn media_list(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// `host`, `basePath` and `schemes` as one server (the first scheme), or the base path alone.
fn servers(root: &Map<String, Value>) -> Option<Value> {
    let host = root.get("host").and_then(Value::as_str);
    let base_path = root.get("basePath").and_then(Value::as_str).unwrap_or("");
    let scheme = root
        .get("schemes")
        .and_then(Value::as_array)
        .and_then(|schemes| schemes.first())
        .and_then(Value::as_str)
        .unwrap_or("https");
    let url = match host {
        Some(host) => format!("{scheme}://{host}{base_path}"),
        None if !base_path.is_empty() => base_path.to_owned(),
        None => return None,
    };
    Some(json!([{ "url": url }]))
}

/// The keywords of a 2.0 parameter (and of its `items`, and of a header) that are its
/// schema's in 3.0.
const SCHEMA_KEYWORDS: [&str; 16] = [
    "type",
    "format",
    "items",
    "default",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "enum",
    "multipleOf",
];

/// The schema a 2.0 parameter, header or `items` spells with its own keywords.
fn parameter_schema(param: &Value) -> Value {
    let mut schema = Map::new();
    for keyword in SCHEMA_KEYWORDS {
        if let Some(value) = param.get(keyword) {
            let value = if keyword == "items" {
                parameter_schema(value)
            } else {
                value.clone()
            };
            schema.insert(keyword.to_owned(), value);
        }
    }
    if schema.get("type").and_then(Value::as_str) == Some("file") {
        schema.insert("type".to_owned(), json!("string"));
        schema.insert("format".to_owned(), json!("binary"));
    }
    if param.get("x-nullable") == Some(&Value::Bool(true)) {
        schema.insert("nullable".to_owned(), Value::Bool(true));
    }
    Value::Object(schema)
}

/// A non-body parameter: its schema keywords under `schema`, its `collectionFormat` a style.
fn upgrade_parameter(param: Value) -> Value {
    let Value::Object(mut map) = param else {
        return param;
    };
    if map.contains_key("$ref") {
        return Value::Object(map);
    }
    let schema = parameter_schema(&Value::Object(map.clone()));
    let collection_format = map
        .remove("collectionFormat")
        .and_then(|format| format.as_str().map(str::to_owned));
    for keyword in SCHEMA_KEYWORDS {
        map.remove(keyword);
    }
    map.remove("x-nullable");
    let location = map.get("in").and_then(Value::as_str).unwrap_or("query");
    let is_array = schema.get("type").and_then(Value::as_str) == Some("array");
    if is_array {
        let (style, explode) = match (collection_format.as_deref(), location) {
            (Some("multi"), _) => ("form", true),
            (Some("ssv"), "query") => ("spaceDelimited", false),
            (Some("pipes"), "query") => ("pipeDelimited", false),
            (_, "query" | "cookie") => ("form", false),
            _ => ("simple", false),
        };
        map.insert("style".to_owned(), json!(style));
        map.insert("explode".to_owned(), json!(explode));
    }
    map.insert("schema".to_owned(), schema);
    Value::Object(map)
}

/// A response: its `schema` as content in each media type of `produces`, its headers'
/// keywords as schemas.
fn upgrade_response(response: Value, produces: &[String]) -> Value {
    let Value::Object(mut map) = response else {
        return response;
    };
    if map.contains_key("$ref") {
        return Value::Object(map);
    }
    map.entry("description").or_insert_with(|| json!(""));
    map.remove("examples");
    if let Some(schema) = map.remove("schema") {
        let schema = upgrade_schema(schema);
        let medias: Vec<String> = if produces.is_empty() {
            vec!["application/json".to_owned()]
        } else {
            produces.to_vec()
        };
        let content: Map<String, Value> = medias
            .into_iter()
            .map(|media| (media, json!({ "schema": schema })))
            .collect();
        map.insert("content".to_owned(), Value::Object(content));
    }
    if let Some(Value::Object(headers)) = map.remove("headers") {
        let headers: Map<String, Value> = headers
            .into_iter()
            .map(|(name, header)| {
                let mut out = Map::new();
                if let Some(description) = header.get("description") {
                    out.insert("description".to_owned(), description.clone());
                }
                out.insert("schema".to_owned(), parameter_schema(&header));
                (name, Value::Object(out))
            })
            .collect();
        map.insert("headers".to_owned(), Value::Object(headers));
    }
    Value::Object(map)
}

/// A 2.0 schema as 3.0 spells it: `type: file` a binary string, `x-nullable` `nullable`, a
/// `discriminator` property name an object.
fn upgrade_schema(schema: Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                let value = match key.as_str() {
                    // Literal values, not schemas.
                    "enum" | "default" | "example" | "examples" | "const" => value,
                    _ if key.starts_with("x-") => value,
                    _ => upgrade_schema(value),
                };
                out.insert(key, value);
            }
            if out.get("type").and_then(Value::as_str) == Some("file") {
                out.insert("type".to_owned(), json!("string"));
                out.insert("format".to_owned(), json!("binary"));
            }
            if out.remove("x-nullable") == Some(Value::Bool(true)) {
                out.insert("nullable".to_owned(), Value::Bool(true));
            }
            if let Some(Value::String(property)) = out.get("discriminator").cloned() {
                out.insert(
                    "discriminator".to_owned(),
                    json!({ "propertyName": property }),
                );
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(upgrade_schema).collect()),
        other => other,
    }
}

fn upgrade_security_scheme(scheme: Value) -> Value {
    let Value::Object(mut map) = scheme else {
        return scheme;
    };
    match map.get("type").and_then(Value::as_str) {
        Some("basic") => {
            map.insert("type".to_owned(), json!("http"));
            map.insert("scheme".to_owned(), json!("basic"));
        }
        Some("oauth2") => {
            let flow = map
                .remove("flow")
                .and_then(|f| f.as_str().map(str::to_owned));
            let mut details = Map::new();
            for key in ["authorizationUrl", "tokenUrl"] {
                if let Some(value) = map.remove(key) {
                    details.insert(key.to_owned(), value);
                }
            }
            details.insert(
                "scopes".to_owned(),
                map.remove("scopes").unwrap_or_else(|| json!({})),
            );
            let name = match flow.as_deref() {
                Some("implicit") => "implicit",
                Some("password") => "password",
                Some("application") => "clientCredentials",
                _ => "authorizationCode",
            };
            map.insert("flows".to_owned(), json!({ name: details }));
        }
        _ => {}
    }
    Value::Object(map)
}

fn copy_extensions(from: &Value, to: &mut Map<String, Value>) {
    if let Some(map) = from.as_object() {
        for (key, value) in map {
            if key.starts_with("x-") {
                to.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Every `$ref` into a place that moved, pointed at where it now is.
fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref") {
                *reference = moved_reference(reference);
            }
            for (key, child) in map.iter_mut() {
                if key != "$ref" {
                    rewrite_refs(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

fn moved_reference(reference: &str) -> String {
    let (file, fragment) = reference.split_once('#').unwrap_or((reference, ""));
    let moved = [
        ("/definitions/", "/components/schemas/"),
        ("/parameters/", "/components/parameters/"),
        ("/responses/", "/components/responses/"),
    ];
    for (old, new) in moved {
        if let Some(rest) = fragment.strip_prefix(old) {
            return format!("{file}#{new}{rest}");
        }
    }
    reference.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_into_moved_places_are_named_as_the_2_0_text_has_them() {
        assert_eq!(
            original_pointer("/components/schemas/Dog/properties/id"),
            "/definitions/Dog/properties/id"
        );
        assert_eq!(
            original_pointer("/paths/~1dogs/post/requestBody/content/application~1json/schema"),
            "/paths/~1dogs/post/parameters"
        );
        assert_eq!(
            original_pointer(
                "/paths/~1dogs/get/responses/200/content/application~1json/schema/items"
            ),
            "/paths/~1dogs/get/responses/200/schema/items"
        );
        assert_eq!(original_pointer("/paths/~1dogs/get"), "/paths/~1dogs/get");
    }

    #[test]
    fn collection_formats_security_schemes_and_responses() {
        let upgraded = upgrade(json!({
            "swagger": "2.0",
            "produces": ["application/xml"],
            "securityDefinitions": {
                "oauth": {"type": "oauth2", "flow": "application", "tokenUrl": "/token",
                          "scopes": {"read": "Read"}}
            },
            "paths": {"/a": {"get": {
                "parameters": [
                    {"name": "ids", "in": "query", "type": "array", "collectionFormat": "pipes",
                     "items": {"type": "integer"}},
                    {"name": "at", "in": "header", "type": "array", "items": {"type": "string"}}
                ],
                "responses": {"200": {"description": "ok", "schema": {"type": "file"},
                              "headers": {"X-Rate": {"type": "integer"}}}}
            }}}
        }));
        let operation = &upgraded["paths"]["/a"]["get"];
        assert_eq!(operation["parameters"][0]["style"], "pipeDelimited");
        assert_eq!(
            operation["parameters"][0]["schema"]["items"],
            json!({"type": "integer"})
        );
        assert_eq!(operation["parameters"][1]["style"], "simple");
        let ok = &operation["responses"]["200"];
        assert_eq!(
            ok["content"]["application/xml"]["schema"],
            json!({"type": "string", "format": "binary"})
        );
        assert_eq!(
            ok["headers"]["X-Rate"]["schema"],
            json!({"type": "integer"})
        );
        assert_eq!(
            upgraded["components"]["securitySchemes"]["oauth"]["flows"],
            json!({"clientCredentials": {"tokenUrl": "/token", "scopes": {"read": "Read"}}})
        );
        assert!(upgraded.get("servers").is_none(), "no host, no basePath");
    }
}
