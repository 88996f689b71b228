//! A cached response and its encoding for the shared (Redis) tier.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

/// A stored response: status, headers and body, with when it was stored and for how long it
/// is fresh (and then stale-but-servable).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub stored_at: u64,
    pub ttl: Duration,
    pub stale_while_revalidate: Duration,
    pub stale_if_error: Duration,
    /// Invalidation tags (`op`, `op|param=value`).
    pub tags: Vec<String>,
    /// `headers` parsed once, and the `ETag` header (weak when a content-coding applies), so
    /// a hit copies ready headers instead of parsing text.
    pub header_map: HeaderMap,
    pub etag_header: HeaderValue,
}

/// How long an entry is fresh, then servable while refreshed, then usable on errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Windows {
    pub ttl: Duration,
    pub stale_while_revalidate: Duration,
    pub stale_if_error: Duration,
}

impl From<&super::CachePolicy> for Windows {
    fn from(policy: &super::CachePolicy) -> Windows {
        Windows {
            ttl: policy.ttl,
            stale_while_revalidate: policy.stale_while_revalidate,
            stale_if_error: policy.stale_if_error,
        }
    }
}

/// How fresh an entry is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    Fresh,
    /// Past its ttl, inside the stale-while-revalidate window.
    Stale,
    Expired,
}

pub(super) fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Entry {
    /// An entry for a response; computes its validator and prepared headers.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        status: u16,
        headers: Vec<(String, String)>,
        body: Bytes,
        stored_at: u64,
        windows: Windows,
        tags: Vec<String>,
    ) -> Entry {
        let etag = etag_for(&body);
        Entry::assemble(status, headers, body, etag, stored_at, windows, tags)
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        status: u16,
        headers: Vec<(String, String)>,
        body: Bytes,
        etag: String,
        stored_at: u64,
        windows: Windows,
        tags: Vec<String>,
    ) -> Entry {
        let mut header_map = HeaderMap::with_capacity(headers.len() + 6);
        for (name, value) in &headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                header_map.append(name, value);
            }
        }
        // A strong validator does not survive a content-coding.
        let encoded = header_map.contains_key(http::header::CONTENT_ENCODING);
        let etag_text = if encoded {
            format!("W/{etag}")
        } else {
            etag.clone()
        };
        let etag_header =
            HeaderValue::try_from(etag_text).unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        Entry {
            status,
            headers,
            body,
            etag,
            stored_at,
            ttl: windows.ttl,
            stale_while_revalidate: windows.stale_while_revalidate,
            stale_if_error: windows.stale_if_error,
            tags,
            header_map,
            etag_header,
        }
    }

    pub(crate) fn age(&self) -> Duration {
        Duration::from_millis(now_millis().saturating_sub(self.stored_at))
    }

    pub(crate) fn freshness(&self) -> Freshness {
        let age = self.age();
        if age <= self.ttl {
            Freshness::Fresh
        } else if age <= self.ttl + self.stale_while_revalidate {
            Freshness::Stale
        } else {
            Freshness::Expired
        }
    }

    /// Whether the entry may stand in for a failed answer (`stale-if-error`).
    pub(crate) fn usable_on_error(&self) -> bool {
        !self.stale_if_error.is_zero() && self.age() <= self.ttl + self.stale_if_error
    }

    /// How long the entry should be kept at all.
    pub(crate) fn lifetime(&self) -> Duration {
        self.ttl + self.stale_while_revalidate.max(self.stale_if_error)
    }

    /// Approximate memory use, for the size bound of the in-process tier.
    pub(crate) fn weight(&self) -> usize {
        self.body.len()
            + self.etag.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len() + 16)
                .sum::<usize>()
            + self.tags.iter().map(|t| t.len() + 8).sum::<usize>()
            + 64
    }

    /// `SJC1`, the metadata length (4 bytes, big endian), metadata JSON, then the raw body.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let meta = Meta {
            status: self.status,
            headers: self.headers.clone(),
            etag: self.etag.clone(),
            stored_at: self.stored_at,
            ttl_ms: self.ttl.as_millis() as u64,
            swr_ms: self.stale_while_revalidate.as_millis() as u64,
            sie_ms: self.stale_if_error.as_millis() as u64,
            tags: self.tags.clone(),
        };
        let meta = serde_json::to_vec(&meta).unwrap_or_default();
        let mut out = Vec::with_capacity(8 + meta.len() + self.body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(meta.len() as u32).to_be_bytes());
        out.extend_from_slice(&meta);
        out.extend_from_slice(&self.body);
        out
    }

    /// The entry encoded by [`Entry::encode`]; `None` for anything else (foreign or corrupt
    /// data under a key is a miss, never an error).
    pub(crate) fn decode(bytes: &[u8]) -> Option<Entry> {
        let rest = bytes.strip_prefix(MAGIC)?;
        let (length, rest) = rest.split_first_chunk::<4>()?;
        let length = u32::from_be_bytes(*length) as usize;
        if rest.len() < length {
            return None;
        }
        let (meta, body) = rest.split_at(length);
        let meta: Meta = serde_json::from_slice(meta).ok()?;
        Some(Entry::assemble(
            meta.status,
            meta.headers,
            Bytes::copy_from_slice(body),
            meta.etag,
            meta.stored_at,
            Windows {
                ttl: Duration::from_millis(meta.ttl_ms),
                stale_while_revalidate: Duration::from_millis(meta.swr_ms),
                stale_if_error: Duration::from_millis(meta.sie_ms),
            },
            meta.tags,
        ))
    }
}

const MAGIC: &[u8] = b"SJC1";

#[derive(Serialize, Deserialize)]
struct Meta {
    status: u16,
    headers: Vec<(String, String)>,
    etag: String,
    stored_at: u64,
    ttl_ms: u64,
    swr_ms: u64,
    /// Absent in entries written before `stale-if-error` existed.
    #[serde(default)]
    sie_ms: u64,
    tags: Vec<String>,
}

/// A strong validator for a body: FNV-1a 64 of the bytes, quoted. Every replica computes the
/// same one for the same bytes.
pub fn etag_for(body: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in body {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{hash:016x}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry::new(
            200,
            vec![("content-type".into(), "application/json".into())],
            Bytes::from_static(b"[1,2]"),
            now_millis(),
            Windows {
                ttl: Duration::from_secs(60),
                stale_while_revalidate: Duration::from_secs(5),
                stale_if_error: Duration::from_secs(3600),
            },
            vec!["listPets".into()],
        )
    }

    #[test]
    fn round_trips_and_rejects_foreign_bytes() {
        let original = entry();
        assert_eq!(Entry::decode(&original.encode()), Some(original));
        assert_eq!(Entry::decode(b"hello"), None);
        assert_eq!(Entry::decode(b"SJC1\x00\x00\x00\xffshort"), None);
        assert_eq!(Entry::decode(b"SJC1\x00\x00\x00\x02{]"), None);
        assert_eq!(Entry::decode(b""), None);
    }

    #[test]
    fn weak_etag_under_a_content_coding() {
        let plain = entry();
        assert!(!plain.etag_header.to_str().unwrap().starts_with("W/"));
        let gzip = Entry::new(
            200,
            vec![("content-encoding".into(), "gzip".into())],
            Bytes::new(),
            0,
            Windows {
                ttl: Duration::ZERO,
                stale_while_revalidate: Duration::ZERO,
                stale_if_error: Duration::ZERO,
            },
            vec![],
        );
        assert!(gzip.etag_header.to_str().unwrap().starts_with("W/\""));
    }

    #[test]
    fn freshness_windows() {
        let mut e = entry();
        assert_eq!(e.freshness(), Freshness::Fresh);
        e.stored_at -= 62_000;
        assert_eq!(e.freshness(), Freshness::Stale);
        e.stored_at -= 10_000;
        assert_eq!(e.freshness(), Freshness::Expired);
        assert!(e.usable_on_error(), "inside the hour of stale-if-error");
        assert_eq!(e.lifetime(), Duration::from_secs(3660));
        e.stored_at -= 3_600_000;
        assert!(!e.usable_on_error());
    }

    #[test]
    fn etags_are_stable_and_distinct() {
        assert_eq!(etag_for(b"abc"), etag_for(b"abc"));
        assert_ne!(etag_for(b"abc"), etag_for(b"abd"));
        assert!(etag_for(b"").starts_with('"'));
    }
}
