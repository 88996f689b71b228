//! Cache tag templates (`x-cache: {tags}`, `x-cache-invalidates: {tags}`): `pet:{petId}`,
//! `user:{$response.body#/user_id}`. The grammar lives here once: the generator parses each
//! template (and reports its problems at the spec's key), and writes the pieces as data; the
//! runtime fills them with a request's values, never parsing a string again.

use std::fmt;

use crate::form::Form;

/// How a tag names a value of the answer: `{$response.body#/user_id}` (OpenAPI's runtime
/// expression, a JSON pointer into the answer's body).
pub const ANSWER_VALUE: &str = "$response.body#";

/// One piece of a tag template; `S` is the text: `String` at generation, `&'static str` in a
/// service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagPiece<S> {
    /// Text as written (`pet:`).
    Text(S),
    /// The value of a path parameter, by its name (`{petId}`).
    Param(S),
    /// A value of the answer, by its JSON pointer (`{$response.body#/user_id}`: `/user_id`).
    Answer(S),
}

/// A template in either form: parsed pieces (`pet:`, `{petId}`).
pub type TagTemplate<F> = <F as Form>::List<TagPiece<<F as Form>::Text>>;

/// A template as a service holds it.
pub type Tag = TagTemplate<crate::form::Static>;

/// Parses `template` into its pieces, or says why its braces do not pair. What a `{name}`
/// may name (a parameter of the operation, an answer) is the caller's to check.
pub fn parse(template: &str) -> Result<Vec<TagPiece<String>>, String> {
    if template.trim().is_empty() {
        return Err("a tag is a non-empty string such as `pet:{petId}`".to_owned());
    }
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err(format!("`{template}` has a `}}` that no `{{` opens"));
        }
        if open > 0 {
            pieces.push(TagPiece::Text(rest[..open].to_owned()));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("`{template}` has a `{{` that no `}}` closes"))?;
        let name = &after[..close];
        if name.is_empty() || name.contains('{') {
            return Err(format!("`{template}` has an empty or nested `{{...}}`"));
        }
        pieces.push(match name.strip_prefix(ANSWER_VALUE) {
            Some(pointer) if !pointer.starts_with('/') => {
                return Err(format!(
                    "`{{{name}}}`: after `#` comes a JSON pointer into the answer, \
                     such as `#/user_id`"
                ))
            }
            Some(pointer) => TagPiece::Answer(pointer.to_owned()),
            None if name.starts_with('$') => {
                return Err(format!(
                    "`{{{name}}}`: the one runtime expression a tag takes is \
                     `$response.body#/pointer` (a JSON pointer into the answer)"
                ))
            }
            None => TagPiece::Param(name.to_owned()),
        });
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(TagPiece::Text(rest.to_owned()));
    }
    Ok(pieces)
}

/// Whether a template names a value of the answer (then the answer must be read to fill it).
pub fn names_answer<S>(pieces: &[TagPiece<S>]) -> bool {
    pieces
        .iter()
        .any(|piece| matches!(piece, TagPiece::Answer(_)))
}

/// The tag with its values, after `prefix`: each parameter's from `param`, each value of the
/// answer from `answer` (by pointer); `None` when one of them has none.
pub fn fill<S: AsRef<str>>(
    pieces: &[TagPiece<S>],
    prefix: &str,
    mut param: impl FnMut(&str) -> Option<String>,
    mut answer: impl FnMut(&str) -> Option<String>,
) -> Option<String> {
    let mut tag = String::from(prefix);
    for piece in pieces {
        match piece {
            TagPiece::Text(text) => tag.push_str(text.as_ref()),
            TagPiece::Param(name) => tag.push_str(&param(name.as_ref())?),
            TagPiece::Answer(pointer) => tag.push_str(&answer(pointer.as_ref())?),
        }
    }
    Some(tag)
}

/// A template as the spec writes it (`pet:{petId}`), for messages.
#[derive(Debug)]
pub struct Template<'a, S>(pub &'a [TagPiece<S>]);

impl<S: AsRef<str>> fmt::Display for Template<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for piece in self.0 {
            match piece {
                TagPiece::Text(text) => f.write_str(text.as_ref())?,
                TagPiece::Param(name) => write!(f, "{{{}}}", name.as_ref())?,
                TagPiece::Answer(pointer) => write!(f, "{{{ANSWER_VALUE}{}}}", pointer.as_ref())?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_into_text_parameters_and_answer_values_and_print_back() {
        for template in [
            "pet:{petId}",
            "by:{$response.body#/owner/name}:{orderId}",
            "all",
            "{a}{b}",
        ] {
            let pieces = parse(template).unwrap();
            assert_eq!(Template(&pieces).to_string(), template);
        }
        assert_eq!(
            parse("by:{$response.body#/owner}:{id}").unwrap(),
            [
                TagPiece::Text("by:".to_owned()),
                TagPiece::Answer("/owner".to_owned()),
                TagPiece::Text(":".to_owned()),
                TagPiece::Param("id".to_owned()),
            ]
        );
        for broken in [
            "a}",
            "{a",
            "{}",
            "{a{b}}",
            "{$request.path.id}",
            "{$response.body#x}",
            " ",
        ] {
            assert!(parse(broken).is_err(), "{broken}");
        }
    }

    #[test]
    fn a_tag_is_filled_or_is_none_when_a_value_is_missing() {
        let pieces = parse("by:{$response.body#/owner}:{id}").unwrap();
        let filled = fill(
            &pieces,
            "tag:",
            |name| (name == "id").then(|| "7".to_owned()),
            |pointer| (pointer == "/owner").then(|| "ann".to_owned()),
        );
        assert_eq!(filled.as_deref(), Some("tag:by:ann:7"));
        assert_eq!(fill(&pieces, "", |_| None, |_| Some("x".to_owned())), None);
        assert!(names_answer(&pieces));
        assert!(!names_answer(&parse("pet:{id}").unwrap()));
    }
}
