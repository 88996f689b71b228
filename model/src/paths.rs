//! The paths a service serves besides its operations, and the base path it serves them under.

/// The paths every generated router serves itself at its root (unless, with no base path,
/// the API has an operation there).
pub const BUILTIN_PATHS: [&str; 3] = ["/metrics", "/healthz", "/readyz"];

/// A base path as routes use it: `/api/v1` (no trailing `/`), or empty for none (`/`).
/// The spec's `x-specjet.base-path` and `servers`, and `BASE_PATH` at start, all go through it.
pub fn base_path(path: &str) -> Result<String, String> {
    let trimmed = path.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if !trimmed.starts_with('/') {
        return Err(format!("the base path `{path}` must start with `/`"));
    }
    if trimmed.contains(['{', '}', '?', '#', '*']) || trimmed.chars().any(char::is_whitespace) {
        return Err(format!(
            "the base path `{path}` must be a fixed path such as `/api/v1` (or `/` for none)"
        ));
    }
    Ok(trimmed.to_owned())
}

/// A part of a templated path segment (`{id}.json`: a parameter, then `.json`); `S` is the
/// text: `String` at generation, `&'static str` in a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<S> {
    /// Fixed text around parameters (`v` in `v{version}`).
    Literal(S),
    /// A path parameter, by its wire name.
    Param(S),
}

/// `{a}-{b}.json` → [a, "-", b, ".json"]. An unclosed `{` is literal text; of two parameters
/// with nothing between them (which cannot be split) the second is dropped.
pub fn segment_pieces(segment: &str) -> Vec<Piece<String>> {
    let mut pieces = Vec::new();
    let mut rest = segment;
    while !rest.is_empty() {
        match (rest.find('{'), rest.find('}')) {
            (Some(open), Some(close)) if close > open + 1 => {
                if open > 0 {
                    pieces.push(Piece::Literal(rest[..open].to_owned()));
                }
                pieces.push(Piece::Param(rest[open + 1..close].to_owned()));
                rest = &rest[close + 1..];
            }
            _ => {
                pieces.push(Piece::Literal(rest.to_owned()));
                break;
            }
        }
    }
    pieces.dedup_by(|b, a| matches!((a, b), (Piece::Param(_), Piece::Param(_))));
    pieces
}

#[cfg(test)]
mod tests {
    use super::base_path;

    #[test]
    fn base_paths_are_fixed_and_lose_their_trailing_slash() {
        assert_eq!(base_path("/"), Ok(String::new()));
        assert_eq!(base_path(""), Ok(String::new()));
        assert_eq!(base_path(" /api/v1/ "), Ok("/api/v1".into()));
        assert!(base_path("api").is_err());
        assert!(base_path("/v{n}").is_err());
        assert!(base_path("/a b").is_err());
    }
}
