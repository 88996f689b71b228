//! Rust identifiers for spec names: valid, stable, idiomatic, and unique per namespace.

use std::collections::HashSet;

use heck::{ToPascalCase, ToSnakeCase};

/// Words Rust reserves in any edition; a name equal to one gets a trailing underscore.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield", "union",
];

/// Spelled-out names for symbols, so `+1` and `-1` become `Plus1` and `Minus1`.
fn symbol_word(c: char) -> Option<&'static str> {
    Some(match c {
        '+' => "plus",
        '-' => "minus",
        '*' => "star",
        '/' => "slash",
        '.' => "dot",
        '<' => "lt",
        '>' => "gt",
        '=' => "eq",
        '!' => "not",
        '&' => "and",
        '|' => "or",
        '@' => "at",
        '#' => "hash",
        '$' => "dollar",
        '%' => "percent",
        '^' => "caret",
        '~' => "tilde",
        '?' => "question",
        ':' => "colon",
        ',' => "comma",
        ';' => "semicolon",
        '\'' => "quote",
        '"' => "dquote",
        '`' => "backtick",
        '(' | ')' => "paren",
        '[' | ']' => "bracket",
        '{' | '}' => "brace",
        '\\' => "backslash",
        '_' => "underscore",
        ' ' => "space",
        _ => return None,
    })
}

/// Splits a name into ASCII words: `in-progress` → `in progress`; symbols that carry meaning
/// at the edges are spelled (`+1` → `plus 1`); characters that show nothing are dropped
/// (`source_text::is_hidden`); other non-ASCII characters become `u<hex>`.
fn words(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let has_alnum = raw.chars().any(|c| c.is_ascii_alphanumeric());
    let shown = raw.chars().filter(|c| !crate::source_text::is_hidden(*c));
    for (index, c) in shown.enumerate() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if c.is_ascii() {
            // Leading signs matter (`-1` vs `1`); inner punctuation only separates words.
            let spell = !has_alnum || (index == 0 && matches!(c, '+' | '-'));
            match symbol_word(c).filter(|_| spell) {
                Some(word) => {
                    out.push(' ');
                    out.push_str(word);
                    out.push(' ');
                }
                None => out.push(' '),
            }
        } else {
            out.push_str(&format!(" u{:x} ", c as u32));
        }
    }
    out
}

/// `PascalCase` type or variant name; never empty, never starts with a digit.
pub(crate) fn type_name(raw: &str) -> String {
    let mut name = words(raw).to_pascal_case();
    if name.is_empty() {
        name = "Empty".to_owned();
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, 'V');
    }
    if name == "Self" {
        name.push('_');
    }
    name
}

/// `snake_case` field, function or module name; never empty, never a keyword.
pub(crate) fn field_name(raw: &str) -> String {
    let mut name = words(raw).to_snake_case();
    if name.is_empty() {
        name = "empty".to_owned();
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        // `_2fa` reads well; `_1` is a name clippy rejects (only underscores and digits).
        if name.chars().all(|c| c.is_ascii_digit() || c == '_') {
            name.insert_str(0, "n_");
        } else {
            name.insert(0, '_');
        }
    }
    if KEYWORDS.contains(&name.as_str()) {
        name.push('_');
    }
    name
}

/// A set of names in one scope; `claim` returns a unique name, adding `2`, `3`, ... on clashes.
#[derive(Debug, Default, Clone)]
pub(crate) struct Namespace {
    taken: HashSet<String>,
}

impl Namespace {
    pub(crate) fn with_reserved(reserved: &[&str]) -> Self {
        Namespace {
            taken: reserved.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    pub(crate) fn claim(&mut self, base: &str) -> String {
        if self.taken.insert(base.to_owned()) {
            return base.to_owned();
        }
        // `Self_` + 2 is `Self2` (an underscore before a digit breaks camel case); a stem
        // ending in a digit keeps it apart: `v1` + 2 is `v1_2`.
        let stem = match base.trim_end_matches('_') {
            "" => base,
            trimmed => trimmed,
        };
        let separator = if stem.ends_with(|c: char| c.is_ascii_digit()) {
            "_"
        } else {
            ""
        };
        (2..)
            .map(|n| format!("{stem}{separator}{n}"))
            .find(|candidate| self.taken.insert(candidate.clone()))
            .unwrap_or_else(|| base.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names() {
        assert_eq!(type_name("pet_store"), "PetStore");
        assert_eq!(type_name("in-progress"), "InProgress");
        assert_eq!(type_name(""), "Empty");
        assert_eq!(type_name("1st"), "V1st");
        assert_eq!(type_name("+1"), "Plus1");
        assert_eq!(type_name("-1"), "Minus1");
        assert_eq!(type_name("*"), "Star");
        assert_eq!(type_name("Self"), "Self_");
        assert_eq!(type_name("Ünïcode"), "UdcNUefCode");
        assert_eq!(type_name("a.b.c"), "ABC");
        assert_eq!(type_name("list\u{200B}Pets\u{202E}"), "ListPets");
        assert_eq!(type_name("\u{2066}+1\u{2069}"), "Plus1");
        assert_eq!(type_name("\u{FEFF}"), "Empty");
    }

    #[test]
    fn field_names() {
        assert_eq!(field_name("userId"), "user_id");
        assert_eq!(field_name("user_id"), "user_id");
        assert_eq!(field_name("type"), "type_");
        assert_eq!(field_name("self"), "self_");
        assert_eq!(field_name("2fa"), "_2fa");
        assert_eq!(field_name("1"), "n_1");
        assert_eq!(field_name("200_1"), "n_200_1");
        assert_eq!(field_name("$"), "dollar");
        assert_eq!(field_name("@odata.type"), "odata_type");
        assert_eq!(field_name("X-Rate-Limit"), "x_rate_limit");
    }

    #[test]
    fn namespace_suffixes() {
        let mut ns = Namespace::default();
        assert_eq!(ns.claim("user_id"), "user_id");
        assert_eq!(ns.claim("user_id"), "user_id2");
        assert_eq!(ns.claim("v1"), "v1");
        assert_eq!(ns.claim("v1"), "v1_2");
        assert_eq!(ns.claim("Self_"), "Self_");
        assert_eq!(ns.claim("Self_"), "Self2");
    }
}
