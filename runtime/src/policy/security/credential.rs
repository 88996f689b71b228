//! Reading a scheme's credential off a request: where the scheme says it is, and nowhere else.

use base64::Engine;
use http::header;

use super::{KeyIn, Scheme, SchemeKind};

/// A credential a request carried for one scheme. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A bearer token (`Authorization: Bearer <token>`).
    Bearer(String),
    /// A user name and password (`Authorization: Basic <base64>`).
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// An API key, from the header, query parameter or cookie the scheme names.
    ApiKey(String),
    /// A client certificate as a trusted terminating proxy forwarded it (the header's value).
    Certificate(String),
    /// The whole `Authorization` value of another `http` scheme (`Digest ...`).
    Other(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Credential::Bearer(_) => "Bearer",
            Credential::Basic { .. } => "Basic",
            Credential::ApiKey(_) => "ApiKey",
            Credential::Certificate(_) => "Certificate",
            Credential::Other(_) => "Other",
        };
        write!(f, "Credential::{kind}(<redacted>)")
    }
}

impl Credential {
    /// The secret's bytes, for a digest that tells credentials apart.
    pub(crate) fn secret(&self) -> Vec<u8> {
        match self {
            Credential::Bearer(secret)
            | Credential::ApiKey(secret)
            | Credential::Certificate(secret)
            | Credential::Other(secret) => secret.as_bytes().to_vec(),
            Credential::Basic { user, password } => {
                let mut bytes = user.as_bytes().to_vec();
                bytes.push(0);
                bytes.extend_from_slice(password.as_bytes());
                bytes
            }
        }
    }
}

/// Where the request is: what a credential is read from.
pub(crate) struct Source<'a> {
    pub(crate) parts: &'a http::request::Parts,
    /// The peer is a trusted proxy: only then is a forwarded client certificate believed.
    pub(crate) trusted_peer: bool,
    /// The header a trusted proxy forwards a client certificate in.
    pub(crate) certificate_header: &'a str,
}

/// The credential `scheme` takes, if the request carries one.
pub(crate) fn read(scheme: &Scheme, from: &Source<'_>) -> Option<Credential> {
    let headers = &from.parts.headers;
    match scheme.kind {
        SchemeKind::Bearer => authorization(headers, "bearer").map(Credential::Bearer),
        SchemeKind::Basic => {
            let encoded = authorization(headers, "basic")?;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (user, password) = decoded.split_once(':')?;
            Some(Credential::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            })
        }
        SchemeKind::OtherHttp { scheme: name } => {
            authorization(headers, &name.to_ascii_lowercase())
                .map(|rest| Credential::Other(format!("{name} {rest}")))
        }
        SchemeKind::ApiKey { location, name } => {
            let key = match location {
                KeyIn::Header => headers.get(name)?.to_str().ok()?.to_owned(),
                KeyIn::Query => {
                    let query = from.parts.uri.query()?;
                    form_urlencoded::parse(query.as_bytes())
                        .find(|(key, _)| key == name)
                        .map(|(_, value)| value.into_owned())?
                }
                KeyIn::Cookie => crate::request::extract::CookieParams::from_headers(headers)
                    .scalar::<String>(name)
                    .ok()
                    .flatten()?,
            };
            (!key.is_empty()).then_some(Credential::ApiKey(key))
        }
        SchemeKind::MutualTls => {
            if !from.trusted_peer {
                return None;
            }
            let value = headers.get(from.certificate_header)?.to_str().ok()?;
            (!value.is_empty()).then(|| Credential::Certificate(value.to_owned()))
        }
    }
}

/// The rest of the one `Authorization` value whose scheme is `scheme` (lower case); none when
/// no value, or more than one, names it.
fn authorization(headers: &http::HeaderMap, scheme: &str) -> Option<String> {
    let mut found = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| {
            let (name, rest) = value.trim().split_once(' ')?;
            name.eq_ignore_ascii_case(scheme).then(|| rest.trim())
        });
    let first = found.next()?;
    // Two credentials of one scheme: ambiguous, so neither.
    if found.next().is_some() || first.is_empty() {
        return None;
    }
    Some(first.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut request = http::Request::get(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    fn read_from(
        kind: SchemeKind,
        parts: &http::request::Parts,
        trusted: bool,
    ) -> Option<Credential> {
        let scheme = Scheme { name: "s", kind };
        read(
            &scheme,
            &Source {
                parts,
                trusted_peer: trusted,
                certificate_header: "x-forwarded-client-cert",
            },
        )
    }

    #[test]
    fn each_scheme_reads_its_own_place_only() {
        let bearer = parts("/", &[("authorization", "bEaReR  abc.def ")]);
        assert_eq!(
            read_from(SchemeKind::Bearer, &bearer, false),
            Some(Credential::Bearer("abc.def".into()))
        );
        assert_eq!(read_from(SchemeKind::Basic, &bearer, false), None);
        let basic = parts("/", &[("authorization", "Basic dXNlcjpwYTpzcw==")]);
        assert_eq!(
            read_from(SchemeKind::Basic, &basic, false),
            Some(Credential::Basic {
                user: "user".into(),
                password: "pa:ss".into()
            })
        );
        let twice = parts(
            "/",
            &[("authorization", "Bearer a"), ("authorization", "Bearer b")],
        );
        assert_eq!(
            read_from(SchemeKind::Bearer, &twice, false),
            None,
            "ambiguous"
        );

        let key = |location| SchemeKind::ApiKey {
            location,
            name: "api_key",
        };
        let everywhere = parts(
            "/pets?api_key=from%20query",
            &[
                ("api_key", "from-header"),
                ("cookie", "a=1; api_key=from-cookie"),
            ],
        );
        assert_eq!(
            read_from(key(KeyIn::Query), &everywhere, false),
            Some(Credential::ApiKey("from query".into()))
        );
        assert_eq!(
            read_from(key(KeyIn::Header), &everywhere, false),
            Some(Credential::ApiKey("from-header".into()))
        );
        assert_eq!(
            read_from(key(KeyIn::Cookie), &everywhere, false),
            Some(Credential::ApiKey("from-cookie".into()))
        );

        let forwarded = parts("/", &[("x-forwarded-client-cert", "Subject=\"CN=a\"")]);
        assert_eq!(
            read_from(SchemeKind::MutualTls, &forwarded, false),
            None,
            "untrusted peer"
        );
        assert!(read_from(SchemeKind::MutualTls, &forwarded, true).is_some());
    }

    #[test]
    fn a_credentials_debug_shows_no_secret() {
        let shown = format!("{:?}", Credential::Bearer("secret-token".into()));
        assert!(!shown.contains("secret"), "{shown}");
    }
}
