//! Cache keys: method, path, normalized query, the `vary` headers, content negotiation and,
//! for private entries, a digest of the caller's credentials.

use http::request::Parts;
use sha2::{Digest, Sha256};

use super::{CacheRoute, Scope};

/// A cache key and the tags its entry will carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    pub key: String,
    pub private: bool,
    pub tags: Vec<String>,
}

/// Headers that carry the caller's identity.
const CREDENTIALS: [&str; 2] = ["authorization", "cookie"];

impl CacheKey {
    pub fn for_request(
        route: &CacheRoute,
        parts: &Parts,
        captures: &[(String, String)],
    ) -> CacheKey {
        let mut key = format!("{}:{}:{}", route.operation, parts.method, parts.uri.path());
        // Parameter order does not matter: `?b=2&a=1` and `?a=1&b=2` are one entry.
        let mut query: Vec<(String, String)> =
            form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        query.sort();
        if !query.is_empty() {
            key.push('?');
            key.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(query)
                    .finish(),
            );
        }
        let header = |name: &str| {
            parts
                .headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(",")
        };
        for name in route
            .policy
            .vary
            .iter()
            .chain(["accept", "accept-encoding"].iter())
        {
            let value = header(name);
            if !value.is_empty() {
                key.push_str(&format!("|{}={}", name.to_ascii_lowercase(), value));
            }
        }
        let has_credentials = CREDENTIALS
            .iter()
            .any(|name| parts.headers.contains_key(*name));
        let private = match route.policy.scope {
            Scope::Public => false,
            Scope::Private => true,
            Scope::Auto => route.secured || has_credentials,
        };
        if private {
            // A digest, so no credential is ever written into a Redis key.
            let mut digest = Sha256::new();
            for name in CREDENTIALS {
                digest.update(name.as_bytes());
                digest.update([0]);
                digest.update(header(name).as_bytes());
                digest.update([0]);
            }
            let digest = digest.finalize();
            key.push_str("|private=");
            for byte in &digest[..16] {
                key.push_str(&format!("{byte:02x}"));
            }
        }
        let mut tags = vec![route.operation.to_owned()];
        for (name, capture) in route.params {
            if let Some((_, value)) = captures.iter().find(|(k, _)| k == capture) {
                tags.push(tag(route.operation, name, value));
            }
        }
        CacheKey { key, private, tags }
    }
}

/// The tag of an operation's entries with one path parameter value.
pub fn tag(operation: &str, param: &str, value: &str) -> String {
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
        policy.vary = vec!["accept-language"];
        CacheRoute {
            operation: "getPet",
            policy,
            secured,
            params: &[("petId", "s1")],
        }
    }

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn query_order_does_not_matter_and_vary_splits() {
        let r = route(Scope::Auto, false);
        let captures = vec![("s1".to_owned(), "7".to_owned())];
        let a = CacheKey::for_request(&r, &parts("/pets/7?b=2&a=1", &[]), &captures);
        let b = CacheKey::for_request(&r, &parts("/pets/7?a=1&b=2", &[]), &captures);
        assert_eq!(a.key, b.key);
        assert_eq!(a.tags, ["getPet", "getPet|petId=7"]);
        let fr = CacheKey::for_request(
            &r,
            &parts("/pets/7?a=1&b=2", &[("accept-language", "fr")]),
            &captures,
        );
        assert_ne!(a.key, fr.key);
        let gzip = CacheKey::for_request(
            &r,
            &parts("/pets/7?a=1&b=2", &[("accept-encoding", "gzip")]),
            &captures,
        );
        assert_ne!(a.key, gzip.key);
    }

    #[test]
    fn credentials_make_entries_private_and_never_appear_in_keys() {
        let r = route(Scope::Auto, false);
        let alice = CacheKey::for_request(
            &r,
            &parts("/pets/7", &[("authorization", "Bearer alice")]),
            &[],
        );
        let bob = CacheKey::for_request(
            &r,
            &parts("/pets/7", &[("authorization", "Bearer bob")]),
            &[],
        );
        let anonymous = CacheKey::for_request(&r, &parts("/pets/7", &[]), &[]);
        assert!(alice.private && bob.private && !anonymous.private);
        assert_ne!(alice.key, bob.key);
        assert!(!alice.key.contains("alice"));
        let public = CacheKey::for_request(
            &route(Scope::Public, true),
            &parts("/pets/7", &[("authorization", "x")]),
            &[],
        );
        assert!(!public.private);
        let secured = CacheKey::for_request(&route(Scope::Auto, true), &parts("/pets/7", &[]), &[]);
        assert!(secured.private);
    }
}
