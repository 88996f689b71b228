//! The request's contract, checked before the handler runs: a JSON body against its schema in
//! the spec (feature `validation`, on jsonschema), so that a handler never sees a value the
//! spec forbids: out of its bounds (`minimum`, `maxLength`, `pattern`, `minItems`,
//! `uniqueItems`, ...), `null` where the schema is not `nullable`, an array where it says
//! object, a string that is not the `date`, `date-time`, `uuid`, `ipv4` or `ipv6` its
//! `format` says. Every violation is listed with its JSON pointer in one 422 problem.
//!
//! The schemas are read from the document the service embeds (its `openapi` module, whose
//! [`Contract`] static the generated code names with the path, method and media type). OpenAPI
//! 3.0 schemas are read as JSON Schema draft 4 once `nullable` is spelled as a type and
//! read-only properties are no longer required (clients do not send them); OpenAPI 3.1 schemas
//! are draft 2020-12. Only the five formats above are checked (cheap and sure); others stay
//! annotations. A `pattern` the regex engine cannot compile is dropped from the check (logged
//! once; `specjet validate` warns of it), and a schema that still cannot be compiled is logged
//! once and leaves the body to serde's checks, never a panic.

use crate::request::extract;
use crate::request::problem::Problem;
use serde::de::DeserializeOwned;

/// The formats the contract checks when formats are on: the ones whose check is cheap and
/// sure. The generator knows the same list (a parameter with one of them is checked).
pub const CHECKED_FORMATS: [&str; 5] = ["date", "date-time", "uuid", "ipv4", "ipv6"];

/// The document requests are checked against, prepared for checking on first use and kept
/// for the process. The generated `openapi` module holds one as a static.
#[derive(Debug)]
pub struct Contract {
    document: &'static str,
    formats: bool,
    #[cfg(feature = "validation")]
    prepared: std::sync::OnceLock<Option<validation::Prepared>>,
}

impl Contract {
    /// The contract of `document` (an OpenAPI document as JSON text), formats checked.
    pub const fn new(document: &'static str) -> Contract {
        Contract {
            document,
            formats: true,
            #[cfg(feature = "validation")]
            prepared: std::sync::OnceLock::new(),
        }
    }

    /// The same contract with `format` left an annotation (`x-specjet.validation.formats:
    /// false`).
    pub const fn without_formats(mut self) -> Contract {
        self.formats = false;
        self
    }
}

/// Where an operation's request body schema is: the contract, and the path, method and media
/// type under which the spec declares it.
#[derive(Debug)]
pub struct BodySchema {
    contract: &'static Contract,
    path: &'static str,
    method: &'static str,
    media: &'static str,
    #[cfg(feature = "validation")]
    validator: std::sync::OnceLock<Option<jsonschema::Validator>>,
}

impl BodySchema {
    /// The schema of `media` in the request body of `method` on `path` in `contract`.
    pub const fn new(
        contract: &'static Contract,
        path: &'static str,
        method: &'static str,
        media: &'static str,
    ) -> BodySchema {
        BodySchema {
            contract,
            path,
            method,
            media,
            #[cfg(feature = "validation")]
            validator: std::sync::OnceLock::new(),
        }
    }
}

/// Where an operation's constrained parameters' schemas are: the contract, the operation's
/// path and method, and each parameter's name and place (`query`, `path`, `header`,
/// `cookie`).
#[derive(Debug)]
pub struct ParamSchemas {
    contract: &'static Contract,
    path: &'static str,
    method: &'static str,
    params: &'static [(&'static str, &'static str)],
    #[cfg(feature = "validation")]
    validators: std::sync::OnceLock<Vec<Option<jsonschema::Validator>>>,
}

impl ParamSchemas {
    /// The schemas of `params` of `method` on `path` in `contract`.
    pub const fn new(
        contract: &'static Contract,
        path: &'static str,
        method: &'static str,
        params: &'static [(&'static str, &'static str)],
    ) -> ParamSchemas {
        ParamSchemas {
            contract,
            path,
            method,
            params,
            #[cfg(feature = "validation")]
            validators: std::sync::OnceLock::new(),
        }
    }
}

/// A parameter's value as its schema sees it, from its reading: `null` (not checked) for an
/// absent optional one, and for one that could not be read (which is reported as such).
pub fn param_value<T: serde::Serialize>(
    read: &Result<T, crate::request::extract::ParamError>,
) -> serde_json::Value {
    read.as_ref()
        .ok()
        .and_then(|value| serde_json::to_value(value).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// `values` (the typed values of `schemas`' parameters, in their order) checked against
/// their schemas: one 400 problem naming every parameter out of bounds.
pub fn check_params(schemas: &ParamSchemas, values: &[serde_json::Value]) -> Result<(), Problem> {
    #[cfg(feature = "validation")]
    return validation::check_params(schemas, values);
    #[cfg(not(feature = "validation"))]
    {
        let _ = (
            schemas.contract.document,
            schemas.contract.formats,
            schemas.path,
            schemas.method,
            schemas.params,
            values,
        );
        Ok(())
    }
}

/// A JSON body checked against `schema`, then read: 400 when it is not JSON, 422 listing
/// every violation of the schema (or naming the field serde could not read).
pub fn json_body<T: DeserializeOwned>(bytes: &[u8], schema: &BodySchema) -> Result<T, Problem> {
    #[cfg(feature = "validation")]
    if let Some(validator) = validation::validator(schema) {
        let value: serde_json::Value = extract::json_body(bytes)?;
        let problem = validation::violations(validator, &value);
        if let Some(problem) = problem {
            return Err(problem);
        }
        return extract::json_value(value);
    }
    #[cfg(not(feature = "validation"))]
    let _ = (schema.contract, schema.path, schema.method, schema.media);
    extract::json_body(bytes)
}

#[cfg(feature = "validation")]
mod validation {
    use std::sync::OnceLock;

    use http::StatusCode;
    use serde_json::{json, Value};

    use super::{BodySchema, Contract, ParamSchemas, CHECKED_FORMATS};
    use crate::request::problem::{InvalidParam, Problem};

    /// The base URI the prepared document is registered under.
    const DOCUMENT_URI: &str = "urn:specjet:document";

    /// What a URI fragment may not hold as it is (RFC 3986: `pchar / "/" / "?"`).
    const FRAGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'!')
        .remove(b'$')
        .remove(b'&')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')')
        .remove(b'*')
        .remove(b'+')
        .remove(b',')
        .remove(b';')
        .remove(b'=')
        .remove(b':')
        .remove(b'@')
        .remove(b'/')
        .remove(b'?');

    /// A document prepared for validation, once per contract for the process.
    #[derive(Debug)]
    pub(super) struct Prepared {
        registry: jsonschema::Registry<'static>,
        draft: jsonschema::Draft,
        document: &'static Value,
        formats: bool,
    }

    fn prepared(contract: &'static Contract) -> Option<&'static Prepared> {
        contract
            .prepared
            .get_or_init(|| prepare(contract.document, contract.formats))
            .as_ref()
    }

    fn prepare(source: &str, formats: bool) -> Option<Prepared> {
        let mut document: Value = serde_json::from_str(source)
            .map_err(|error| tracing::warn!("the embedded document does not parse: {error}"))
            .ok()?;
        let openapi_31 = document
            .get("openapi")
            .and_then(Value::as_str)
            .is_some_and(|version| version.starts_with("3.1"));
        let draft = if openapi_31 {
            jsonschema::Draft::Draft202012
        } else {
            spell_nullable(&mut document);
            jsonschema::Draft::Draft4
        };
        unrequire_read_only(&mut document);
        if formats {
            keep_checked_formats(&mut document);
        }
        drop_uncompilable_patterns(&mut document);
        // Prepared once per contract and kept for the process, like the document itself.
        let document: &'static Value = Box::leak(Box::new(document));
        let registry = jsonschema::Registry::new()
            .draft(draft)
            .add(DOCUMENT_URI, document)
            .and_then(|builder| builder.prepare())
            .map_err(|error| tracing::warn!("request bodies are not checked: {error}"))
            .ok()?;
        Some(Prepared {
            registry,
            draft,
            document,
            formats,
        })
    }

    /// The compiled validator of `schema`; `None` when it has none or it cannot be compiled
    /// (logged once).
    pub(super) fn validator(schema: &BodySchema) -> Option<&jsonschema::Validator> {
        schema
            .validator
            .get_or_init(|| {
                let prepared = prepared(schema.contract)?;
                let pointer = body_schema_pointer(prepared.document, schema)?;
                compile(prepared, &pointer, schema.method, schema.path)
            })
            .as_ref()
    }

    /// See [`super::check_params`].
    pub(super) fn check_params(schemas: &ParamSchemas, values: &[Value]) -> Result<(), Problem> {
        let validators = schemas.validators.get_or_init(|| {
            let Some(prepared) = prepared(schemas.contract) else {
                return Vec::new();
            };
            schemas
                .params
                .iter()
                .map(|&(name, place)| {
                    let pointer = param_schema_pointer(prepared.document, schemas, name, place)?;
                    compile(prepared, &pointer, schemas.method, schemas.path)
                })
                .collect()
        });
        let mut invalid = Vec::new();
        for ((validator, value), &(name, place)) in
            validators.iter().zip(values).zip(schemas.params)
        {
            let Some(validator) = validator else { continue };
            if value.is_null() {
                continue;
            }
            for error in validator.iter_errors(value) {
                let at = error.instance_path().to_string();
                let reason = if at.is_empty() {
                    error.to_string()
                } else {
                    format!("at `{at}`: {error}")
                };
                invalid.push(InvalidParam {
                    location: place.to_owned(),
                    name: name.to_owned(),
                    reason,
                });
            }
        }
        if invalid.is_empty() {
            return Ok(());
        }
        let named: Vec<&str> = invalid.iter().map(|param| param.name.as_str()).collect();
        let mut problem = Problem::new(StatusCode::BAD_REQUEST).with_detail(format!(
            "parameters out of their schema's bounds: {}",
            named.join(", ")
        ));
        problem.invalid_params = invalid;
        Err(problem)
    }

    /// The JSON pointer of a parameter's schema: the operation's declaration of it, else its
    /// path item's, following `$ref`s.
    fn param_schema_pointer(
        document: &Value,
        schemas: &ParamSchemas,
        name: &str,
        place: &str,
    ) -> Option<String> {
        let escape = |segment: &str| segment.replace('~', "~0").replace('/', "~1");
        let item = followed(document, format!("/paths/{}", escape(schemas.path)))?;
        let operation = followed(document, format!("{item}/{}", escape(schemas.method)))?;
        for owner in [operation, item] {
            let list = format!("{owner}/parameters");
            let count = document
                .pointer(&list)
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            for index in 0..count {
                let Some(param) = followed(document, format!("{list}/{index}")) else {
                    continue;
                };
                let declared = document.pointer(&param)?;
                if declared.get("name").and_then(Value::as_str) == Some(name)
                    && declared.get("in").and_then(Value::as_str) == Some(place)
                {
                    let schema = format!("{param}/schema");
                    return document.pointer(&schema).map(|_| schema);
                }
            }
        }
        None
    }

    /// The validator of the schema at `pointer` in the prepared document (logged once when it
    /// cannot be compiled).
    fn compile(
        prepared: &Prepared,
        pointer: &str,
        method: &str,
        path: &str,
    ) -> Option<jsonschema::Validator> {
        // A pointer holds path templates (`{id}`) and any character of a name: percent-encoded
        // as a URI fragment must be.
        let fragment = percent_encoding::utf8_percent_encode(pointer, FRAGMENT);
        let reference = json!({ "$ref": format!("{DOCUMENT_URI}#{fragment}") });
        jsonschema::options()
            .with_draft(prepared.draft)
            .with_registry(&prepared.registry)
            .should_validate_formats(prepared.formats)
            .with_format("uuid", is_uuid)
            .build(&reference)
            .map_err(|error| {
                tracing::warn!(
                    "`{} {path}`: `{pointer}` is not checked: {error}",
                    method.to_uppercase()
                );
            })
            .ok()
    }

    /// The JSON pointer of the body schema in the document, following `$ref`s on the way
    /// (a path item, an operation or a request body may be a reference).
    fn body_schema_pointer(document: &Value, schema: &BodySchema) -> Option<String> {
        let mut pointer = String::new();
        for segment in [
            "paths",
            schema.path,
            schema.method,
            "requestBody",
            "content",
            schema.media,
            "schema",
        ] {
            pointer = followed(document, pointer)?;
            pointer.push('/');
            pointer.push_str(&segment.replace('~', "~0").replace('/', "~1"));
            document.pointer(&pointer)?;
        }
        Some(pointer)
    }

    /// `pointer`, or where the local `$ref` there leads (a few hops at most).
    fn followed(document: &Value, mut pointer: String) -> Option<String> {
        for _ in 0..8 {
            match document
                .pointer(&pointer)?
                .get("$ref")
                .and_then(Value::as_str)
            {
                Some(reference) => pointer = reference.strip_prefix('#')?.to_owned(),
                None => return Some(pointer),
            }
        }
        None
    }

    /// Every violation of `value`, in one 422 problem; `None` when there is none.
    pub(super) fn violations(validator: &jsonschema::Validator, value: &Value) -> Option<Problem> {
        let mut invalid: Vec<InvalidParam> = validator
            .iter_errors(value)
            .map(|error| InvalidParam {
                location: "body".to_owned(),
                name: error.instance_path().to_string(),
                reason: error.to_string(),
            })
            .collect();
        if invalid.is_empty() {
            return None;
        }
        invalid.sort_by(|a, b| a.name.cmp(&b.name));
        let first = &invalid[0];
        let place = if first.name.is_empty() {
            "at its root".to_owned()
        } else {
            format!("at `{}`", first.name)
        };
        let detail = format!(
            "the request body breaks its schema in {} place{}; first {place}: {}",
            invalid.len(),
            if invalid.len() == 1 { "" } else { "s" },
            first.reason
        );
        let mut problem = Problem::new(StatusCode::UNPROCESSABLE_ENTITY).with_detail(detail);
        problem.invalid_params = invalid;
        Some(problem)
    }

    /// The `uuid` format under every draft (jsonschema checks it only from 2019-09 on): its
    /// own check, taken from a 2020-12 validator.
    fn is_uuid(text: &str) -> bool {
        static UUID: OnceLock<Option<jsonschema::Validator>> = OnceLock::new();
        UUID.get_or_init(|| {
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&json!({ "format": "uuid" }))
                .ok()
        })
        .as_ref()
        .is_none_or(|validator| validator.is_valid(&Value::String(text.to_owned())))
    }

    /// Leaves only the [`CHECKED_FORMATS`] as `format`s: the others stay annotations.
    fn keep_checked_formats(document: &mut Value) {
        each_schema(document, false, &mut |schema| {
            let checked = schema
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|format| CHECKED_FORMATS.contains(&format));
            if !checked && schema.get("format").is_some_and(Value::is_string) {
                schema.remove("format");
            }
        });
    }

    /// Drops each `pattern` the regex engine cannot compile (logged once), so that the rest of
    /// its schema is still checked.
    fn drop_uncompilable_patterns(document: &mut Value) {
        each_schema(document, false, &mut |schema| {
            let Some(Value::String(pattern)) = schema.get("pattern") else {
                return;
            };
            if jsonschema::options()
                .build(&json!({ "pattern": pattern }))
                .is_err()
            {
                tracing::warn!(
                    "the pattern `{pattern}` cannot be compiled by the regex engine; it is not checked"
                );
                schema.remove("pattern");
            }
        });
    }

    /// Calls `visit` on every object of `value` that may be a schema, as
    /// [`specjet_model::schema::descend`] finds them.
    fn each_schema(
        value: &mut Value,
        names: bool,
        visit: &mut impl FnMut(&mut serde_json::Map<String, Value>),
    ) {
        use specjet_model::schema::{descend, Descend};
        match value {
            Value::Object(map) => {
                if !names {
                    visit(map);
                }
                for (key, child) in map.iter_mut() {
                    if let Descend::Into { names } = descend(key, names) {
                        each_schema(child, names, visit);
                    }
                }
            }
            Value::Array(items) => items
                .iter_mut()
                .for_each(|item| each_schema(item, false, visit)),
            _ => {}
        }
    }

    /// OpenAPI 3.0's `nullable: true` as JSON Schema says it: `null` among the types (and
    /// the values of an `enum`), or a schema without a type as one choice beside `null`.
    fn spell_nullable(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for child in map.values_mut() {
                    spell_nullable(child);
                }
                if map.remove("nullable") != Some(Value::Bool(true)) {
                    return;
                }
                if let Some(Value::Array(values)) = map.get_mut("enum") {
                    if !values.contains(&Value::Null) {
                        values.push(Value::Null);
                    }
                }
                match map.get_mut("type") {
                    Some(Value::String(ty)) => {
                        let ty = std::mem::take(ty);
                        map.insert("type".to_owned(), json!([ty, "null"]));
                    }
                    Some(_) => {}
                    None => {
                        let rest = Value::Object(std::mem::take(map));
                        map.insert("anyOf".to_owned(), json!([{ "type": "null" }, rest]));
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(spell_nullable),
            _ => {}
        }
    }

    /// Takes `readOnly` properties out of `required`: the server sets them, clients do not
    /// send them.
    fn unrequire_read_only(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for child in map.values_mut() {
                    unrequire_read_only(child);
                }
                let read_only: Vec<String> = match map.get("properties") {
                    Some(Value::Object(properties)) => properties
                        .iter()
                        .filter(|(_, schema)| schema.get("readOnly") == Some(&Value::Bool(true)))
                        .map(|(name, _)| name.clone())
                        .collect(),
                    _ => return,
                };
                if let Some(Value::Array(required)) = map.get_mut("required") {
                    required.retain(|name| {
                        name.as_str()
                            .is_none_or(|name| !read_only.iter().any(|r| r == name))
                    });
                }
            }
            Value::Array(items) => items.iter_mut().for_each(unrequire_read_only),
            _ => {}
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn nullable_is_spelled_as_a_type() {
            let mut schema = json!({
                "properties": {
                    "tag": {"type": "string", "nullable": true},
                    "kind": {"enum": ["a", "b"], "type": "string", "nullable": true},
                    "owner": {"allOf": [{"$ref": "#/x"}], "nullable": true},
                    "name": {"type": "string"}
                }
            });
            spell_nullable(&mut schema);
            let properties = &schema["properties"];
            assert_eq!(properties["tag"]["type"], json!(["string", "null"]));
            assert_eq!(properties["kind"]["enum"], json!(["a", "b", null]));
            assert_eq!(properties["owner"]["anyOf"][0], json!({"type": "null"}));
            assert_eq!(properties["name"], json!({"type": "string"}));
        }

        #[test]
        fn only_the_checked_formats_stay_and_literal_values_are_left_alone() {
            let mut document = json!({
                "properties": {
                    "day": {"type": "string", "format": "date"},
                    "mail": {"type": "string", "format": "email"},
                    "format": {"type": "string", "format": "uri"},
                    "kind": {"enum": [{"format": "pdf"}], "default": {"format": "pdf"}}
                }
            });
            keep_checked_formats(&mut document);
            let properties = &document["properties"];
            assert_eq!(properties["day"]["format"], "date");
            assert_eq!(properties["mail"], json!({"type": "string"}));
            // A property named `format` is a schema, not the keyword.
            assert_eq!(properties["format"], json!({"type": "string"}));
            assert_eq!(properties["kind"]["enum"], json!([{"format": "pdf"}]));
            assert_eq!(properties["kind"]["default"], json!({"format": "pdf"}));
        }

        #[test]
        fn uuids_are_checked_under_every_draft() {
            assert!(is_uuid("5b7c1a9e-3f2d-4c8b-9a1e-2d3c4b5a6f70"));
            assert!(!is_uuid("5b7c1a9e"));
            assert!(!is_uuid("5b7c1a9e-3f2d-4c8b-9a1e-2d3c4b5a6f7g"));
        }

        #[test]
        fn a_pattern_the_engine_cannot_compile_is_dropped_and_the_rest_kept() {
            let mut document = json!({
                "properties": {
                    "code": {"type": "string", "maxLength": 2, "pattern": "^(?<c>a)\\k<c>$"},
                    "label": {"type": "string", "pattern": "^[a-z]+$"}
                }
            });
            drop_uncompilable_patterns(&mut document);
            let properties = &document["properties"];
            assert_eq!(
                properties["code"],
                json!({"type": "string", "maxLength": 2})
            );
            assert_eq!(properties["label"]["pattern"], "^[a-z]+$");
        }

        #[test]
        fn read_only_properties_are_not_required_of_clients() {
            let mut schema = json!({
                "type": "object",
                "required": ["id", "name"],
                "properties": {"id": {"type": "integer", "readOnly": true}, "name": {}}
            });
            unrequire_read_only(&mut schema);
            assert_eq!(schema["required"], json!(["name"]));
        }
    }
}
