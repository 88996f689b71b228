//! Path templates → axum routes.
//!
//! Every segment holding a parameter becomes a whole-segment capture. It is named after its
//! parameter (`/pets/{petId}`) where every route with a capture at that place names it alike
//! (the router takes one name per place); elsewhere by its position (`{s2}`), so paths that
//! differ only in parameter names (`/a/{id}`, `/a/{name}`) or in literal text around a
//! parameter (`/{id}.json`, `{range}:append`) share one route, and the operation is picked by
//! its literals at request time.

use std::collections::HashMap;

use crate::ir::{Capture, Operation, Piece};

/// A parsed path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    pub axum_path: String,
    pub captures: Vec<Capture>,
    /// Parameter names in the order they appear.
    pub params: Vec<String>,
    /// Text after `?` or `#` in the path key, which is not part of the route.
    pub dropped_suffix: Option<String>,
}

pub(crate) fn parse(path: &str) -> Template {
    let (route_part, dropped_suffix) = match path.find(['?', '#']) {
        Some(at) => (&path[..at], Some(path[at..].to_owned())),
        None => (path, None),
    };
    let mut axum_path = String::new();
    let mut captures = Vec::new();
    let mut params = Vec::new();
    let trimmed = route_part.strip_prefix('/').unwrap_or(route_part);
    for (index, segment) in trimmed.split('/').enumerate() {
        axum_path.push('/');
        let pieces = specjet_model::paths::segment_pieces(segment);
        if pieces.iter().any(|p| matches!(p, Piece::Param(_))) {
            let key = format!("s{index}");
            axum_path.push('{');
            axum_path.push_str(&key);
            axum_path.push('}');
            for piece in &pieces {
                if let Piece::Param(name) = piece {
                    params.push(name.clone());
                }
            }
            captures.push(Capture { key, pieces });
        } else {
            // Requests arrive percent-encoded, and matchit treats braces as syntax (doubled).
            axum_path.push_str(
                &encode_literal(segment)
                    .replace('{', "{{")
                    .replace('}', "}}"),
            );
        }
    }
    Template {
        axum_path,
        captures,
        params,
        dropped_suffix,
    }
}

/// The route of `path` with its captures under the keys of `captures` (in segment order).
pub(crate) fn route_path(path: &str, captures: &[Capture]) -> String {
    let positional = parse(path);
    let renamed: HashMap<String, &str> = positional
        .captures
        .iter()
        .zip(captures)
        .map(|(old, new)| (format!("{{{}}}", old.key), new.key.as_str()))
        .collect();
    positional
        .axum_path
        .split('/')
        .map(|segment| match renamed.get(segment) {
            Some(key) => format!("{{{key}}}"),
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Names each whole-segment capture of `operations` after the parameter it holds where every
/// operation with a capture at the same place (the route up to it) holds a parameter of that
/// one name there, and no route would name two captures alike; the others keep their
/// positional key.
pub(crate) fn name_captures(operations: &mut [Operation]) {
    // Per operation: (place, the name it would give) for each capture, in order.
    let wishes: Vec<Vec<(String, Option<String>)>> = operations
        .iter()
        .map(|op| capture_wishes(&op.path, &op.path_captures))
        .collect();
    // Per place: the one name every capture there would take, or `None` when they differ.
    let mut names: HashMap<&str, Option<&str>> = HashMap::new();
    for (place, wish) in wishes.iter().flatten() {
        let wish = wish.as_deref();
        names
            .entry(place)
            .and_modify(|name| {
                if *name != wish {
                    *name = None;
                }
            })
            .or_insert(wish);
    }
    // A route naming two of its captures alike keeps every one of them positional.
    loop {
        let mut changed = false;
        for op_wishes in &wishes {
            let mut seen = std::collections::HashSet::new();
            for (place, _) in op_wishes {
                if let Some(Some(name)) = names.get(place.as_str()) {
                    if !seen.insert(*name) {
                        for (place, _) in op_wishes {
                            changed |= names.insert(place, None).flatten().is_some();
                        }
                        break;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    for (op, op_wishes) in operations.iter_mut().zip(&wishes) {
        for (capture, (place, _)) in op.path_captures.iter_mut().zip(op_wishes) {
            if let Some(Some(name)) = names.get(place.as_str()) {
                capture.key = (*name).to_owned();
            }
        }
    }
}

/// For each capture of `path`: its place (the route up to it, captures written `{}`) and the
/// name it would take (its parameter's, for a whole segment with a plain name).
fn capture_wishes(path: &str, captures: &[Capture]) -> Vec<(String, Option<String>)> {
    let positional = parse(path);
    let segments: Vec<&str> = positional.axum_path.split('/').collect();
    let keys: Vec<String> = positional
        .captures
        .iter()
        .map(|capture| format!("{{{}}}", capture.key))
        .collect();
    let mut wishes = Vec::new();
    for (index, segment) in segments.iter().enumerate() {
        let Some(at) = keys.iter().position(|key| key == segment) else {
            continue;
        };
        let place: Vec<&str> = segments[..index]
            .iter()
            .map(|segment| {
                if keys.iter().any(|key| key == segment) {
                    "{}"
                } else {
                    segment
                }
            })
            .collect();
        let wish = match captures.get(at).map(|capture| capture.pieces.as_slice()) {
            Some([Piece::Param(name)]) if is_plain_name(name) => Some(name.clone()),
            _ => None,
        };
        wishes.push((place.join("/"), wish));
    }
    wishes
}

/// A name the router takes as a capture's and that no positional key can be (`s2`).
fn is_plain_name(name: &str) -> bool {
    let positional = name
        .strip_prefix('s')
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()));
    !positional
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A literal segment as clients send it: bytes outside RFC 3986's `pchar` set are
/// percent-encoded (`über` → `%C3%BCber`); existing `%XX` escapes stay as they are.
fn encode_literal(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@%{}".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let t = parse("/pets/{petId}");
        assert_eq!(t.axum_path, "/pets/{s1}");
        assert_eq!(t.params, ["petId"]);
        assert!(t.captures[0].is_whole());

        let t = parse("/v4/spreadsheets/{spreadsheetId}/values/{range}:append");
        assert_eq!(t.axum_path, "/v4/spreadsheets/{s2}/values/{s4}");
        assert_eq!(
            t.captures[1].pieces,
            [
                Piece::Param("range".into()),
                Piece::Literal(":append".into())
            ]
        );

        let t = parse("/oauth2/token#refresh");
        assert_eq!(t.axum_path, "/oauth2/token");
        assert_eq!(t.dropped_suffix.as_deref(), Some("#refresh"));

        assert_eq!(parse("/").axum_path, "/");
        assert_eq!(parse("").axum_path, "/");
        assert_eq!(parse("/a/{b/c").axum_path, "/a/{{b/c");
        assert_eq!(parse("/x/{odd-name}").params, ["odd-name"]);
        assert_eq!(parse("/über/a b/{x}").axum_path, "/%C3%BCber/a%20b/{s2}");
    }
}
