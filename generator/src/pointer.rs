//! JSON pointers (RFC 6901) and URI fragments.

use serde_json::Value;

/// Escapes one segment (`~` → `~0`, `/` → `~1`).
pub(crate) fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

pub(crate) fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// `pointer` with one more segment.
pub(crate) fn push(pointer: &str, segment: &str) -> String {
    format!("{pointer}/{}", escape(segment))
}

/// The pointer of a `$ref` fragment (`/components/schemas/Pet`), percent-decoded.
pub(crate) fn from_fragment(fragment: &str) -> String {
    percent_decode(fragment)
}

/// Decodes `%XX` escapes (reference paths are URI references).
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The segments of a pointer, unescaped.
pub(crate) fn segments(pointer: &str) -> impl Iterator<Item = String> + '_ {
    pointer.split('/').skip(1).map(unescape)
}

/// The last segment, unescaped.
pub(crate) fn last(pointer: &str) -> Option<String> {
    pointer.rsplit_once('/').map(|(_, last)| unescape(last))
}

pub(crate) fn get<'a>(value: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.is_empty() {
        return Some(value);
    }
    if !pointer.starts_with('/') {
        return None;
    }
    let mut current = value;
    for segment in segments(pointer) {
        current = match current {
            Value::Object(map) => map.get(&segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_resolves() {
        let value = serde_json::json!({"paths": {"/pets/{id}": {"get": [1, 2]}}});
        let pointer = push(&push("/paths", "/pets/{id}"), "get");
        assert_eq!(pointer, "/paths/~1pets~1{id}/get");
        assert_eq!(
            get(&value, &push(&pointer, "1")),
            Some(&serde_json::json!(2))
        );
        assert_eq!(last(&pointer).as_deref(), Some("get"));
        assert_eq!(get(&value, "/nope"), None);
    }
}
