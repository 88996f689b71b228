//! Cache keys: method, path, normalized query, the `vary` headers, content negotiation and,
//! for private entries, a digest of the caller's credentials.

use super::{CacheRoute, Scope};
use crate::caller::{credentials_digest, has_credentials, header_text};

/// A cache key, and whether it is keyed by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CacheKey {
    pub key: String,
    pub private: bool,
}

/// Request headers that always split the key: the same URL answers differently per media
/// type and content-coding.
const NEGOTIATION: [&str; 2] = ["accept", "accept-encoding"];

impl CacheKey {
    pub(super) fn for_request<B>(route: &CacheRoute, request: &http::Request<B>) -> CacheKey {
        let headers = request.headers();
        let path = request.uri().path();
        let mut key = String::with_capacity(route.operation.len() + path.len() + 32);
        key.push_str(route.operation);
        key.push(':');
        key.push_str(request.method().as_str());
        key.push(':');
        key.push_str(path);
        // Parameter order does not matter: `?b=2&a=1` and `?a=1&b=2` are one entry.
        if let Some(query) = request.uri().query().filter(|q| !q.is_empty()) {
            let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            pairs.sort();
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
                key.push_str(&header_text(headers, name));
            }
        }
        let private = match route.policy.scope {
            Scope::Public => false,
            Scope::Private => true,
            Scope::Auto => route.secured || has_credentials(headers),
        };
        if private {
            // A digest, so no credential is ever written into a Redis key.
            key.push_str("|private=");
            key.push_str(&credentials_digest(headers));
        }
        CacheKey { key, private }
    }
}

/// The invalidation tags of an entry: its operation, and its operation with each path
/// parameter value.
pub(super) fn tags(route: &CacheRoute, captures: &[(String, String)]) -> Vec<String> {
    let mut tags = vec![route.operation.to_owned()];
    for (name, capture) in route.params {
        if let Some((_, value)) = captures.iter().find(|(k, _)| k == capture) {
            tags.push(tag(route.operation, name, value));
        }
    }
    tags
}

/// The tag of an operation's entries with one path parameter value.
pub(super) fn tag(operation: &str, param: &str, value: &str) -> String {
    format!("{operation}|{param}={value}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CachePolicy;
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
        }
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
        let a = CacheKey::for_request(&r, &parts("/pets/7?b=2&a=1", &[]));
        let b = CacheKey::for_request(&r, &parts("/pets/7?a=1&b=2", &[]));
        assert_eq!(a.key, b.key);
        let captures = vec![("s1".to_owned(), "7".to_owned())];
        assert_eq!(tags(&r, &captures), ["getPet", "getPet|petId=7"]);
        let fr = CacheKey::for_request(&r, &parts("/pets/7?a=1&b=2", &[("accept-language", "fr")]));
        assert_ne!(a.key, fr.key);
        let gzip = CacheKey::for_request(
            &r,
            &parts("/pets/7?a=1&b=2", &[("accept-encoding", "gzip")]),
        );
        assert_ne!(a.key, gzip.key);
    }

    #[test]
    fn credentials_make_entries_private_and_never_appear_in_keys() {
        let r = route(Scope::Auto, false);
        let alice =
            CacheKey::for_request(&r, &parts("/pets/7", &[("authorization", "Bearer alice")]));
        let bob = CacheKey::for_request(&r, &parts("/pets/7", &[("authorization", "Bearer bob")]));
        let anonymous = CacheKey::for_request(&r, &parts("/pets/7", &[]));
        assert!(alice.private && bob.private && !anonymous.private);
        assert_ne!(alice.key, bob.key);
        assert!(!alice.key.contains("alice"));
        let public = CacheKey::for_request(
            &route(Scope::Public, true),
            &parts("/pets/7", &[("authorization", "x")]),
        );
        assert!(!public.private);
        let secured = CacheKey::for_request(&route(Scope::Auto, true), &parts("/pets/7", &[]));
        assert!(secured.private);
    }
}
