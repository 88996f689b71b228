//! Cache keys: method, path, normalized query, the `vary` headers, content negotiation and,
//! for private entries, a digest of the caller's credentials.

use super::{CacheRoute, Scope, Tag};
use crate::policy::caller::{credentials_digest, has_credentials, header_text};

/// A cache key, whether it is keyed by the caller, and the tags its entry is stored with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CacheKey {
    pub key: String,
    pub private: bool,
    pub tags: Vec<String>,
}

/// Request headers that always split the key: the same URL answers differently per media
/// type. Not `Accept-Encoding`: entries hold the answer before its content-coding (the
/// compression layer is outside the cache), so one entry serves every client, and a
/// composite's parts (asked with `identity`) share the entries of direct reads.
const NEGOTIATION: [&str; 1] = ["accept"];

impl CacheKey {
    /// The key of `request` to `route`, whose path captured `captures` (capture key,
    /// canonical value): the operation, each path value as the handler reads it (so
    /// `/pets/+5` and `/pets/5` are one entry), the query in name order (values of one name
    /// keep their order: the handler reads the first; a typed scalar's value as it is read,
    /// so `?limit=010` is `?limit=10`), the `vary` and negotiation headers.
    /// Every part that comes from the request is percent-encoded, so no value can pose as
    /// another part.
    pub(super) fn for_request<B>(
        route: &CacheRoute,
        request: &http::Request<B>,
        captures: &[(String, String)],
    ) -> CacheKey {
        let headers = request.headers();
        let mut key = String::with_capacity(route.operation.len() + 64);
        key.push_str(route.operation);
        key.push(':');
        key.push_str(request.method().as_str());
        key.push(':');
        if captures.is_empty() {
            push_escaped(&mut key, request.uri().path());
        }
        for (index, (capture, value)) in captures.iter().enumerate() {
            if index > 0 {
                key.push('&');
            }
            push_escaped(&mut key, capture);
            key.push('=');
            push_escaped(&mut key, value);
        }
        let query = request.uri().query().unwrap_or_default();
        let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(name, value)| {
                let value = match route.query_types.iter().find(|(typed, _)| *typed == name) {
                    Some((_, ty)) => ty.canonical(&value),
                    None => value.into_owned(),
                };
                (name.into_owned(), value)
            })
            .collect();
        // `/orders` is `/orders?limit=10` when 10 is the default: one entry, not two.
        for (name, value) in route.query_defaults {
            if !pairs.iter().any(|(k, _)| k == name) {
                pairs.push(((*name).to_owned(), (*value).to_owned()));
            }
        }
        if !pairs.is_empty() {
            // Stable: `?limit=2&limit=abc` and `?limit=abc&limit=2` stay apart.
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            key.push('?');
            key.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish(),
            );
        }
        for name in route.policy.vary.iter().chain(NEGOTIATION.iter()) {
            if headers.contains_key(*name) {
                key.push('|');
                key.push_str(name);
                key.push('=');
                push_escaped(&mut key, &header_text(headers, name));
            }
        }
        let principal = request
            .extensions()
            .get::<crate::policy::security::Principal>();
        let private = match route.policy.scope {
            Scope::Public => false,
            Scope::Private => true,
            Scope::Auto => route.secured || principal.is_some() || has_credentials(headers),
        };
        if private {
            key.push_str("|private=");
            match principal {
                // The verified caller: every token of one subject shares its entries.
                Some(principal) => {
                    key.push_str("s:");
                    key.push_str(&principal.subject_digest());
                }
                // No verified caller (the operation has no `security`): its credentials, as
                // a digest, so no credential is ever written into a Redis key.
                None => key.push_str(&credentials_digest(headers)),
            }
        }
        CacheKey {
            key,
            private,
            tags: tags(route, captures),
        }
    }
}

/// `text` percent-encoded (`|`, `=`, `&`, `?`, `:` and `%` included).
fn push_escaped(key: &mut String, text: &str) {
    key.extend(form_urlencoded::byte_serialize(text.as_bytes()));
}

/// The invalidation tags of an entry: its operation, and its operation with each path
/// parameter value (canonical).
fn tags(route: &CacheRoute, captures: &[(String, String)]) -> Vec<String> {
    let mut tags = vec![route.operation.to_owned()];
    for (name, capture) in route.params {
        if let Some((_, value)) = captures.iter().find(|(k, _)| k == capture) {
            tags.push(tag(route.operation, name, value));
        }
    }
    tags.extend(
        route
            .policy
            .tags
            .iter()
            .filter_map(|&template| own_tag(template, route.params, captures, None)),
    );
    tags
}

/// What sets the spec's tags apart from the operations' own.
const OWN_TAG_PREFIX: &str = "tag:";

/// A tag of the spec's with its values (`user:7` of `user:{userId}`) as entries carry it.
pub(super) fn spec_tag(tag: &str) -> String {
    format!("{OWN_TAG_PREFIX}{tag}")
}

/// A tag of the spec's (`x-cache: {tags}`, `x-cache-invalidates: {tags}`): `template` with
/// each `{name}` replaced by the value of that path parameter in `captures` (canonical), or
/// each `{$response.body#/pointer}` by that value of `answer` (a string as it is, a number
/// as JSON writes it); `None` when one has no value. Prefixed so that it never meets an
/// operation's own tags.
pub(super) fn own_tag(
    template: Tag,
    params: &[(&str, &str)],
    captures: &[(String, String)],
    answer: Option<&serde_json::Value>,
) -> Option<String> {
    specjet_model::tag::fill(
        template,
        OWN_TAG_PREFIX,
        |name| {
            let capture = params.iter().find(|(param, _)| *param == name)?.1;
            Some(captures.iter().find(|(key, _)| key == capture)?.1.clone())
        },
        |pointer| match answer?.pointer(pointer)? {
            serde_json::Value::String(text) => Some(text.clone()),
            value @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_)) => {
                Some(value.to_string())
            }
            _ => None,
        },
    )
}

/// The tag of an operation's entries with one path parameter value.
pub(super) fn tag(operation: &str, param: &str, value: &str) -> String {
    format!("{operation}|{param}={value}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::cache::{CachePolicy, TagPiece};
    use std::time::Duration;

    fn route(scope: Scope, secured: bool) -> CacheRoute {
        let mut policy = CachePolicy::new(Duration::from_secs(1));
        policy.scope = scope;
        policy.vary = &["accept-language"];
        CacheRoute {
            operation: "getPet",
            policy,
            secured,
            params: &[("petId", "s1")],
            types: &[crate::ParamType::Integer],
            query_defaults: &[("limit", "10")],
            query_types: &[("limit", crate::ParamType::Integer)],
        }
    }

    fn key(route: &CacheRoute, uri: &str, headers: &[(&str, &str)]) -> CacheKey {
        let request = parts(uri, headers);
        let value = request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let captures = crate::serving::operation::canonical_captures(
            route.params,
            route.types,
            vec![("s1".to_owned(), value)],
        );
        CacheKey::for_request(route, &request, &captures)
    }

    fn parts(uri: &str, headers: &[(&str, &str)]) -> http::Request<()> {
        let mut builder = http::Request::builder().uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn query_order_does_not_matter_and_vary_splits() {
        let r = route(Scope::Auto, false);
        let a = key(&r, "/pets/7?b=2&a=1", &[]);
        let b = key(&r, "/pets/7?a=1&b=2", &[]);
        assert_eq!(a.key, b.key);
        assert_eq!(a.tags, ["getPet", "getPet|petId=7"]);
        let fr = key(&r, "/pets/7?a=1&b=2", &[("accept-language", "fr")]);
        assert_ne!(a.key, fr.key);
        let json = key(&r, "/pets/7?a=1&b=2", &[("accept", "application/json")]);
        assert_ne!(a.key, json.key);
        // One entry whatever the content-coding: it is applied outside the cache.
        for coding in ["gzip", "br, zstd", "identity"] {
            let coded = key(&r, "/pets/7?a=1&b=2", &[("accept-encoding", coding)]);
            assert_eq!(a.key, coded.key, "{coding}");
        }
    }

    #[test]
    fn an_absent_query_parameter_keys_as_its_default() {
        let r = route(Scope::Auto, false);
        let bare = key(&r, "/pets/7", &[]);
        assert_eq!(bare.key, key(&r, "/pets/7?limit=10", &[]).key);
        assert_ne!(bare.key, key(&r, "/pets/7?limit=11", &[]).key);
        assert_eq!(
            key(&r, "/pets/7?a=1", &[]).key,
            key(&r, "/pets/7?limit=10&a=1", &[]).key
        );
    }

    #[test]
    fn a_typed_query_value_keys_as_the_handler_reads_it() {
        let r = route(Scope::Auto, false);
        let ten = key(&r, "/pets/7?limit=10", &[]);
        assert_eq!(ten.key, key(&r, "/pets/7?limit=010", &[]).key);
        assert_eq!(ten.key, key(&r, "/pets/7?limit=%2B10", &[]).key);
        assert_eq!(ten.key, key(&r, "/pets/7", &[]).key, "the default");
        assert_ne!(ten.key, key(&r, "/pets/7?limit=11", &[]).key);
        // Text parameters and values that do not read as the type stay as sent.
        assert_ne!(
            key(&r, "/pets/7?name=a", &[]).key,
            key(&r, "/pets/7?name=A", &[]).key
        );
        assert_ne!(
            key(&r, "/pets/7?limit=ten", &[]).key,
            key(&r, "/pets/7?limit=TEN", &[]).key
        );
    }

    #[test]
    fn credentials_make_entries_private_and_never_appear_in_keys() {
        let r = route(Scope::Auto, false);
        let alice = key(&r, "/pets/7", &[("authorization", "Bearer alice")]);
        let bob = key(&r, "/pets/7", &[("authorization", "Bearer bob")]);
        let anonymous = key(&r, "/pets/7", &[]);
        assert!(alice.private && bob.private && !anonymous.private);
        assert_ne!(alice.key, bob.key);
        assert!(!alice.key.contains("alice"));
        let public = key(
            &route(Scope::Public, true),
            "/pets/7",
            &[("authorization", "x")],
        );
        assert!(!public.private);
        let secured = key(&route(Scope::Auto, true), "/pets/7", &[]);
        assert!(secured.private);
    }

    #[test]
    fn spellings_of_one_value_are_one_entry_and_its_tag() {
        let r = route(Scope::Auto, false);
        let five = key(&r, "/pets/5", &[]);
        for spelling in ["/pets/+5", "/pets/05", "/pets/005"] {
            let other = key(&r, spelling, &[]);
            assert_eq!(other.key, five.key, "{spelling}");
            assert_eq!(other.tags, five.tags, "{spelling}");
        }
        assert_ne!(key(&r, "/pets/6", &[]).key, five.key);
        assert_ne!(key(&r, "/pets/5x", &[]).key, five.key);
    }

    #[test]
    fn a_tag_takes_path_values_and_values_of_the_answer() {
        let params = [("orderId", "s1")];
        let captures = [("s1".to_owned(), "42".to_owned())];
        let answer = serde_json::json!({"user_id": 7, "owner": {"name": "ada"}, "items": []});
        let own = |template, answer| {
            let pieces: Vec<TagPiece<&str>> = specjet_model::tag::parse(template)
                .unwrap()
                .into_iter()
                .map(|piece| match piece {
                    TagPiece::Text(text) => TagPiece::Text(&*text.leak()),
                    TagPiece::Param(name) => TagPiece::Param(&*name.leak()),
                    TagPiece::Answer(pointer) => TagPiece::Answer(&*pointer.leak()),
                })
                .collect();
            own_tag(pieces.leak(), &params, &captures, answer)
        };
        let fill = |template| own(template, Some(&answer));
        assert_eq!(fill("order:{orderId}").as_deref(), Some("tag:order:42"));
        assert_eq!(
            fill("orders:{$response.body#/user_id}").as_deref(),
            Some("tag:orders:7")
        );
        assert_eq!(
            fill("by:{$response.body#/owner/name}:{orderId}").as_deref(),
            Some("tag:by:ada:42")
        );
        // Nothing there, or nothing a tag can hold: no tag.
        assert_eq!(fill("x:{$response.body#/missing}"), None);
        assert_eq!(fill("x:{$response.body#/items}"), None);
        assert_eq!(own("x:{$response.body#/user_id}", None), None);
    }

    #[test]
    fn values_of_one_query_name_keep_their_order() {
        let r = route(Scope::Auto, false);
        let a = key(&r, "/pets/5?limit=2&limit=abc", &[]);
        let b = key(&r, "/pets/5?limit=abc&limit=2", &[]);
        assert_ne!(a.key, b.key);
    }

    #[test]
    fn no_header_value_can_pose_as_another_part() {
        let r = route(Scope::Auto, false);
        let crafted = key(&r, "/pets/5", &[("accept", "a|accept-language=fr")]);
        let honest = key(&r, "/pets/5", &[("accept", "a"), ("accept-language", "fr")]);
        assert_ne!(crafted.key, honest.key);
        let private = key(&r, "/pets/5", &[("accept", "a|private=x")]);
        assert!(!private.key.contains("|private="), "{}", private.key);
    }
}
