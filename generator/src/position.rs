//! Line and column of a JSON pointer in the document text.
//!
//! The YAML and JSON parsers hand back plain values, so positions are recovered from the text,
//! guided by the parsed value: a segment is a key where the value is an object (searched after
//! its parent's key, deeper indented in YAML) and an index where it is an array (the N-th `-`
//! item of a block sequence, the N-th element of a JSON array). Inside a YAML flow sequence
//! (`[a, b]`) the position of the enclosing key is reported.

use serde_json::Value;

use crate::pointer;

/// 1-based line and column of the deepest part of `pointer` that can be found in `text`,
/// whose parsed value is `root` (`Null` when the text's shape is not known: every segment is
/// then searched as a key).
pub(crate) fn find(text: &str, root: &Value, pointer_text: &str) -> Option<(usize, usize)> {
    let is_json = text.trim_start().starts_with('{');
    let mut offset = 0;
    let mut indent: Option<usize> = None;
    let mut found = None;
    let mut current = Some(root);
    for segment in pointer::segments(pointer_text) {
        let (at, item_indent) = match current {
            Some(Value::Array(items)) => {
                let index = segment.parse::<usize>().ok()?;
                current = items.get(index);
                match found {
                    Some(parent) if is_json => find_json_element(text, parent, index),
                    Some(parent) => find_yaml_item(text, parent, indent, index),
                    None => None,
                }
            }
            Some(value) => {
                current = value.get(&segment);
                find_key(text, offset, &segment, indent, is_json)
            }
            // No value to say what the segment is: a key (an index is not found as one).
            None => find_key(text, offset, &segment, indent, is_json),
        }
        .map_or((None, None), |(at, item_indent)| {
            (Some(at), Some(item_indent))
        });
        let Some(at) = at else { break };
        offset = at + 1;
        indent = item_indent;
        found = Some(at);
    }
    found.map(|at| line_col(text, at))
}

/// The `index`-th item of the block sequence under the key at `parent` (indented
/// `parent_indent`): where its `-` is, and its indentation.
fn find_yaml_item(
    text: &str,
    parent: usize,
    parent_indent: Option<usize>,
    index: usize,
) -> Option<(usize, usize)> {
    let line_end = text[parent..].find('\n').map_or(text.len(), |i| parent + i);
    let rest_of_line = text[parent..line_end]
        .split_once(':')
        .map_or("", |(_, rest)| rest);
    if !rest_of_line.trim().is_empty() && !rest_of_line.trim_start().starts_with('#') {
        return None; // a flow sequence on the key's line
    }
    let mut dash_indent = None;
    let mut count = 0;
    let mut line_start = line_end + 1;
    while line_start < text.len() {
        let end = text[line_start..]
            .find('\n')
            .map_or(text.len(), |i| line_start + i);
        let line = &text[line_start..end];
        let trimmed = line.trim_start_matches(' ');
        let line_indent = line.len() - trimmed.len();
        let blank = trimmed.trim().is_empty() || trimmed.starts_with('#');
        if !blank {
            let is_item = trimmed == "-" || trimmed.starts_with("- ");
            match dash_indent {
                None if is_item && parent_indent.is_none_or(|p| line_indent >= p) => {
                    dash_indent = Some(line_indent);
                }
                None => return None,
                Some(_) => {}
            }
            let dash = dash_indent?;
            if is_item && line_indent == dash {
                if count == index {
                    return Some((line_start + line_indent, line_indent));
                }
                count += 1;
            } else if line_indent < dash || (line_indent == dash && !is_item) {
                return None; // past the sequence
            }
        }
        line_start = end + 1;
    }
    None
}

/// The `index`-th element of the JSON array that is the value of the key at `parent`.
fn find_json_element(text: &str, parent: usize, index: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    // Past the key (a string) and its `:` to the `[` that opens its value.
    let mut at = parent;
    if bytes.get(at) == Some(&b'"') {
        at = string_end(bytes, at);
    }
    at += text[at..].find(':')? + 1;
    at += text[at..].find(|c: char| !c.is_ascii_whitespace())?;
    if bytes[at] != b'[' {
        return None;
    }
    at += 1;
    let mut depth = 0usize;
    let mut count = 0;
    let mut element_start = true;
    while at < bytes.len() {
        let byte = bytes[at];
        if element_start && !byte.is_ascii_whitespace() {
            if byte == b']' {
                return None;
            }
            if count == index {
                return Some((at, 0));
            }
            element_start = false;
        }
        match byte {
            b'"' => {
                at = string_end(bytes, at);
                continue;
            }
            b'[' | b'{' => depth += 1,
            b']' | b'}' if depth == 0 => return None,
            b']' | b'}' => depth -= 1,
            b',' if depth == 0 => {
                count += 1;
                element_start = true;
            }
            _ => {}
        }
        at += 1;
    }
    None
}

/// The index just past the JSON string that opens at `open`.
fn string_end(bytes: &[u8], open: usize) -> usize {
    let mut at = open + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
    }
    bytes.len()
}

fn find_key(
    text: &str,
    from: usize,
    key: &str,
    parent_indent: Option<usize>,
    is_json: bool,
) -> Option<(usize, usize)> {
    if key.is_empty() {
        return None;
    }
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

    fn located(text: &str, pointer: &str) -> Option<(usize, usize)> {
        let value = crate::load::parse_document(text).expect("the test text parses");
        find(text, &value, pointer)
    }

    #[test]
    fn finds_yaml_and_json_keys() {
        let yaml = "openapi: 3.0.0\npaths:\n  /pets:\n    get:\n      operationId: x\n    post:\n      responses: {}\n";
        assert_eq!(located(yaml, "/paths/~1pets/post"), Some((6, 5)));
        assert_eq!(located(yaml, "/paths/~1pets/get/operationId"), Some((5, 7)));
        let json = "{\n  \"paths\": {\n    \"/pets\": {\"get\": {}}\n  }\n}";
        assert_eq!(located(json, "/paths/~1pets/get"), Some((3, 15)));
    }

    #[test]
    fn numeric_keys_are_keys_and_array_items_are_counted() {
        let yaml = "\
paths:
  /a:
    get:
      parameters:
        - name: x
          in: query
        # a comment between items
        - $ref: '#/nowhere'
      responses:
        '200':
          description: ok
tags: [a, b]
servers:
- url: /v1
- url: /v2
";
        assert_eq!(located(yaml, "/paths/~1a/get/responses/200"), Some((10, 9)));
        assert_eq!(located(yaml, "/paths/~1a/get/parameters/1"), Some((8, 9)));
        assert_eq!(
            located(yaml, "/paths/~1a/get/parameters/1/$ref"),
            Some((8, 11))
        );
        assert_eq!(
            located(yaml, "/paths/~1a/get/parameters/0/in"),
            Some((6, 11))
        );
        // A sequence whose dashes sit at the key's own indentation.
        assert_eq!(located(yaml, "/servers/1/url"), Some((15, 3)));
        // A flow sequence: the key's position.
        assert_eq!(located(yaml, "/tags/1"), Some((12, 1)));

        let json = r##"{"paths": {"/a": {"get": {"parameters": [{"name": "x,]"}, {"$ref": "#/n"}],
 "responses": {"200": {"description": "ok"}}}}}}"##;
        assert_eq!(
            located(json, "/paths/~1a/get/parameters/1/$ref"),
            Some((1, 60))
        );
        assert_eq!(located(json, "/paths/~1a/get/responses/200"), Some((2, 16)));
    }
}
