//! Line and column of a JSON pointer in the document text.
//!
//! The YAML and JSON parsers hand back plain values, so positions are recovered from the text:
//! each key of the pointer is searched after its parent's key, deeper indented in YAML. Array
//! indices are not counted, so the position of the nearest enclosing key is reported for
//! pointers into arrays.

use crate::pointer;

/// 1-based line and column of the last key of `pointer` that can be found.
pub(crate) fn find(text: &str, pointer_text: &str) -> Option<(usize, usize)> {
    let mut offset = 0;
    let mut indent: Option<usize> = None;
    let mut found = None;
    for segment in pointer::segments(pointer_text) {
        if segment.parse::<usize>().is_ok() {
            break;
        }
        match find_key(text, offset, &segment, indent) {
            Some((at, key_indent)) => {
                offset = at + 1;
                indent = Some(key_indent);
                found = Some(at);
            }
            None => break,
        }
    }
    found.map(|at| line_col(text, at))
}

fn find_key(
    text: &str,
    from: usize,
    key: &str,
    parent_indent: Option<usize>,
) -> Option<(usize, usize)> {
    if key.is_empty() {
        return None;
    }
    let is_json = text.trim_start().starts_with('{');
    // Every spelling (`key:`, `"key":`, `'key':`) contains the bare key: one pass over its
    // occurrences keeps this linear in the text.
    for (found, _) in text[from..].match_indices(key) {
        let found = from + found;
        let quote = text[..found]
            .chars()
            .next_back()
            .filter(|c| *c == '"' || *c == '\'');
        let (at, end) = match quote {
            Some(q) if text[found + key.len()..].starts_with(q) => {
                (found - 1, found + key.len() + 1)
            }
            Some(_) => continue,
            None => (found, found + key.len()),
        };
        let after = text[end..].trim_start_matches([' ', '\t']);
        if !after.starts_with(':') {
            continue;
        }
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        let before = &text[line_start..at];
        let key_indent = before.len() - before.trim_start_matches([' ', '-']).len();
        let starts_key = before.trim_start_matches([' ', '-', '\t']).is_empty()
            || before.trim_end().ends_with(['{', ',']);
        let deeper = is_json
            || before.contains('{')
            || parent_indent.is_none_or(|parent| key_indent > parent);
        if starts_key && deeper {
            return Some((at, key_indent));
        }
    }
    None
}

fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_yaml_and_json_keys() {
        let yaml = "openapi: 3.0.0\npaths:\n  /pets:\n    get:\n      operationId: x\n    post:\n      responses: {}\n";
        assert_eq!(find(yaml, "/paths/~1pets/post"), Some((6, 5)));
        assert_eq!(find(yaml, "/paths/~1pets/get/operationId"), Some((5, 7)));
        let json = "{\n  \"paths\": {\n    \"/pets\": {\"get\": {}}\n  }\n}";
        assert_eq!(find(json, "/paths/~1pets/get"), Some((3, 15)));
    }
}
