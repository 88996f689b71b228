//! `x-specjet.security`: a built-in verifier per scheme of the spec (`jwt`, `api-keys`,
//! `certificate`), the limit on failed verifications per client address (`failures`), the
//! header a trusted proxy forwards client certificates in, and how many verified tokens are
//! remembered. The scheme names are checked against `securitySchemes` once those are read.

use std::time::Duration;

use serde_json::Value;

use super::limits::parse_rate;
use super::{is_header_name, parse_duration, positive_duration, Annotations};
use crate::diag::Severity;
use crate::ir::{BuiltIn, JwtSettings, KeySource, SchemeSettings, SecuritySettings};
use crate::load::Location;

/// The algorithms the built-in JWT verifier knows.
const ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

impl Annotations<'_> {
    pub(super) fn security_settings(
        &mut self,
        location: &Location,
        value: &Value,
    ) -> SecuritySettings {
        let mut settings = SecuritySettings::default();
        for (key, value) in self.entries(
            location,
            value,
            "`security` is an object: a verifier per scheme name, and `failures`",
        ) {
            let at = location.child(key);
            let result = match key.as_str() {
                "failures" => match value {
                    Value::Number(n) if n.as_u64() == Some(0) => {
                        settings.failures = 0;
                        Ok(())
                    }
                    Value::String(text) => parse_rate(text).map(|rate| {
                        settings.failures = rate.limit;
                        settings.failures_per = rate.period;
                    }),
                    _ => {
                        Err("`failures` is a rate such as `20/min` (or 0 for no limit)".to_owned())
                    }
                },
                "certificate-header" => match value.as_str() {
                    Some(name) if is_header_name(name) => {
                        settings.certificate_header = name.to_ascii_lowercase();
                        Ok(())
                    }
                    _ => Err("`certificate-header` is a header name".to_owned()),
                },
                "verified-tokens" => value
                    .as_u64()
                    .map(|n| settings.verified_tokens = n)
                    .ok_or_else(|| "`verified-tokens` is a number of tokens".to_owned()),
                scheme => self.builtin_verifier(&at, value).map(|builtin| {
                    settings.schemes.push(SchemeSettings {
                        scheme: scheme.to_owned(),
                        builtin,
                    })
                }),
            };
            if let Err(message) = result {
                self.report(Severity::Error, &at, message);
            }
        }
        settings
    }

    /// `{jwt: {...}}`, `{api-keys: {env: NAME}}` or `{certificate: {}}`.
    fn builtin_verifier(&mut self, at: &Location, value: &Value) -> Result<BuiltIn, String> {
        let expected = "a scheme's verifier is `{jwt: {...}}`, `{api-keys: {env: NAME}}` or `{certificate: {}}`";
        let Value::Object(map) = value else {
            return Err(expected.to_owned());
        };
        let mut entries = map.iter();
        let (Some((kind, settings)), None) = (entries.next(), entries.next()) else {
            return Err(expected.to_owned());
        };
        let at = at.child(kind);
        match kind.as_str() {
            "jwt" => self.jwt_settings(&at, settings).map(BuiltIn::Jwt),
            "api-keys" => match settings.get("env").and_then(Value::as_str) {
                Some(env) if is_env_name(env) => Ok(BuiltIn::ApiKeys {
                    env: env.to_owned(),
                }),
                _ => Err("`api-keys` names the environment variable that lists `subject:sha256` pairs: `{env: API_KEYS}`".to_owned()),
            },
            "certificate" => Ok(BuiltIn::Certificate),
            _ => Err(expected.to_owned()),
        }
    }

    fn jwt_settings(&mut self, at: &Location, value: &Value) -> Result<JwtSettings, String> {
        let Value::Object(map) = value else {
            return Err("`jwt` is an object: `algorithms` and one key source".to_owned());
        };
        let mut algorithms = Vec::new();
        let mut keys = None;
        // Filled in below; the defaults of what the spec leaves out are the model's.
        let mut jwt = JwtSettings::new(&[], KeySource::SecretEnv(String::new()));
        for (key, value) in map {
            let here = at.child(key);
            let text = || -> Result<String, String> {
                value
                    .as_str()
                    .map(str::trim)
                    .filter(|text| !text.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| format!("`{key}` is a string"))
            };
            let env = || -> Result<String, String> {
                let name = text()?;
                if is_env_name(&name) {
                    Ok(name)
                } else {
                    Err(format!(
                        "`{key}` names an environment variable (letters, digits, `_`)"
                    ))
                }
            };
            let result = match key.as_str() {
                "algorithms" => strings(value).and_then(|list| {
                    if let Some(unknown) = list.iter().find(|a| !ALGORITHMS.contains(&a.as_str())) {
                        return Err(format!(
                            "`{unknown}` is not one of {}",
                            ALGORITHMS.join(", ")
                        ));
                    }
                    algorithms = list;
                    Ok(())
                }),
                "secret-env" => env().map(|name| keys = Some(KeySource::SecretEnv(name))),
                "public-key-env" => env().map(|name| keys = Some(KeySource::PublicKeyEnv(name))),
                "jwks-url-env" => env().map(|name| keys = Some(KeySource::JwksUrlEnv(name))),
                "public-key-file" => text().map(|file| keys = Some(KeySource::PublicKeyFile(file))),
                "jwks-file" => text().map(|file| keys = Some(KeySource::JwksFile(file))),
                "jwks-url" => text().and_then(|url| {
                    if url.starts_with("https://") || url.starts_with("http://") {
                        keys = Some(KeySource::JwksUrl(url));
                        Ok(())
                    } else {
                        Err("`jwks-url` is an http(s) URL".to_owned())
                    }
                }),
                "issuer" => strings(value).map(|list| jwt.issuer = list),
                "audience" => strings(value).map(|list| jwt.audience = list),
                "required-claims" => strings(value).map(|list| jwt.required_claims = list),
                "leeway" => parse_duration(value).map(|ms| jwt.leeway = Duration::from_millis(ms)),
                "refresh" => {
                    positive_duration(value).map(|ms| jwt.refresh = Duration::from_millis(ms))
                }
                other => Err(format!("unknown key `{other}` in `jwt`")),
            };
            if let Err(message) = result {
                self.report(Severity::Error, &here, message);
            }
        }
        if algorithms.is_empty() {
            return Err("`jwt` lists its `algorithms` (`[RS256]`, `[HS256]`, ...): a token signed otherwise is refused".to_owned());
        }
        let Some(keys) = keys else {
            return Err("`jwt` has one key source: `secret-env`, `public-key-env`, `public-key-file`, `jwks-file`, `jwks-url` or `jwks-url-env`".to_owned());
        };
        let hmac = algorithms.iter().any(|a| a.starts_with("HS"));
        let public = algorithms.iter().any(|a| !a.starts_with("HS"));
        match (&keys, hmac, public) {
            (KeySource::SecretEnv(_), _, true) => {
                return Err("an HMAC secret (`secret-env`) verifies only HS algorithms: a public-key algorithm needs a public key".to_owned())
            }
            (KeySource::SecretEnv(_), _, _) => {}
            (_, true, _) => {
                return Err("HS algorithms need an HMAC secret (`secret-env`): a token signed with the public key must never verify".to_owned())
            }
            _ => {}
        }
        jwt.algorithms = algorithms;
        jwt.keys = keys;
        Ok(jwt)
    }
}

/// A string or a list of strings.
fn strings(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::String(text) => Ok(vec![text.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "expected a list of strings".to_owned())
            })
            .collect(),
        _ => Err("expected a string or a list of strings".to_owned()),
    }
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
