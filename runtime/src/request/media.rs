//! Media types as requests and answers carry them, for the server reading a request and the
//! client reading an answer.

use http::{header, HeaderMap};

/// The request's media type (`type/subtype`, lower case, without parameters).
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    (!essence.is_empty()).then_some(essence)
}

/// Whether a request media type is accepted by a declared one: the same type (parameters
/// such as `charset` aside), or a declared range (`image/*`, `*/*`, `application/*+json`).
/// Nothing else: an operation that declares `application/json` refuses
/// `application/problem+json` with 415.
pub fn media_matches(actual: &str, declared: &str) -> bool {
    let declared = declared
        .split(';')
        .next()
        .unwrap_or(declared)
        .trim()
        .to_ascii_lowercase();
    if declared == "*/*" || declared == actual {
        return true;
    }
    let (Some((declared_type, declared_sub)), Some((actual_type, actual_sub))) =
        (declared.split_once('/'), actual.split_once('/'))
    else {
        return false;
    };
    if declared_type != actual_type {
        return false;
    }
    match declared_sub.strip_prefix('*') {
        Some("") => true,
        // `*+json`: any subtype with that structured suffix.
        Some(suffix) => actual_sub.ends_with(suffix) && actual_sub.len() > suffix.len(),
        None => false,
    }
}

/// `application/json`, `text/json` and every `+json` structured suffix.
pub fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || media_type == "text/json" || media_type.ends_with("+json")
}
