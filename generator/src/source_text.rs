//! Spec text in generated source, where it meets characters that show nothing.
//!
//! Real documents hold characters that are invisible (zero-width spaces and joiners, the soft
//! hyphen, the word joiner, variation selectors, the byte-order mark) or that reorder the text
//! around them (bidirectional marks, embeddings, overrides and isolates): descriptions pasted
//! from web pages carry them. Written as themselves into Rust source they are refused: rustc
//! denies the bidirectional controls in literals and in comments
//! (`text_direction_codepoint_in_literal`, `text_direction_codepoint_in_comment`), clippy
//! denies invisible characters in string literals (`invisible_characters`), and a reader sees
//! neither. [`is_hidden`] is the one list of them; what generated code does with them:
//!
//! - string literals keep them, escaped (`"\u{200b}"`): every literal `quote!` writes comes
//!   from `proc_macro2::Literal::string`, which escapes each hidden character (a test here
//!   holds it to that), and text shown as written ([`str_expr`]: the embedded document,
//!   migrations) escapes them between raw pieces;
//! - comments (doc comments, a file's `//!` lines and header, the comments `specjet init`
//!   writes) drop them ([`comment_line`]): they carry no visible text, and without the
//!   bidirectional controls a comment reads in the order its characters are stored;
//! - names drop them (`naming`): identifiers are ASCII, spelled from the visible characters.

use proc_macro2::TokenStream;
use quote::ToTokens;

/// Whether `c` shows nothing or reorders the text around it: Unicode's default-ignorable code
/// points (every bidirectional control among them), less the Hangul fillers, which are letters
/// that no lint reads and that string literals keep as they are.
pub(crate) fn is_hidden(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x034F
            | 0x061C
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFF0..=0xFFFB
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}

/// `text` as one line of a comment: hidden characters dropped, and line breaks (which would
/// end a `//` comment, or break a doc comment) as spaces.
pub(crate) fn comment_line(text: &str) -> String {
    text.chars()
        .filter(|c| !is_hidden(*c))
        .map(|c| if matches!(c, '\n' | '\r') { ' ' } else { c })
        .collect()
}

/// The Rust source of a `&'static str` expression whose value is `text`, shown as written: a
/// raw string literal, or, when `text` holds a hidden character or a carriage return (which a
/// raw string cannot keep), its raw pieces and those characters escaped, in `concat!`.
pub(crate) fn str_expr(text: &str) -> String {
    let escaped = |c: char| is_hidden(c) || c == '\r';
    if !text.contains(escaped) {
        return raw_literal(text);
    }
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let shown = rest.find(escaped).unwrap_or(rest.len());
        if shown > 0 {
            pieces.push(raw_literal(&rest[..shown]));
        }
        rest = &rest[shown..];
        let hidden = rest.find(|c| !escaped(c)).unwrap_or(rest.len());
        if hidden > 0 {
            let escapes: String = rest[..hidden]
                .chars()
                .flat_map(char::escape_default)
                .collect();
            pieces.push(format!("\"{escapes}\""));
        }
        rest = &rest[hidden..];
    }
    format!("::core::concat!({})", pieces.join(", "))
}

/// [`str_expr`] as tokens.
pub(crate) fn str_tokens(text: &str) -> TokenStream {
    str_expr(text)
        .parse()
        .unwrap_or_else(|_| proc_macro2::Literal::string(text).into_token_stream())
}

/// `text` (no carriage return in it) as a raw string literal with as many `#` as it needs.
fn raw_literal(text: &str) -> String {
    let mut hashes = String::from("#");
    while text.contains(&format!("\"{hashes}")) {
        hashes.push('#');
    }
    format!("r{hashes}\"{text}\"{hashes}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hidden() -> impl Iterator<Item = char> {
        (0..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|c| is_hidden(*c))
    }

    /// What rustc and clippy refuse in source is in the list.
    #[test]
    fn the_characters_lints_refuse_are_hidden() {
        let bidi = ('\u{202A}'..='\u{202E}').chain('\u{2066}'..='\u{2069}');
        let invisible = ['\u{200B}', '\u{AD}', '\u{2060}'];
        for c in bidi.chain(invisible) {
            assert!(is_hidden(c), "{:?}", c);
        }
        assert!(!is_hidden('a') && !is_hidden(' ') && !is_hidden('ü') && !is_hidden('\u{3164}'));
    }

    /// String literals written by `quote!` need nothing more: each hidden character is escaped.
    #[test]
    fn string_literals_escape_every_hidden_character() {
        for c in hidden() {
            let literal = proc_macro2::Literal::string(&format!("a{c}b")).to_string();
            assert!(!literal.contains(c), "{:?} in {literal}", c);
        }
    }

    #[test]
    fn comments_drop_hidden_characters_and_line_breaks() {
        assert_eq!(
            comment_line("zero\u{200B}width \u{202E}reversed\u{202C}\r\nnext\u{FE0F}"),
            "zerowidth reversed  next"
        );
    }

    #[test]
    fn raw_text_is_one_raw_literal_unless_it_holds_hidden_characters() {
        assert_eq!(str_expr(r#"{"a": "b"}"#), r##"r#"{"a": "b"}"#"##);
        assert_eq!(str_expr(r##"a"#b"##), r###"r##"a"#b"##"###);
        assert_eq!(
            str_expr("{\"a\u{200B}\u{2067}b\": \"\r\n\"}\u{AD}"),
            r###"::core::concat!(r#"{"a"#, "\u{200b}\u{2067}", r#"b": ""#, "\r", r#"
"}"#, "\u{ad}")"###
        );
        let expr: syn::Expr = syn::parse_str(&str_expr("a\u{200B}b")).unwrap();
        assert!(matches!(expr, syn::Expr::Macro(_)));
        let every: String = hidden().collect();
        assert!(!str_expr(&every).contains(is_hidden));
    }
}
