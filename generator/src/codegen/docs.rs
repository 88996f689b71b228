//! Doc comments from spec text. Text goes into `#[doc = "..."]` string literals, so nothing a
//! spec says can end a comment or a string; it is also kept from becoming a doctest, and the
//! characters that show nothing are dropped (`source_text::comment_line`): the formatted file
//! writes the docs as `///` comments, where rustc refuses bidirectional controls.

use proc_macro2::TokenStream;
use quote::quote;

/// `#[doc]` attributes for `text` (one per line), or nothing when there is no text.
pub(crate) fn doc_attrs(text: Option<&str>) -> TokenStream {
    let Some(text) = text else {
        return TokenStream::new();
    };
    let lines = doc_lines(text);
    quote! { #( #[doc = #lines] )* }
}

/// Lines of doc text as rustdoc will read them: trailing blanks dropped, code that rustdoc
/// would compile as a doctest (unlabelled fences, indented blocks) turned into plain text.
pub(super) fn doc_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_fence = false;
    // Tabs become spaces (clippy's `tabs_in_doc_comments`).
    let text = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\t', "    ");
    for raw in text.lines() {
        let raw = crate::source_text::comment_line(raw);
        let trimmed_end = raw.trim_end();
        let trimmed = trimmed_end.trim_start();
        let line = if let Some(info) = trimmed
            .strip_prefix("```")
            .or_else(|| trimmed.strip_prefix("~~~"))
        {
            let fence = &trimmed[..3];
            if in_fence {
                in_fence = false;
                fence.to_owned()
            } else {
                in_fence = true;
                // Only `text` (or another non-Rust label) keeps rustdoc from compiling it.
                let label = info.trim();
                if label.is_empty() || label.starts_with("rust") || label.contains(',') {
                    format!("{fence}text")
                } else {
                    format!("{fence}{label}")
                }
            }
        } else if in_fence {
            trimmed_end.to_owned()
        } else {
            // Indentation of four or more would make an indented (doctest) code block.
            trimmed.to_owned()
        };
        lines.push(line);
    }
    if in_fence {
        lines.push("```".to_owned());
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    while lines.first().is_some_and(|l| l.is_empty()) {
        lines.remove(0);
    }
    lines
        .into_iter()
        .map(|l| if l.is_empty() { l } else { format!(" {l}") })
        .collect()
}

/// Joins summary and description into one doc text.
pub(crate) fn join(parts: &[Option<&str>]) -> Option<String> {
    let parts: Vec<&str> = parts
        .iter()
        .flatten()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let mut unique: Vec<&str> = Vec::new();
    for part in parts {
        if !unique.contains(&part) {
            unique.push(part);
        }
    }
    (!unique.is_empty()).then(|| unique.join("\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_become_text_and_indentation_goes() {
        let lines =
            doc_lines("Example:\n\n```\nlet x = 1;\n```\n\n    indented code\n```json\n{}\n```");
        assert_eq!(
            lines,
            [
                " Example:",
                "",
                " ```text",
                " let x = 1;",
                " ```",
                "",
                " indented code",
                " ```json",
                " {}",
                " ```"
            ]
        );
    }

    #[test]
    fn hostile_text_stays_inside_the_literal() {
        let tokens = doc_attrs(Some("ends */ a comment \"# and a string\n</script>")).to_string();
        assert!(tokens.contains("\\\"#"));
        let file: syn::File = syn::parse2(quote! { #[doc = "x"] struct A; }).unwrap();
        assert_eq!(file.items.len(), 1);
    }

    #[test]
    fn hidden_characters_leave_the_docs() {
        let tokens = doc_attrs(Some(
            "zero\u{200B}width, \u{202E}reversed\u{202C}\n\u{FEFF}next",
        ));
        let code = crate::formatting::format_tokens(quote! { #tokens struct A; }).unwrap();
        assert_eq!(code, "/// zerowidth, reversed\n/// next\nstruct A;\n");
    }

    #[test]
    fn unclosed_fence_is_closed() {
        assert_eq!(doc_lines("```\ncode"), [" ```text", " code", " ```"]);
    }
}
