//! Loading: YAML or JSON (chosen by content), every file reached through `$ref`, and
//! resolution of references with cycle protection.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::diag::{Diagnostic, Diagnostics, Severity};
use crate::pointer;
use crate::yaml;

/// Index of a loaded document in [`Spec::docs`].
pub type DocId = usize;

/// One loaded file.
#[derive(Debug)]
pub struct Document {
    /// The path as the user gave it (root) or as reached from the referencing file.
    pub name: String,
    /// Where it was read from; relative references resolve against it.
    pub path: PathBuf,
    /// The file's text, kept to find line:column for diagnostics.
    pub text: String,
    /// The parsed document.
    pub value: Value,
}

/// The root document and every document it references.
#[derive(Debug)]
pub struct Spec {
    /// Every loaded document, the root first.
    pub docs: Vec<Document>,
    by_path: HashMap<PathBuf, DocId>,
    /// The root is a Swagger 2.0 document: every document was read as OpenAPI 3.0
    /// ([`crate::swagger2`]), and diagnostics are located in the 2.0 text.
    swagger2: bool,
}

/// A place in the spec: a document and a JSON pointer into it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// The document.
    pub doc: DocId,
    /// A JSON pointer into it; empty for the whole document.
    pub pointer: String,
}

impl Location {
    /// `/components/schemas` of the root document: where every component schema lives.
    pub fn component_schemas() -> Location {
        Location {
            doc: 0,
            pointer: "/components/schemas".to_owned(),
        }
    }

    /// The location of `segment` (a key or an index) inside this one.
    pub fn child(&self, segment: &str) -> Location {
        Location {
            doc: self.doc,
            pointer: pointer::push(&self.pointer, segment),
        }
    }
}

/// How many `$ref` hops one resolution may take before it is called a cycle.
const MAX_REF_HOPS: usize = 64;
/// How many files one spec may reference.
const MAX_DOCUMENTS: usize = 512;

impl Spec {
    /// Loads `path` and every local file it references. Problems go to `diags`; `None` when
    /// the root document cannot be read or parsed.
    pub fn load(path: &Path, diags: &mut Diagnostics) -> Option<Spec> {
        let name = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) => {
                diags.push(
                    Severity::Fatal,
                    &name,
                    "",
                    format!("cannot read the file: {error}"),
                );
                return None;
            }
        };
        Spec::load_text(&name, path, text, diags)
    }

    /// Loads a document given as text; `path` anchors relative references.
    pub fn load_text(
        name: &str,
        path: &Path,
        text: String,
        diags: &mut Diagnostics,
    ) -> Option<Spec> {
        let value = match parse_document(&text) {
            Ok(value) => value,
            Err(mut diagnostic) => {
                diagnostic.file = name.to_owned();
                diags.push_diagnostic(diagnostic);
                return None;
            }
        };
        let swagger2 = crate::swagger2::is_swagger2(&value);
        let value = if swagger2 {
            crate::swagger2::upgrade(value)
        } else {
            value
        };
        let mut spec = Spec {
            docs: Vec::new(),
            by_path: HashMap::new(),
            swagger2,
        };
        let key = canonical(path);
        spec.by_path.insert(key, 0);
        spec.docs.push(Document {
            name: name.to_owned(),
            path: path.to_owned(),
            text,
            value,
        });
        spec.load_referenced(diags);
        Some(spec)
    }

    /// Walks every loaded document for `$ref`s to other files and loads them, breadth first.
    fn load_referenced(&mut self, diags: &mut Diagnostics) {
        let mut next = 0;
        while next < self.docs.len() {
            let mut refs = Vec::new();
            collect_refs(&self.docs[next].value, "", &mut refs);
            let base = self.docs[next].path.clone();
            let referrer = self.docs[next].name.clone();
            for (pointer, reference) in refs {
                let (file, _) = split_ref(&reference);
                if file.is_empty() {
                    continue;
                }
                if file.contains("://") {
                    diags.push(
                        Severity::Error,
                        &referrer,
                        &pointer,
                        format!("remote reference `{reference}` is not supported: download the file and reference it by a relative path"),
                    );
                    continue;
                }
                let target = resolve_path(&base, file);
                let key = canonical(&target);
                if self.by_path.contains_key(&key) {
                    continue;
                }
                if self.docs.len() >= MAX_DOCUMENTS {
                    diags.push(
                        Severity::Error,
                        &referrer,
                        &pointer,
                        "too many referenced files",
                    );
                    return;
                }
                let name = target.display().to_string();
                let text = match std::fs::read_to_string(&target) {
                    Ok(text) => text,
                    Err(error) => {
                        diags.push(
                            Severity::Error,
                            &referrer,
                            &pointer,
                            format!("cannot read referenced file `{file}`: {error}"),
                        );
                        // Remember the failure so each missing file is reported once.
                        self.by_path.insert(key, usize::MAX);
                        continue;
                    }
                };
                match parse_document(&text) {
                    Ok(value) => {
                        let value = if self.swagger2 {
                            crate::swagger2::upgrade(value)
                        } else {
                            value
                        };
                        self.by_path.insert(key, self.docs.len());
                        self.docs.push(Document {
                            name,
                            path: target,
                            text,
                            value,
                        });
                    }
                    Err(mut diagnostic) => {
                        diagnostic.file = name;
                        diagnostic.severity = Severity::Error;
                        diags.push_diagnostic(diagnostic);
                        self.by_path.insert(key, usize::MAX);
                    }
                }
            }
            next += 1;
        }
    }

    /// The path of every loaded document, the root first.
    pub fn sources(&self) -> Vec<PathBuf> {
        self.docs.iter().map(|doc| doc.path.clone()).collect()
    }

    /// The root document's value.
    pub fn root(&self) -> &Value {
        &self.docs[0].value
    }

    /// The name of document `doc`, as diagnostics show it.
    pub fn doc_name(&self, doc: DocId) -> &str {
        &self.docs[doc].name
    }

    /// The value at a location, if it exists.
    pub fn get(&self, location: &Location) -> Option<&Value> {
        pointer::get(&self.docs.get(location.doc)?.value, &location.pointer)
    }

    /// Where a `$ref` string written in document `doc` points.
    pub fn ref_target(&self, doc: DocId, reference: &str) -> Result<Location, String> {
        let (file, fragment) = split_ref(reference);
        let target_doc = if file.is_empty() {
            doc
        } else {
            if file.contains("://") {
                return Err(format!("remote reference `{reference}` is not supported"));
            }
            let path = resolve_path(&self.docs[doc].path, file);
            match self.by_path.get(&canonical(&path)) {
                Some(&id) if id != usize::MAX => id,
                _ => return Err(format!("the file of `{reference}` could not be loaded")),
            }
        };
        let pointer = pointer::from_fragment(fragment);
        let location = Location {
            doc: target_doc,
            pointer,
        };
        if self.get(&location).is_none() {
            return Err(format!("`{reference}` does not resolve"));
        }
        Ok(location)
    }

    /// Follows `$ref` chains from `location` to the first value that is not a reference.
    /// Returns the final location and value; an error for broken or cyclic chains.
    pub fn deref(&self, location: &Location) -> Result<(Location, &Value), String> {
        let mut current = location.clone();
        for _ in 0..MAX_REF_HOPS {
            let value = self
                .get(&current)
                .ok_or_else(|| format!("`#{}` does not exist", current.pointer))?;
            match value.get("$ref").and_then(Value::as_str) {
                Some(reference) => current = self.ref_target(current.doc, reference)?,
                None => return Ok((current, value)),
            }
        }
        Err("reference cycle: the `$ref` chain never reaches a value".to_owned())
    }

    /// Finds line:column for a diagnostic's pointer in its document (best effort).
    pub fn locate(&self, diagnostic: &mut Diagnostic) {
        if diagnostic.line_col.is_some() || diagnostic.pointer.is_empty() {
            return;
        }
        if let Some(doc) = self.docs.iter().find(|doc| doc.name == diagnostic.file) {
            if self.swagger2 {
                // Named and found where the 2.0 text has it (the upgraded value does not
                // match that text, so its shape guides no search).
                diagnostic.pointer = crate::swagger2::original_pointer(&diagnostic.pointer);
                diagnostic.line_col =
                    crate::position::find(&doc.text, &Value::Null, &diagnostic.pointer);
            } else {
                diagnostic.line_col =
                    crate::position::find(&doc.text, &doc.value, &diagnostic.pointer);
            }
        }
    }
}

/// `other.yaml#/a/b` as (`other.yaml`, `/a/b`).
fn split_ref(reference: &str) -> (&str, &str) {
    match reference.split_once('#') {
        Some((file, fragment)) => (file, fragment),
        None => (reference, ""),
    }
}

fn resolve_path(base: &Path, file: &str) -> PathBuf {
    let file = crate::pointer::percent_decode(file);
    base.parent().unwrap_or(Path::new(".")).join(file)
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// Every `$ref` string in a document with its pointer, skipping `x-` extensions and literal
/// examples (their contents are not part of the API description).
fn collect_refs(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    let mut stack = vec![(value, at.to_owned())];
    while let Some((value, at)) = stack.pop() {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    if key == "$ref" {
                        if let Value::String(reference) = child {
                            out.push((at.clone(), reference.clone()));
                        }
                    } else if !key.starts_with("x-") && key != "example" && key != "examples" {
                        stack.push((child, pointer::push(&at, key)));
                    }
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    stack.push((child, pointer::push(&at, &index.to_string())));
                }
            }
            _ => {}
        }
    }
}

/// Parses YAML or JSON, chosen by content: a document whose first non-blank character is `{`
/// is JSON, anything else YAML (JSON is also YAML, so a misjudged file still loads).
pub fn parse_document(text: &str) -> Result<Value, Diagnostic> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim_start().starts_with('{') {
        // No depth limit: the pipeline runs on a large stack (see `crate::on_large_stack`).
        let mut deserializer = serde_json::Deserializer::from_str(text);
        deserializer.disable_recursion_limit();
        let parsed = serde::Deserialize::deserialize(&mut deserializer)
            .and_then(|value: Value| deserializer.end().map(|()| value));
        match parsed {
            Ok(value) => return Ok(value),
            Err(error) if error.is_syntax() || error.is_eof() => {
                return Err(Diagnostic {
                    severity: Severity::Fatal,
                    file: String::new(),
                    pointer: String::new(),
                    line_col: Some((error.line(), error.column())),
                    message: format!("not valid JSON: {error}"),
                })
            }
            // Depth limits and the like: YAML's parser gets its turn.
            Err(_) => {}
        }
    }
    let value: yaml::JsonValue = serde_norway::from_str(text).map_err(|error| Diagnostic {
        severity: Severity::Fatal,
        file: String::new(),
        pointer: String::new(),
        line_col: error.location().map(|l| (l.line(), l.column())),
        message: format!("not valid YAML or JSON: {error}"),
    })?;
    let mut value = value.0;
    yaml::apply_merge_keys(&mut value);
    Ok(value)
}
