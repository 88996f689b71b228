//! The document the service serves about itself: the spec bundled into one JSON text, every
//! external `$ref` brought into it, optionally without specjet's annotations.
//!
//! A reference into another file's `components/<kind>/<name>` becomes a local reference to a
//! copy under the root's `components/<kind>` (renamed when the root has that name already),
//! so that shared schemas stay shared and recursive ones stay finite. Any other external
//! reference (a whole file, a path item) is replaced by what it points to; one that refers
//! back to itself is brought in as a schema under `components/schemas` instead.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};

use crate::load::{DocId, Location, Spec};
use crate::lower::annotations::registry;
use crate::pointer;

/// The bundled document as pretty JSON (`strip`: without specjet's annotations).
pub(crate) fn document(spec: &Spec, strip: bool) -> String {
    let mut value = if spec.docs.len() == 1 {
        spec.root().clone()
    } else {
        bundle(spec)
    };
    if strip {
        let opted_in = spec.root().get("x-specjet").is_some();
        strip_annotations(&mut value, opted_in);
    }
    serde_json::to_string_pretty(&value).unwrap_or_else(|_| "{}".to_owned())
}

fn bundle(spec: &Spec) -> Value {
    let mut bundler = Bundler {
        spec,
        hoisted: HashMap::new(),
        names: HashSet::new(),
        components: BTreeMap::new(),
        inlining: Vec::new(),
    };
    if let Some(Value::Object(components)) = spec.root().get("components") {
        for (kind, entries) in components {
            if let Value::Object(entries) = entries {
                for name in entries.keys() {
                    bundler.names.insert((kind.clone(), name.clone()));
                }
            }
        }
    }
    let mut root = bundler.rewrite(0, spec.root());
    if !bundler.components.is_empty() {
        if let Value::Object(root) = &mut root {
            let components = root
                .entry("components")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(components) = components {
                for (kind, entries) in bundler.components {
                    let section = components
                        .entry(kind)
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(section) = section {
                        section.extend(entries);
                    }
                }
            }
        }
    }
    root
}

struct Bundler<'a> {
    spec: &'a Spec,
    /// External locations already brought in, and the local reference that now names them.
    hoisted: HashMap<Location, String>,
    /// `(kind, name)` pairs taken under the root's `components`.
    names: HashSet<(String, String)>,
    /// What was brought in, per component kind, in the order first met.
    components: BTreeMap<String, Map<String, Value>>,
    /// The external locations being replaced by their value (to see a reference cycle).
    inlining: Vec<Location>,
}

impl Bundler<'_> {
    /// `value` (found in document `doc`) with every reference that leaves the root document
    /// rewritten.
    fn rewrite(&mut self, doc: DocId, value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                    if let Some(replaced) = self.reference(doc, reference, map) {
                        return replaced;
                    }
                }
                Value::Object(
                    map.iter()
                        .map(|(key, value)| (key.clone(), self.rewrite(doc, value)))
                        .collect(),
                )
            }
            Value::Array(items) => {
                Value::Array(items.iter().map(|item| self.rewrite(doc, item)).collect())
            }
            other => other.clone(),
        }
    }

    /// What replaces the reference object `map` (its `$ref` written in `doc`), or `None`
    /// when it stays as it is (a local reference of the root, or one that does not resolve).
    fn reference(
        &mut self,
        doc: DocId,
        reference: &str,
        map: &Map<String, Value>,
    ) -> Option<Value> {
        let target = self.spec.ref_target(doc, reference).ok()?;
        if target.doc == 0 {
            if doc == 0 {
                return None;
            }
            return Some(self.with_reference(map, doc, local_ref(&target.pointer)));
        }
        if let Some(local) = self.hoisted.get(&target) {
            let local = local.clone();
            return Some(self.with_reference(map, doc, local));
        }
        let segments: Vec<String> = pointer::segments(&target.pointer).collect();
        let component = match segments.as_slice() {
            [components, kind, name] if components == "components" => {
                Some((kind.clone(), name.clone()))
            }
            _ if self.inlining.contains(&target) => {
                Some(("schemas".to_owned(), self.stem(&target)))
            }
            _ => None,
        };
        let value = self.spec.get(&target)?.clone();
        match component {
            Some((kind, name)) => {
                let name = self.free_name(&kind, &name);
                let local = local_ref(&pointer::push(&pointer::push("/components", &kind), &name));
                self.hoisted.insert(target.clone(), local.clone());
                // Registered before its value is rewritten, so that a recursive schema ends
                // in a reference to itself.
                self.components
                    .entry(kind.clone())
                    .or_default()
                    .insert(name.clone(), Value::Null);
                let brought = self.rewrite(target.doc, &value);
                if let Some(entries) = self.components.get_mut(&kind) {
                    entries.insert(name, brought);
                }
                Some(self.with_reference(map, doc, local))
            }
            None => {
                self.inlining.push(target.clone());
                let brought = self.rewrite(target.doc, &value);
                self.inlining.pop();
                // Beside a `$ref`, only a description or summary may sit (OpenAPI 3.1).
                Some(match brought {
                    Value::Object(mut object) => {
                        for key in ["description", "summary"] {
                            if let Some(text) = map.get(key) {
                                object.insert(key.to_owned(), text.clone());
                            }
                        }
                        Value::Object(object)
                    }
                    other => other,
                })
            }
        }
    }

    /// The reference object `map` pointing at `local` instead, its other keys rewritten.
    fn with_reference(&mut self, map: &Map<String, Value>, doc: DocId, local: String) -> Value {
        Value::Object(
            map.iter()
                .map(|(key, value)| {
                    if key == "$ref" {
                        (key.clone(), Value::String(local.clone()))
                    } else {
                        (key.clone(), self.rewrite(doc, value))
                    }
                })
                .collect(),
        )
    }

    /// `name`, or `name_2`, `name_3`... when the root has that component already.
    fn free_name(&mut self, kind: &str, name: &str) -> String {
        let clean: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut candidate = clean.clone();
        let mut n = 2;
        while !self.names.insert((kind.to_owned(), candidate.clone())) {
            candidate = format!("{clean}_{n}");
            n += 1;
        }
        candidate
    }

    /// A name for a location outside `components`: its file's stem and its last segment.
    fn stem(&self, target: &Location) -> String {
        let file = self.spec.docs[target.doc]
            .path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_else(|| "schema".to_owned());
        match pointer::last(&target.pointer) {
            Some(last) if !last.is_empty() => format!("{file}_{last}"),
            _ => file,
        }
    }
}

fn local_ref(pointer: &str) -> String {
    format!("#{pointer}")
}

/// Removes `x-specjet` and every `x-specjet-<concern>` key (and, in an opted-in document, the
/// short `x-<concern>` names) at any depth.
fn strip_annotations(value: &mut Value, opted_in: bool) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !is_annotation(key, opted_in));
            for value in map.values_mut() {
                strip_annotations(value, opted_in);
            }
        }
        Value::Array(items) => {
            for item in items {
                strip_annotations(item, opted_in);
            }
        }
        _ => {}
    }
}

fn is_annotation(key: &str, opted_in: bool) -> bool {
    if key == "x-specjet" || key.starts_with("x-specjet-") {
        return true;
    }
    opted_in
        && key
            .strip_prefix("x-")
            .is_some_and(|name| registry::by_name(name).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Diagnostics;

    fn load(files: &[(&str, &str)]) -> (tempfile::TempDir, Spec) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let mut diags = Diagnostics::default();
        let spec = Spec::load(&dir.path().join(files[0].0), &mut diags).unwrap();
        (dir, spec)
    }

    fn bundled(files: &[(&str, &str)]) -> Value {
        let (_dir, spec) = load(files);
        serde_json::from_str(&document(&spec, false)).unwrap()
    }

    #[test]
    fn external_components_become_local_and_stay_shared() {
        let root = r##"
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /pets:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "models.yaml#/components/schemas/Pet"}
    post:
      requestBody:
        content:
          application/json:
            schema: {$ref: "models.yaml#/components/schemas/Pet"}
      responses:
        "201": {$ref: "responses.yaml"}
components:
  schemas:
    Pet: {type: string}
"##;
        let models = r##"
components:
  schemas:
    Pet:
      type: object
      properties:
        owner: {$ref: "#/components/schemas/Owner"}
        friends: {type: array, items: {$ref: "#/components/schemas/Pet"}}
    Owner: {type: object, properties: {name: {type: string}}}
"##;
        let responses = r##"
description: created
content:
  application/json:
    schema: {$ref: "models.yaml#/components/schemas/Owner"}
"##;
        let value = bundled(&[
            ("root.yaml", root),
            ("models.yaml", models),
            ("responses.yaml", responses),
        ]);
        let text = value.to_string();
        assert!(
            !text.contains(".yaml"),
            "an external reference is left: {text}"
        );
        // The root's own `Pet` keeps its name; the external one is renamed.
        assert_eq!(value["components"]["schemas"]["Pet"]["type"], "string");
        let get = &value["paths"]["/pets"]["get"]["responses"]["200"]["content"]
            ["application/json"]["schema"];
        assert_eq!(get["$ref"], "#/components/schemas/Pet_2");
        let post = &value["paths"]["/pets"]["post"];
        assert_eq!(
            post["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Pet_2"
        );
        let pet = &value["components"]["schemas"]["Pet_2"];
        assert_eq!(
            pet["properties"]["owner"]["$ref"],
            "#/components/schemas/Owner"
        );
        assert_eq!(
            pet["properties"]["friends"]["items"]["$ref"],
            "#/components/schemas/Pet_2"
        );
        // A whole-file reference is replaced by the file.
        let created = &post["responses"]["201"];
        assert_eq!(created["description"], "created");
        assert_eq!(
            created["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Owner"
        );
    }

    #[test]
    fn a_file_that_refers_to_itself_becomes_a_schema() {
        let root = r##"
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /tree:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "node.yaml"}
"##;
        let node = r##"
type: object
properties:
  children: {type: array, items: {$ref: "node.yaml"}}
"##;
        let value = bundled(&[("root.yaml", root), ("node.yaml", node)]);
        let schema = &value["paths"]["/tree"]["get"]["responses"]["200"]["content"]
            ["application/json"]["schema"];
        assert_eq!(
            schema["properties"]["children"]["items"]["$ref"],
            "#/components/schemas/node"
        );
        let node = &value["components"]["schemas"]["node"];
        assert_eq!(
            node["properties"]["children"]["items"]["$ref"],
            "#/components/schemas/node"
        );
    }

    #[test]
    fn stripping_leaves_out_annotations_only() {
        let root = r##"
openapi: 3.0.3
info: {title: t, version: "1", x-logo: keep}
x-specjet: {cache: {}}
paths:
  /pets:
    x-rate-limit: 10/s
    get:
      x-cache: 1m
      x-specjet-timeout: 2s
      x-internal: keep
      responses: {"200": {description: ok}}
"##;
        let (_dir, spec) = load(&[("root.yaml", root)]);
        let kept: Value = serde_json::from_str(&document(&spec, false)).unwrap();
        assert_eq!(kept["paths"]["/pets"]["get"]["x-cache"], "1m");
        let value: Value = serde_json::from_str(&document(&spec, true)).unwrap();
        assert!(value.get("x-specjet").is_none());
        let item = &value["paths"]["/pets"];
        assert!(item.get("x-rate-limit").is_none());
        assert!(item["get"].get("x-cache").is_none());
        assert!(item["get"].get("x-specjet-timeout").is_none());
        assert_eq!(item["get"]["x-internal"], "keep");
        assert_eq!(value["info"]["x-logo"], "keep");
    }
}
