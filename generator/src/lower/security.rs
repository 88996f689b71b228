//! The spec's security: `components.securitySchemes` (Swagger 2.0's `securityDefinitions`,
//! upgraded by the loader) as the schemes a service verifies, and each operation's `security`
//! (or the root's) as alternatives of schemes with scopes.
//!
//! Real documents hold flaws: a scheme of an unknown `type` is left out with a warning (a
//! requirement naming it can never be met), and so is a requirement naming a scheme the
//! document does not declare. Neither makes an operation open: an alternative that can never
//! be met still counts, so an operation whose every alternative is unmet answers 401.

use serde_json::Value;

use super::Lowering;
use crate::ir::{KeyLocation, SchemeKind, SecurityRequirement, SecurityScheme};
use crate::load::Location;

impl Lowering<'_> {
    /// The schemes of `components.securitySchemes`, each with the name of its verifier
    /// method (claimed before any operation's, so an operation named like one gets another).
    pub(super) fn security_schemes(&mut self) -> Vec<SecurityScheme> {
        let location = Location {
            doc: 0,
            pointer: "/components/securitySchemes".to_owned(),
        };
        let names: Vec<String> = match self.spec.get(&location) {
            Some(Value::Object(schemes)) => schemes.keys().cloned().collect(),
            Some(_) => {
                self.warn(
                    &location,
                    "`securitySchemes` is not an object; it is ignored",
                );
                return Vec::new();
            }
            None => return Vec::new(),
        };
        let mut schemes = Vec::new();
        for name in names {
            let at = location.child(&name);
            let Some((at, scheme)) = self.deref(&at) else {
                continue;
            };
            let Some(kind) = self.scheme_kind(&at, &scheme) else {
                continue;
            };
            let method = self
                .operation_names
                .claim(&format!("verify_{}", crate::naming::field_name(&name)));
            let description = scheme
                .get("description")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|text| !text.is_empty())
                .map(str::to_owned);
            schemes.push(SecurityScheme {
                name,
                method,
                kind,
                description,
                builtin: false,
            });
        }
        schemes
    }

    fn scheme_kind(&mut self, at: &Location, scheme: &Value) -> Option<SchemeKind> {
        let text = |key: &str| scheme.get(key).and_then(Value::as_str).map(str::trim);
        let kind = match text("type") {
            Some("http") => match text("scheme").map(str::to_ascii_lowercase).as_deref() {
                Some("bearer") => SchemeKind::Bearer {
                    source: "HTTP bearer",
                },
                Some("basic") => SchemeKind::Basic,
                Some(other)
                    if !other.is_empty()
                        && other
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
                {
                    SchemeKind::OtherHttp {
                        scheme: text("scheme").unwrap_or(other).to_owned(),
                    }
                }
                _ => {
                    self.warn(
                        &at.child("scheme"),
                        "an `http` scheme names its scheme (`bearer`, `basic`, ...); this one is left out, and no request can meet a requirement that names it",
                    );
                    return None;
                }
            },
            Some("apiKey") => {
                let location = match text("in") {
                    Some("header") => KeyLocation::Header,
                    Some("query") => KeyLocation::Query,
                    Some("cookie") => KeyLocation::Cookie,
                    _ => {
                        self.warn(
                            &at.child("in"),
                            "an `apiKey` scheme is `in` a header, the query or a cookie; this one is left out",
                        );
                        return None;
                    }
                };
                let name = match text("name") {
                    Some(name) if !name.is_empty() => name,
                    _ => {
                        self.warn(
                            &at.child("name"),
                            "an `apiKey` scheme names its header, parameter or cookie; this one is left out",
                        );
                        return None;
                    }
                };
                if location == KeyLocation::Header && !super::annotations::is_header_name(name) {
                    self.warn(
                        &at.child("name"),
                        format!("`{name}` is not a header name; this scheme is left out"),
                    );
                    return None;
                }
                SchemeKind::ApiKey {
                    location,
                    name: if location == KeyLocation::Header {
                        name.to_ascii_lowercase()
                    } else {
                        name.to_owned()
                    },
                }
            }
            Some("oauth2") => SchemeKind::Bearer {
                source: "OAuth 2.0",
            },
            Some("openIdConnect") => SchemeKind::Bearer {
                source: "OpenID Connect",
            },
            Some("mutualTLS") => SchemeKind::MutualTls,
            other => {
                self.warn(
                    &at.child("type"),
                    format!(
                        "`{}` is not a type of security scheme (http, apiKey, oauth2, openIdConnect, mutualTLS); it is left out",
                        other.unwrap_or("")
                    ),
                );
                return None;
            }
        };
        Some(kind)
    }

    /// Marks the schemes `x-specjet.security` gives a built-in verifier, and reports one it
    /// names that is not a scheme of the spec, or whose verifier does not fit its credential.
    pub(super) fn check_builtin_verifiers(&mut self, settings: &crate::ir::ServiceSettings) {
        for crate::ir::SchemeSettings {
            scheme: name,
            builtin: verifier,
        } in &settings.security.schemes
        {
            let at = Location {
                doc: 0,
                pointer: format!("/x-specjet/security/{}", crate::pointer::escape(name)),
            };
            let Some(index) = self
                .security_schemes
                .iter()
                .position(|scheme| &scheme.name == name)
            else {
                let known: Vec<&str> = self
                    .security_schemes
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect();
                self.error(
                    &at,
                    format!(
                        "`{name}` is not a scheme of `components.securitySchemes` (they are: {})",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
                continue;
            };
            let kind = self.security_schemes[index].kind.clone();
            let fits = matches!(
                (verifier, &kind),
                (crate::ir::BuiltIn::Jwt(_), SchemeKind::Bearer { .. })
                    | (
                        crate::ir::BuiltIn::ApiKeys { .. },
                        SchemeKind::ApiKey { .. }
                    )
                    | (crate::ir::BuiltIn::Certificate, SchemeKind::MutualTls)
            );
            if fits {
                self.security_schemes[index].builtin = true;
            } else {
                self.error(
                    &at,
                    format!(
                        "`{name}` takes {}: `jwt` verifies bearer tokens (http bearer, oauth2, openIdConnect), `api-keys` API keys, `certificate` mutualTLS",
                        match &kind {
                            SchemeKind::Bearer { source } => source,
                            SchemeKind::Basic => "a user name and password (HTTP basic), which only a verifier of the handlers' checks",
                            SchemeKind::OtherHttp { .. } => "another HTTP credential, which only a verifier of the handlers' checks",
                            SchemeKind::ApiKey { .. } => "API keys",
                            SchemeKind::MutualTls => "client certificates",
                        }
                    ),
                );
            }
        }
    }

    /// The alternatives of an operation's `security`, or of the root's when it has none.
    pub(super) fn security_of(
        &mut self,
        schemes: &[SecurityScheme],
        operation: (&Location, &Value),
    ) -> Vec<SecurityRequirement> {
        let (location, operation) = operation;
        let (at, requirements) = match operation.get("security") {
            Some(requirements) => (location.child("security"), requirements.clone()),
            None => match self.spec.root().get("security") {
                Some(requirements) => (
                    Location {
                        doc: 0,
                        pointer: "/security".to_owned(),
                    },
                    requirements.clone(),
                ),
                None => return Vec::new(),
            },
        };
        let Value::Array(alternatives) = requirements else {
            if !requirements.is_null() {
                self.warn(
                    &at,
                    "`security` is a list of requirement objects; it is ignored",
                );
            }
            return Vec::new();
        };
        let mut resolved = Vec::with_capacity(alternatives.len());
        for (index, alternative) in alternatives.iter().enumerate() {
            let here = at.child(&index.to_string());
            let Value::Object(uses) = alternative else {
                self.warn(
                    &here,
                    "a security requirement is an object of scheme names; this one can never be met",
                );
                resolved.push(vec![(None, Vec::new())]);
                continue;
            };
            let mut requirement: SecurityRequirement = Vec::with_capacity(uses.len());
            for (name, scopes) in uses {
                let scheme = schemes.iter().position(|scheme| &scheme.name == name);
                if scheme.is_none() {
                    self.warn(
                        &here.child(name),
                        format!(
                            "`{name}` is not a scheme of `components.securitySchemes`: no request can meet this requirement"
                        ),
                    );
                }
                let scopes = match scopes {
                    Value::Array(scopes) => scopes
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                    _ => Vec::new(),
                };
                requirement.push((scheme, scopes));
            }
            resolved.push(requirement);
        }
        // `[{}]`: anyone may call, as without `security`.
        if resolved.iter().all(Vec::is_empty) {
            resolved.clear();
        }
        resolved
    }
}

/// Whether alternatives require credentials: there are some, and none is empty.
pub(super) fn requires_credentials(alternatives: &[SecurityRequirement]) -> bool {
    !alternatives.is_empty()
        && alternatives
            .iter()
            .all(|alternative| !alternative.is_empty())
}
