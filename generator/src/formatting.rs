//! Tokens to text as a person reads it: prettyplease's formatting, with a blank line between
//! items (which prettyplease packs together).

/// `tokens` as formatted Rust source; an error when they do not parse as a file.
pub(crate) fn format_tokens(tokens: proc_macro2::TokenStream) -> Result<String, String> {
    let file: syn::File = syn::parse2(tokens)
        .map_err(|error| format!("internal error: generated code does not parse: {error}"))?;
    Ok(space_items(&prettyplease::unparse(&file)))
}

/// Puts a blank line between consecutive items (prettyplease packs them): before a line that
/// starts an item or its docs when the line above, at the same indentation, ended one.
fn space_items(code: &str) -> String {
    const STARTS: &[&str] = &[
        "///",
        "#[",
        "pub ",
        "fn ",
        "async fn ",
        "impl ",
        "impl<",
        "mod ",
        "type ",
        "struct ",
        "enum ",
        "const ",
    ];
    let mut out = String::with_capacity(code.len() + code.len() / 16);
    let mut previous: Option<&str> = None;
    for line in code.lines() {
        if let Some(above) = previous {
            let indent = |l: &str| l.len() - l.trim_start().len();
            let above_trimmed = above.trim();
            let ends_item = !above_trimmed.starts_with("//")
                && (above_trimmed == "}" || above_trimmed.ends_with(';'));
            let starts_item = STARTS
                .iter()
                .any(|start| line.trim_start().starts_with(start));
            // A top-level item always stands apart, even after a multi-line statement.
            let same_level = indent(above) == indent(line) || indent(line) == 0;
            if ends_item && starts_item && same_level {
                out.push('\n');
            }
        }
        out.push_str(line);
        out.push('\n');
        previous = Some(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::space_items;

    #[test]
    fn blank_lines_between_items_not_inside_docs() {
        let code =
            "pub struct A;\n/// import x;\n/// more\npub struct B {\n    a: i32,\n}\nimpl B {}\n";
        assert_eq!(
            space_items(code),
            "pub struct A;\n\n/// import x;\n/// more\npub struct B {\n    a: i32,\n}\n\nimpl B {}\n"
        );
    }
}
