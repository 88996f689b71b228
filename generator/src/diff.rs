//! `specjet diff`: what changed between two versions of a spec — operations and types added,
//! removed or changed — and which changes break existing clients.

use std::collections::BTreeMap;

use crate::codegen::{rust_type, Scope};
use crate::ir::{Api, Operation, StatusSpec, TypeKind};

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `+` added, `-` removed, `~` changed.
    pub sign: char,
    /// What changed: an operation (by id) or a type (by name).
    pub subject: String,
    /// How it changed; may be empty.
    pub detail: String,
    /// Whether existing clients may break.
    pub breaking: bool,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.sign, self.subject)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        if self.breaking {
            write!(f, " [breaking]")?;
        }
        Ok(())
    }
}

/// A type as a reader writes it: `Vec<Pet>`, `Option<String>`.
fn ty(api: &Api, t: &crate::ir::TypeRef) -> String {
    const SHORT: [(&str, &str); 9] = [
        (":: std :: string :: String", "String"),
        (":: std :: vec :: Vec", "Vec"),
        (":: std :: option :: Option", "Option"),
        (":: std :: boxed :: Box", "Box"),
        (":: std :: collections :: BTreeMap", "BTreeMap"),
        (":: specjet :: serde_json :: Value", "Value"),
        (":: specjet :: bytes :: Bytes", "Bytes"),
        ("super :: types :: ", ""),
        ("super :: operations :: ", ""),
    ];
    let mut text = rust_type(api, t, Scope::Server).to_string();
    for (long, short) in SHORT {
        text = text.replace(long, short);
    }
    text.replace(' ', "")
}

/// Everything a client relies on in one operation, as comparable text.
struct Shape {
    line: String,
    params: BTreeMap<(String, &'static str), (String, bool)>,
    body: Option<(bool, BTreeMap<String, String>)>,
    responses: BTreeMap<String, Vec<String>>,
}

fn shape(api: &Api, op: &Operation) -> Shape {
    let params = op
        .params
        .iter()
        .map(|p| {
            (
                (p.wire.clone(), p.location.as_str()),
                (ty(api, &p.ty), p.required),
            )
        })
        .collect();
    let body = op.body.as_ref().map(|b| {
        let media = b
            .contents
            .iter()
            .map(|c| {
                let t = match c.kind.value_type() {
                    Some(t) => ty(api, t),
                    None => format!("{:?}", c.kind),
                };
                (c.media_type.clone(), t)
            })
            .collect();
        (b.required, media)
    });
    let responses = op
        .responses
        .iter()
        .map(|r| {
            let status = match r.status {
                StatusSpec::Code(c) => c.to_string(),
                StatusSpec::Range(c) => format!("{c}XX"),
                StatusSpec::Default => "default".to_owned(),
            };
            let bodies = r
                .contents
                .iter()
                .map(|c| match c.kind.value_type() {
                    Some(t) => format!("{} {}", c.media_type, ty(api, t)),
                    None => c.media_type.clone(),
                })
                .collect();
            (status, bodies)
        })
        .collect();
    Shape {
        line: format!("{} {}", op.method.as_str().to_uppercase(), op.path),
        params,
        body,
        responses,
    }
}

fn operation_changes(old: &Shape, new: &Shape) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    if old.line != new.line {
        out.push((format!("moved from `{}` to `{}`", old.line, new.line), true));
    }
    for (key, (t, required)) in &new.params {
        match old.params.get(key) {
            None => out.push((
                format!(
                    "{} parameter `{}` added{}",
                    key.1,
                    key.0,
                    if *required { " (required)" } else { "" }
                ),
                *required,
            )),
            Some((old_t, old_required)) => {
                if old_t != t {
                    out.push((
                        format!("{} parameter `{}` type `{old_t}` → `{t}`", key.1, key.0),
                        true,
                    ));
                }
                if *required && !old_required {
                    out.push((
                        format!("{} parameter `{}` is now required", key.1, key.0),
                        true,
                    ));
                }
            }
        }
    }
    for key in old.params.keys().filter(|k| !new.params.contains_key(*k)) {
        out.push((format!("{} parameter `{}` removed", key.1, key.0), false));
    }
    match (&old.body, &new.body) {
        (None, Some((required, _))) => out.push(("request body added".to_owned(), *required)),
        (Some(_), None) => out.push(("request body removed".to_owned(), false)),
        (Some((old_required, old_media)), Some((required, media))) => {
            if *required && !old_required {
                out.push(("request body is now required".to_owned(), true));
            }
            for (media_type, t) in old_media {
                match media.get(media_type) {
                    None => out.push((
                        format!("request body `{media_type}` no longer accepted"),
                        true,
                    )),
                    Some(new_t) if new_t != t => out.push((
                        format!("request body `{media_type}` type `{t}` → `{new_t}`"),
                        true,
                    )),
                    _ => {}
                }
            }
        }
        (None, None) => {}
    }
    for (status, bodies) in &old.responses {
        match new.responses.get(status) {
            None => out.push((
                format!("response {status} removed"),
                status.starts_with('2'),
            )),
            Some(new_bodies) if new_bodies != bodies => out.push((
                format!(
                    "response {status} body `{}` → `{}`",
                    bodies.join(", "),
                    new_bodies.join(", ")
                ),
                true,
            )),
            _ => {}
        }
    }
    for status in new
        .responses
        .keys()
        .filter(|s| !old.responses.contains_key(*s))
    {
        out.push((format!("response {status} added"), false));
    }
    out
}

/// The members of a schema type a client sees: fields (type, required) or enum values.
fn type_members(api: &Api, kind: &TypeKind) -> (String, BTreeMap<String, (String, bool)>) {
    match kind {
        TypeKind::Struct { fields, .. } => (
            "object".into(),
            fields
                .iter()
                .map(|f| (f.wire.clone(), (ty(api, &f.ty), f.required)))
                .collect(),
        ),
        TypeKind::StringEnum { variants } => (
            "enum".into(),
            variants
                .iter()
                .map(|v| (v.wire.clone(), (String::new(), false)))
                .collect(),
        ),
        TypeKind::IntEnum { variants } => (
            "enum".into(),
            variants
                .iter()
                .map(|v| (v.value.to_string(), (String::new(), false)))
                .collect(),
        ),
        TypeKind::Union { variants, .. } => (
            "union".into(),
            variants
                .iter()
                .map(|v| (v.name.clone(), (ty(api, &v.ty), false)))
                .collect(),
        ),
        TypeKind::Alias(t) | TypeKind::Newtype(t) => (format!("= {}", ty(api, t)), BTreeMap::new()),
    }
}

fn type_changes(
    api_old: &Api,
    old: &TypeKind,
    api_new: &Api,
    new: &TypeKind,
) -> Vec<(String, bool)> {
    let (old_shape, old_members) = type_members(api_old, old);
    let (new_shape, new_members) = type_members(api_new, new);
    if old_shape != new_shape {
        return vec![(format!("`{old_shape}` → `{new_shape}`"), true)];
    }
    let mut out = Vec::new();
    for (name, (t, required)) in &new_members {
        match old_members.get(name) {
            None => out.push((
                format!(
                    "`{name}` added{}",
                    if *required { " (required)" } else { "" }
                ),
                *required,
            )),
            Some((old_t, old_required)) => {
                if old_t != t {
                    out.push((format!("`{name}` type `{old_t}` → `{t}`"), true));
                }
                if required != old_required {
                    out.push((
                        format!(
                            "`{name}` is now {}",
                            if *required { "required" } else { "optional" }
                        ),
                        true,
                    ));
                }
            }
        }
    }
    for name in old_members.keys().filter(|n| !new_members.contains_key(*n)) {
        out.push((format!("`{name}` removed"), true));
    }
    out
}

/// The differences from `old` to `new`: operations by operationId, component types by name.
pub fn diff(old: &Api, new: &Api) -> Vec<Change> {
    let mut changes = Vec::new();
    let ops = |api: &Api| -> BTreeMap<String, usize> {
        api.operations
            .iter()
            .enumerate()
            .map(|(i, op)| (op.id.clone(), i))
            .collect()
    };
    let (old_ops, new_ops) = (ops(old), ops(new));
    for (id, &index) in &new_ops {
        let op = &new.operations[index];
        match old_ops.get(id) {
            None => changes.push(Change {
                sign: '+',
                subject: format!("operation `{id}`"),
                detail: format!("{} {}", op.method.as_str().to_uppercase(), op.path),
                breaking: false,
            }),
            Some(&old_index) => {
                for (detail, breaking) in
                    operation_changes(&shape(old, &old.operations[old_index]), &shape(new, op))
                {
                    changes.push(Change {
                        sign: '~',
                        subject: format!("operation `{id}`"),
                        detail,
                        breaking,
                    });
                }
            }
        }
    }
    for (id, &index) in old_ops.iter().filter(|(id, _)| !new_ops.contains_key(*id)) {
        let op = &old.operations[index];
        changes.push(Change {
            sign: '-',
            subject: format!("operation `{id}`"),
            detail: format!("{} {}", op.method.as_str().to_uppercase(), op.path),
            breaking: true,
        });
    }
    let types = |api: &Api| -> BTreeMap<String, usize> {
        api.types
            .iter()
            .enumerate()
            .filter(|(_, t)| t.module == crate::ir::Module::Types)
            .map(|(i, t)| (t.name.clone(), i))
            .collect()
    };
    let (old_types, new_types) = (types(old), types(new));
    for (name, &index) in &new_types {
        match old_types.get(name) {
            None => changes.push(Change {
                sign: '+',
                subject: format!("type `{name}`"),
                detail: String::new(),
                breaking: false,
            }),
            Some(&old_index) => {
                for (detail, breaking) in
                    type_changes(old, &old.types[old_index].kind, new, &new.types[index].kind)
                {
                    changes.push(Change {
                        sign: '~',
                        subject: format!("type `{name}`"),
                        detail,
                        breaking,
                    });
                }
            }
        }
    }
    for name in old_types.keys().filter(|n| !new_types.contains_key(*n)) {
        changes.push(Change {
            sign: '-',
            subject: format!("type `{name}`"),
            detail: String::new(),
            breaking: true,
        });
    }
    changes
}
