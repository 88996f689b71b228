//! The built-in verifier of API keys: each key presented is hashed (SHA-256) and compared in
//! constant time with every digest configured, so that neither a key nor how much of one is
//! right can be learned from timing, and no key is kept in memory or in the environment.

use std::future::Future;
use std::pin::Pin;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{BuiltInVerifier, Credential, Principal, Refusal};

/// Subjects and the SHA-256 digests of their keys.
#[derive(Clone)]
pub struct ApiKeys {
    keys: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl ApiKeys {
    /// Reads `subject:hexdigest` pairs (commas or newlines between them; the digest is the
    /// SHA-256 of the key, as `printf %s KEY | sha256sum` prints it); the error names what
    /// does not read.
    pub fn parse(list: &str) -> Result<ApiKeys, String> {
        let mut keys = Vec::new();
        for entry in list
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (subject, digest) = entry
                .rsplit_once(':')
                .ok_or_else(|| format!("`{}...` is not `subject:sha256-hex`", prefix(entry)))?;
            let digest = hex_digest(digest.trim())
                .ok_or_else(|| format!("the digest of `{subject}` is not 64 hexadecimal digits"))?;
            keys.push((subject.trim().to_owned(), digest));
        }
        Ok(ApiKeys { keys })
    }

    /// The keys listed in the environment variable `name`.
    pub fn from_env(name: &str) -> Result<ApiKeys, String> {
        let list = std::env::var(name)
            .map_err(|_| format!("the API keys' environment variable `{name}` is not set"))?;
        ApiKeys::parse(&list).map_err(|error| format!("`{name}`: {error}"))
    }

    /// The subject whose key `key` is; every digest is compared, whatever matches.
    pub fn subject_of(&self, key: &str) -> Option<&str> {
        let presented: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = None;
        for (subject, digest) in &self.keys {
            if bool::from(digest.ct_eq(&presented)) {
                found = Some(subject.as_str());
            }
        }
        found
    }
}

/// At most the first 8 characters of `text`, for messages that must not repeat a secret.
fn prefix(text: &str) -> &str {
    text.char_indices()
        .nth(8)
        .map_or(text, |(end, _)| &text[..end])
}

fn hex_digest(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (index, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(digest)
}

impl BuiltInVerifier for ApiKeys {
    fn verify<'a>(
        &'a self,
        _scheme: &'static str,
        credential: &'a Credential,
    ) -> Pin<Box<dyn Future<Output = Result<Principal, Refusal>> + Send + 'a>> {
        let verdict = match credential {
            Credential::ApiKey(key) => match self.subject_of(key) {
                Some(subject) => Ok(Principal::new(subject)),
                None => Err(Refusal::invalid("the API key is not known")),
            },
            _ => Err(Refusal::invalid("an API key is expected")),
        };
        Box::pin(std::future::ready(verdict))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_known_by_their_digest_only() {
        let one: [u8; 32] = Sha256::digest(b"key-one").into();
        let hex: String = one.iter().map(|b| format!("{b:02x}")).collect();
        let keys = ApiKeys::parse(&format!("ci-bot:{hex}, other:{}", "0".repeat(64))).unwrap();
        assert_eq!(keys.subject_of("key-one"), Some("ci-bot"));
        assert_eq!(keys.subject_of("key-two"), None);
        assert_eq!(keys.subject_of(""), None);
        assert!(ApiKeys::parse("no-digest").is_err());
        assert!(ApiKeys::parse("a:123").is_err());
        let error = ApiKeys::parse("averyverylongsecretwithoutacolon").unwrap_err();
        assert!(!error.contains("longsecret"), "{error}");
    }
}
