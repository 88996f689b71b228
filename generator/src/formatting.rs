//! Tokens to text as a person reads it: the standard prelude's names written short
//! (`Option`, `Some`, `Result`, `String`, ... rather than `::std::option::Option`), the
//! runtime's most used paths imported (`use ::specjet::respond;`), then
//! prettyplease's formatting, with a blank line between items (which prettyplease packs
//! together).

use std::collections::{BTreeSet, HashSet};

use proc_macro2::{Group, Ident, Spacing, Span, TokenStream, TokenTree};

/// `tokens` as formatted Rust source; an error when they do not parse as a file.
pub(crate) fn format_tokens(tokens: TokenStream) -> Result<String, String> {
    let tokens = short_paths(tokens);
    let file: syn::File = syn::parse2(tokens)
        .map_err(|error| format!("internal error: generated code does not parse: {error}"))?;
    Ok(space_items(&prettyplease::unparse(&file)))
}

/// Paths of the standard library whose last name the 2021 prelude brings into every module.
const PRELUDE: [&[&str]; 19] = [
    &["std", "option", "Option"],
    &["std", "option", "Option", "Some"],
    &["std", "option", "Option", "None"],
    &["std", "result", "Result"],
    &["std", "result", "Result", "Ok"],
    &["std", "result", "Result", "Err"],
    &["std", "string", "String"],
    &["std", "vec", "Vec"],
    &["std", "boxed", "Box"],
    &["std", "clone", "Clone"],
    &["std", "marker", "Send"],
    &["std", "marker", "Sync"],
    &["std", "marker", "Copy"],
    &["std", "convert", "From"],
    &["std", "convert", "Into"],
    &["std", "default", "Default"],
    &["std", "fmt", "Debug"],
    &["std", "cmp", "PartialEq"],
    &["std", "iter", "Iterator"],
];

/// Paths of the runtime a module imports by their last name (`use ::specjet::respond;`) when
/// it uses them.
const IMPORTED: &[&[&str]] = &[
    &["std", "future", "Future"],
    &["std", "sync", "Arc"],
    &["std", "time", "Duration"],
    &["specjet", "OperationInfo"],
    &["specjet", "Policies"],
    &["specjet", "ServiceSettings"],
    &["specjet", "Services"],
    &["specjet", "axum", "Router"],
    &["specjet", "axum", "extract", "State"],
    &["specjet", "axum", "response", "IntoResponse"],
    &["specjet", "axum", "routing", "get"],
    &["specjet", "axum", "routing", "put"],
    &["specjet", "axum", "routing", "post"],
    &["specjet", "axum", "routing", "delete"],
    &["specjet", "axum", "routing", "options"],
    &["specjet", "axum", "routing", "head"],
    &["specjet", "axum", "routing", "patch"],
    &["specjet", "axum", "routing", "trace"],
    &["specjet", "http", "Method"],
    &["specjet", "cache", "CachePolicy"],
    &["specjet", "cache", "InvalidationTarget"],
    &["specjet", "cache", "Scope"],
    &["specjet", "cache", "TagPiece"],
    &["specjet", "rate_limit", "AdaptiveLimit"],
    &["specjet", "rate_limit", "KeyPart"],
    &["specjet", "rate_limit", "RateLimitPolicy"],
    &["specjet", "rate_limit", "Window"],
    &["specjet", "Problem"],
    &["specjet", "ParamType"],
    &["specjet", "axum"],
    &["specjet", "http"],
    &["specjet", "serde"],
    &["specjet", "respond"],
    &["specjet", "extract"],
    &["specjet", "contract"],
    &["specjet", "security"],
    &["specjet", "client"],
];

/// `tokens` with every path of [`PRELUDE`] written as its last name, and those of
/// [`IMPORTED`] too with a `use` in their module, unless the module defines or imports an item
/// of that name itself (a schema called `Result` keeps `::std::result::Result` meaning the
/// standard one). Each `mod name { .. }` is a module of its own.
fn short_paths(tokens: TokenStream) -> TokenStream {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut taken = HashSet::new();
    defined_names(&trees, &mut taken);
    let mut imports = BTreeSet::new();
    let mut trees = shorten(trees, &taken, &mut imports);
    // After the module's inner attributes (`#![..]`, `//!` docs)...
    let mut at = 0;
    while let (
        Some(TokenTree::Punct(hash)),
        Some(TokenTree::Punct(bang)),
        Some(TokenTree::Group(_)),
    ) = (trees.get(at), trees.get(at + 1), trees.get(at + 2))
    {
        if hash.as_char() != '#' || bang.as_char() != '!' {
            break;
        }
        at += 3;
    }
    // Below the module's own imports.
    while matches!(trees.get(at), Some(TokenTree::Ident(ident)) if ident == "use") {
        match trees[at..]
            .iter()
            .position(|tree| matches!(tree, TokenTree::Punct(p) if p.as_char() == ';'))
        {
            Some(end) => at += end + 1,
            None => break,
        }
    }
    // One `use` per crate: `use ::specjet::{axum, http, Problem};`.
    let mut uses: Vec<TokenTree> = Vec::new();
    let mut by_root: Vec<(&str, Vec<&[&str]>)> = Vec::new();
    for path in imports {
        match by_root.iter_mut().find(|(root, _)| *root == path[0]) {
            Some((_, paths)) => paths.push(&path[1..]),
            None => by_root.push((path[0], vec![&path[1..]])),
        }
    }
    for (root, paths) in by_root {
        let root = Ident::new(root, Span::call_site());
        let tree = use_tree(&paths);
        uses.extend(quote::quote! { use ::#root::#tree; });
    }
    trees.splice(at..at, uses);
    trees.into_iter().collect()
}

/// `paths` below one root as one `use` tree, nested by module as rustfmt writes it:
/// `{axum::{self, routing::get, Router}, Problem}`.
fn use_tree(paths: &[&[&str]]) -> TokenStream {
    match use_items(paths).as_slice() {
        [item] => item.clone(),
        items => quote::quote! { {#(#items),*} },
    }
}

/// The items of [`use_tree`], one per first name: `Problem`, `axum::{self, Router}`.
fn use_items(paths: &[&[&str]]) -> Vec<TokenStream> {
    let mut heads: Vec<&str> = paths
        .iter()
        .filter_map(|path| path.first().copied())
        .collect();
    heads.sort_by_key(|head| head.to_lowercase());
    heads.dedup();
    heads
        .iter()
        .map(|head| {
            let name = Ident::new(head, Span::call_site());
            let tails: Vec<&[&str]> = paths
                .iter()
                .filter(|path| path.first() == Some(head))
                .map(|path| &path[1..])
                .collect();
            let itself = tails.iter().any(|tail| tail.is_empty());
            let below: Vec<&[&str]> = tails.into_iter().filter(|tail| !tail.is_empty()).collect();
            match (itself, below.is_empty()) {
                (_, true) => quote::quote! { #name },
                (false, false) => {
                    let tree = use_tree(&below);
                    quote::quote! { #name::#tree }
                }
                (true, false) => {
                    let items = use_items(&below);
                    quote::quote! { #name::{self, #(#items),*} }
                }
            }
        })
        .collect()
}

/// The names a module defines at its top level (`struct X`, `fn x`, `mod x`, ...) or imports
/// (every name of a `use`). Names inside items (methods, variants, a body's locals) do not
/// hide a module-level path, so they are not looked at.
fn defined_names(trees: &[TokenTree], taken: &mut HashSet<String>) {
    const DEFINES: [&str; 9] = [
        "struct", "enum", "union", "type", "trait", "fn", "const", "static", "mod",
    ];
    let mut in_use = false;
    let mut after_keyword = false;
    for tree in trees {
        match tree {
            TokenTree::Ident(ident) => {
                if in_use || after_keyword {
                    taken.insert(ident.to_string());
                }
                after_keyword = DEFINES.iter().any(|keyword| ident == keyword);
                in_use |= ident == "use";
            }
            TokenTree::Group(group) => {
                if in_use {
                    collect_all(&group.stream(), taken);
                }
                after_keyword = false;
            }
            TokenTree::Punct(punct) => {
                if punct.as_char() == ';' {
                    in_use = false;
                }
                after_keyword = false;
            }
            TokenTree::Literal(_) => after_keyword = false,
        }
    }
}

/// Every identifier of `tokens` (the names a `use` list imports).
fn collect_all(tokens: &TokenStream, taken: &mut HashSet<String>) {
    for tree in tokens.clone() {
        match tree {
            TokenTree::Ident(ident) => {
                taken.insert(ident.to_string());
            }
            TokenTree::Group(group) => collect_all(&group.stream(), taken),
            _ => {}
        }
    }
}

/// `trees` with their paths written short (see [`short_paths`]); `taken` are the names the
/// module defines, `imports` gathers the `use`s the short paths need.
fn shorten(
    mut trees: Vec<TokenTree>,
    taken: &HashSet<String>,
    imports: &mut BTreeSet<&'static [&'static str]>,
) -> Vec<TokenTree> {
    let mut out: Vec<TokenTree> = Vec::with_capacity(trees.len());
    let mut i = 0;
    while i < trees.len() {
        if let Some((ident, used, import)) = short_path_at(&trees[i..], taken) {
            // Not the tail of a longer path (`self::std::...`): after an identifier, only
            // after a keyword that starts a type or an expression.
            let lifetime = matches!(
                out.len().checked_sub(2).map(|at| &out[at]),
                Some(TokenTree::Punct(quote)) if quote.as_char() == '\''
            );
            let continues_path = match out.last() {
                Some(TokenTree::Ident(before)) => {
                    !lifetime && !BEFORE_PATH.iter().any(|k| before == k)
                }
                _ => false,
            };
            if !continues_path {
                imports.extend(import);
                out.push(TokenTree::Ident(ident));
                i += used;
                continue;
            }
        }
        // Moved out, not cloned (an identifier's clone allocates); only later trees are read.
        let placeholder = TokenTree::Punct(proc_macro2::Punct::new(';', Spacing::Alone));
        match std::mem::replace(&mut trees[i], placeholder) {
            TokenTree::Group(group) => {
                // `mod name { .. }`: a module of its own, with its own names and imports.
                let is_module = matches!(
                    (out.len().checked_sub(2).map(|at| &out[at]), out.last()),
                    (Some(TokenTree::Ident(keyword)), Some(TokenTree::Ident(_))) if keyword == "mod"
                );
                let stream = if is_module {
                    short_paths(group.stream())
                } else {
                    let inner = group.stream().into_iter().collect();
                    shorten(inner, taken, imports).into_iter().collect()
                };
                let mut inner = Group::new(group.delimiter(), stream);
                inner.set_span(group.span());
                out.push(TokenTree::Group(inner));
            }
            other => out.push(other),
        }
        i += 1;
    }
    out
}

/// Keywords after which a path starts (`impl ::std::convert::From<..>`, `as ::std::...`).
const BEFORE_PATH: [&str; 14] = [
    "as", "impl", "dyn", "for", "in", "mut", "return", "where", "move", "ref", "else", "let",
    "match", "if",
];

/// At the start of `trees`, a path that begins with one of [`PRELUDE`] or [`IMPORTED`]
/// written in full (`::std::option::Option`, `::std::string::String::from`): the name it is
/// written as, how many trees that prefix spans (the rest, `::from`, stays), and the import
/// it needs.
fn short_path_at(
    trees: &[TokenTree],
    taken: &HashSet<String>,
) -> Option<(Ident, usize, Option<&'static [&'static str]>)> {
    let mut names: Vec<&Ident> = Vec::new();
    let mut at = 0;
    loop {
        let colons = matches!(
            (trees.get(at), trees.get(at + 1)),
            (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
                if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
        );
        if !colons {
            break;
        }
        match trees.get(at + 2) {
            Some(TokenTree::Ident(ident)) => names.push(ident),
            _ => return None,
        }
        at += 3;
    }
    let matches = |known: &[&str], length: usize| {
        known.len() == length
            && names[..length]
                .iter()
                .zip(known)
                .all(|(name, k)| *name == k)
    };
    // The longest prefix that is known (`Option::Some` before `Option`).
    (1..=names.len()).rev().find_map(|length| {
        let known = PRELUDE
            .iter()
            .map(|known| (known, None))
            .chain(IMPORTED.iter().map(|known| (known, Some(*known))))
            .find(|(known, _)| matches(known, length))?;
        let last = names[length - 1];
        (!taken.contains(&last.to_string())).then(|| (last.clone(), length * 3, known.1))
    })
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
