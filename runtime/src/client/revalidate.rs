//! The client's cache of answers the spec caches: each stored with its `ETag`, and sent
//! again with `If-None-Match`, so that a 304 reuses the stored body. An answer is never used
//! without the service's word that it is still current, so it is never stale; what the
//! cache saves is the body's bytes on the wire and the service's work of writing them.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};

/// One stored answer.
#[derive(Debug)]
struct Stored {
    etag: HeaderValue,
    headers: HeaderMap,
    body: Bytes,
}

/// Answers by request target (`GET /pets/7?x=1`), bounded in entries.
#[derive(Clone)]
pub(crate) struct Revalidation {
    entries: moka::sync::Cache<String, Arc<Stored>>,
}

impl std::fmt::Debug for Revalidation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revalidation")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl Revalidation {
    /// A cache of at most `capacity` answers.
    pub(crate) fn new(capacity: u64) -> Revalidation {
        Revalidation {
            entries: moka::sync::Cache::new(capacity),
        }
    }

    fn key(request: &http::Request<Bytes>) -> String {
        format!("{} {}", request.method(), request.uri())
    }

    /// Adds `If-None-Match` with the stored answer's tag, unless the caller set one.
    pub(crate) fn ask(&self, request: &mut http::Request<Bytes>) {
        if request.headers().contains_key(header::IF_NONE_MATCH) {
            return;
        }
        if let Some(stored) = self.entries.get(&Self::key(request)) {
            request
                .headers_mut()
                .insert(header::IF_NONE_MATCH, stored.etag.clone());
        }
    }

    /// The answer to hand on: a 304 to a tag this cache sent becomes the stored answer; a
    /// new answer with a tag is stored; any other replaces nothing but drops what it
    /// contradicts (an error, an answer without a tag).
    pub(crate) fn answer(
        &self,
        request: &http::Request<Bytes>,
        response: http::Response<Bytes>,
    ) -> http::Response<Bytes> {
        let key = Self::key(request);
        match response.status() {
            StatusCode::NOT_MODIFIED => {
                let Some(stored) = self.entries.get(&key) else {
                    return response;
                };
                let sent = request.headers().get(header::IF_NONE_MATCH);
                if sent != Some(&stored.etag) {
                    return response;
                }
                let mut reused = http::Response::new(stored.body.clone());
                *reused.headers_mut() = stored.headers.clone();
                // The 304's own headers (a new `Cache-Control`, `Date`) are the current ones.
                for (name, value) in response.headers() {
                    reused.headers_mut().insert(name, value.clone());
                }
                reused
            }
            StatusCode::OK => {
                match response.headers().get(header::ETAG) {
                    Some(etag) if !no_store(response.headers()) => {
                        self.entries.insert(
                            key,
                            Arc::new(Stored {
                                etag: etag.clone(),
                                headers: response.headers().clone(),
                                body: response.body().clone(),
                            }),
                        );
                    }
                    _ => self.entries.invalidate(&key),
                }
                response
            }
            _ => {
                self.entries.invalidate(&key);
                response
            }
        }
    }
}

/// `Cache-Control: no-store`: the answer may not be kept.
fn no_store(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|directive| directive.trim().eq_ignore_ascii_case("no-store"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(target: &str) -> http::Request<Bytes> {
        http::Request::get(target).body(Bytes::new()).unwrap()
    }

    fn answer(
        status: u16,
        etag: Option<&'static str>,
        body: &'static str,
    ) -> http::Response<Bytes> {
        let mut response = http::Response::new(Bytes::from_static(body.as_bytes()));
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        if let Some(etag) = etag {
            response
                .headers_mut()
                .insert(header::ETAG, HeaderValue::from_static(etag));
        }
        response
    }

    #[test]
    fn a_304_to_the_stored_tag_is_the_stored_answer() {
        let cache = Revalidation::new(16);
        let first = get("/pets/7");
        cache.answer(&first, answer(200, Some("\"a\""), "rex"));
        let mut again = get("/pets/7");
        cache.ask(&mut again);
        assert_eq!(again.headers()[header::IF_NONE_MATCH], "\"a\"");
        let reused = cache.answer(&again, answer(304, None, ""));
        assert_eq!(reused.status(), StatusCode::OK);
        assert_eq!(reused.body(), "rex");
        assert_eq!(reused.headers()[header::ETAG], "\"a\"");
    }

    #[test]
    fn an_error_or_an_untagged_answer_drops_the_entry() {
        let cache = Revalidation::new(16);
        cache.answer(&get("/pets/7"), answer(200, Some("\"a\""), "rex"));
        cache.answer(&get("/pets/7"), answer(404, None, ""));
        let mut again = get("/pets/7");
        cache.ask(&mut again);
        assert!(!again.headers().contains_key(header::IF_NONE_MATCH));
        // A 304 the cache did not ask for is handed on as it is.
        let passed = cache.answer(&again, answer(304, None, ""));
        assert_eq!(passed.status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn targets_are_kept_apart() {
        let cache = Revalidation::new(16);
        cache.answer(&get("/pets?tag=dog"), answer(200, Some("\"d\""), "dogs"));
        let mut other = get("/pets?tag=cat");
        cache.ask(&mut other);
        assert!(!other.headers().contains_key(header::IF_NONE_MATCH));
    }
}
