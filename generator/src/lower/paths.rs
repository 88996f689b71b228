//! Path templates → axum routes.
//!
//! Every segment holding a parameter becomes a whole-segment capture named by its position
//! (`{s2}`), so paths that differ only in parameter names (`/a/{id}`, `/a/{name}`) or in
//! literal text around a parameter (`/{id}.json`, `{range}:append`) share one route, and
//! the operation is picked by its literals at request time.

use crate::ir::{Capture, Piece};

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
