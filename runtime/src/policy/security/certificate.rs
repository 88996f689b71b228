//! The built-in verifier of `mutualTLS` schemes behind a terminating proxy: the proxy checked
//! the certificate, and forwards it in a header that is believed only from the trusted
//! proxies (see `credential.rs`); the principal is the certificate's subject.

use std::future::Future;
use std::pin::Pin;

use super::{BuiltInVerifier, Credential, Principal, Refusal};

/// Reads the subject of an `X-Forwarded-Client-Cert` value (`By=...;Hash=...;Subject="CN=a"`),
/// or its hash, or takes the whole value when it has neither.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ForwardedCertificate;

impl BuiltInVerifier for ForwardedCertificate {
    fn verify<'a>(
        &'a self,
        _scheme: &'static str,
        credential: &'a Credential,
    ) -> Pin<Box<dyn Future<Output = Result<Principal, Refusal>> + Send + 'a>> {
        let verdict = match credential {
            Credential::Certificate(forwarded) => Ok(Principal::new(subject(forwarded))),
            _ => Err(Refusal::invalid("a client certificate is expected")),
        };
        Box::pin(std::future::ready(verdict))
    }
}

/// The `Subject` of the first certificate of an XFCC value, else its `Hash`, else the value.
fn subject(forwarded: &str) -> String {
    let first = split_unquoted(forwarded, ',').next().unwrap_or(forwarded);
    let field = |name: &str| {
        split_unquoted(first, ';').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().trim_matches('"').to_owned())
        })
    };
    field("Subject")
        .or_else(|| field("Hash"))
        .unwrap_or_else(|| first.trim().to_owned())
}

/// `text` split at each `separator` outside double quotes (XFCC quotes values that hold `,`
/// and `;`).
fn split_unquoted(text: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut start = 0;
    let mut pieces = Vec::new();
    for (index, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                pieces.push(&text[start..index]);
                start = index + c.len_utf8();
            }
            _ => {}
        }
    }
    pieces.push(&text[start..]);
    pieces.into_iter()
}

#[cfg(test)]
mod tests {
    use super::subject;

    #[test]
    fn the_subject_of_a_forwarded_certificate() {
        assert_eq!(
            subject("By=spiffe://a;Hash=abc;Subject=\"CN=client,O=Shop\";URI=spiffe://b"),
            "CN=client,O=Shop"
        );
        assert_eq!(
            subject("Subject=\"CN=a,O=b\";Hash=1,Subject=\"CN=proxy\""),
            "CN=a,O=b",
            "the client's certificate, not the next hop's"
        );
        assert_eq!(subject("Hash=abc"), "abc");
        assert_eq!(subject("opaque"), "opaque");
    }
}
