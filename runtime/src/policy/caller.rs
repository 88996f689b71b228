//! Who is calling: a digest of the caller's credentials, and the client's IP address as seen
//! through trusted proxies. Cache keys and rate-limit keys are built from these.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use http::HeaderMap;
use ipnet::IpNet;
use sha2::{Digest, Sha256};

/// Headers that carry the caller's identity.
pub const CREDENTIALS: [&str; 2] = ["authorization", "cookie"];

/// All values of a header joined by `,` (empty when absent or not text).
pub fn header_text(headers: &HeaderMap, name: &str) -> String {
    let mut values = headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
    match (values.next(), values.next()) {
        (None, _) => String::new(),
        (Some(one), None) => one.to_owned(),
        (Some(first), Some(second)) => [first, second]
            .into_iter()
            .chain(values)
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// Whether the request carries credentials (`Authorization` or `Cookie`).
pub fn has_credentials(headers: &HeaderMap) -> bool {
    CREDENTIALS.iter().any(|name| headers.contains_key(*name))
}

/// A digest of the caller's credentials (32 hex digits): it tells callers apart without
/// writing any credential into a key.
pub fn credentials_digest(headers: &HeaderMap) -> String {
    let mut digest = Sha256::new();
    for name in CREDENTIALS {
        digest.update(name.as_bytes());
        digest.update([0]);
        digest.update(header_text(headers, name).as_bytes());
        digest.update([0]);
    }
    hex(&digest.finalize()[..16])
}

/// A short stand-in for text of any length (32 hex digits).
pub fn short_digest(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes())[..16])
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

/// How the client's address is found behind proxies.
#[derive(Debug, Clone, Default)]
pub struct ClientIp {
    /// Peers whose forwarding header is believed.
    trusted: Vec<IpNet>,
    /// The forwarding header (`x-forwarded-for` unless configured).
    header: Option<http::HeaderName>,
}

impl ClientIp {
    /// Trusts the forwarding `header` (default `X-Forwarded-For`) from peers in `proxies`
    /// (addresses or CIDR ranges; unparsable ones are logged and skipped).
    pub fn new(proxies: &[String], header: Option<&str>) -> ClientIp {
        let trusted = proxies
            .iter()
            .filter_map(|proxy| {
                let parsed = proxy
                    .parse::<IpNet>()
                    .ok()
                    .or_else(|| proxy.parse::<IpAddr>().ok().map(IpNet::from));
                if parsed.is_none() {
                    tracing::warn!(proxy, "not an IP address or CIDR range; not trusted");
                }
                parsed
            })
            .collect();
        let header = header
            .unwrap_or("x-forwarded-for")
            .parse::<http::HeaderName>()
            .ok();
        ClientIp { trusted, header }
    }

    #[cfg(test)]
    fn of_parts(&self, parts: &http::request::Parts) -> Option<IpAddr> {
        self.of(&parts.headers, &parts.extensions)
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// Whether the request came straight from a trusted proxy (whose forwarded headers, a
    /// client certificate's included, are believed).
    pub fn peer_is_trusted(&self, extensions: &http::Extensions) -> bool {
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|peer| self.is_trusted(peer.0.ip().to_canonical()))
    }

    /// The client's address as a key (of budgets, of held streams): `unknown` for every
    /// client when the server was not started with connection info (said once in the log).
    pub(crate) fn key(&self, parts: &http::request::Parts) -> String {
        match self.of(&parts.headers, &parts.extensions) {
            Some(ip) => ip.to_string(),
            None => {
                static WARNED: std::sync::Once = std::sync::Once::new();
                WARNED.call_once(|| {
                    tracing::warn!("rate limits keyed by IP see no client address: serve with `specjet::serve` or `into_make_service_with_connect_info::<SocketAddr>()`; until then all clients share one budget");
                });
                "unknown".to_owned()
            }
        }
    }

    /// The client's address: the peer's, or, when the peer is a trusted proxy, the rightmost
    /// address in the forwarding header that is not a trusted proxy (the leftmost entries are
    /// whatever the client chose to send). `None` when the server was not started with
    /// connection info.
    pub fn of(&self, headers: &HeaderMap, extensions: &http::Extensions) -> Option<IpAddr> {
        let peer = extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let Some(header) = &self.header else {
            return Some(peer);
        };
        let forwarded = header_text(headers, header.as_str());
        let mut hops = forwarded.split(',').rev().map(|hop| parse_hop(hop.trim()));
        let mut client = peer;
        for hop in hops.by_ref() {
            let Some(hop) = hop else {
                // Garbage in the chain: nothing left of it can be believed.
                break;
            };
            client = hop;
            if !self.is_trusted(hop) {
                break;
            }
        }
        Some(client)
    }
}

/// An address as proxies write it: `203.0.113.7`, `203.0.113.7:4711`, `[2001:db8::1]:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<SocketAddr>()
        .ok()
        .map(|addr| addr.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(peer: &str, forwarded: Option<&str>) -> http::request::Parts {
        let mut builder = http::Request::builder();
        if let Some(value) = forwarded {
            builder = builder.header("x-forwarded-for", value);
        }
        let mut request = builder.body(()).expect("request");
        let peer: SocketAddr = peer.parse().expect("peer");
        request.extensions_mut().insert(ConnectInfo(peer));
        request.into_parts().0
    }

    #[test]
    fn forwarding_headers_are_believed_only_from_trusted_proxies() {
        let ip = |text: &str| text.parse::<IpAddr>().expect("ip");
        let resolver = ClientIp::new(&["10.0.0.0/8".to_owned(), "192.0.2.1".to_owned()], None);
        // An untrusted peer cannot claim another address.
        assert_eq!(
            resolver.of_parts(&request("203.0.113.9:5000", Some("1.2.3.4"))),
            Some(ip("203.0.113.9"))
        );
        // Behind two trusted proxies, the rightmost untrusted hop is the client, whatever
        // the client prepended.
        assert_eq!(
            resolver.of_parts(&request(
                "10.0.0.2:5000",
                Some("6.6.6.6, 198.51.100.4, 192.0.2.1")
            )),
            Some(ip("198.51.100.4"))
        );
        // A trusted proxy that forwards nothing is itself the client.
        assert_eq!(
            resolver.of_parts(&request("10.0.0.2:5000", None)),
            Some(ip("10.0.0.2"))
        );
        // IPv4-mapped IPv6 peers count as their IPv4 address.
        assert_eq!(
            resolver.of_parts(&request("[::ffff:10.1.1.1]:80", Some("[2001:db8::1]:443"))),
            Some(ip("2001:db8::1"))
        );
        // Garbage stops the walk at the last believable hop.
        assert_eq!(
            resolver.of_parts(&request("10.0.0.2:5000", Some("1.1.1.1, not-an-ip"))),
            Some(ip("10.0.0.2"))
        );
    }

    #[test]
    fn digests_tell_callers_apart() {
        let mut alice = HeaderMap::new();
        alice.insert("authorization", "Bearer alice".parse().expect("header"));
        let mut bob = HeaderMap::new();
        bob.insert("authorization", "Bearer bob".parse().expect("header"));
        assert_ne!(credentials_digest(&alice), credentials_digest(&bob));
        assert_eq!(credentials_digest(&alice).len(), 32);
        assert!(!credentials_digest(&alice).contains("alice"));
    }
}
