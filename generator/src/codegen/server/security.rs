//! The spec's security in `server.rs`: a verifier method of the `Api` trait per scheme (a
//! default body that calls the built-in verifier `x-specjet.security` configures, else none,
//! so the compiler names each scheme still without a verifier) and the `verifiers` hook the
//! router passes to the runtime; in `policies.rs`, the `SCHEMES` table, each operation's
//! requirements in its table entry, and `settings.security` / `settings.server`.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::super::{doc_attrs, join_docs};
use super::duration;
use std::time::Duration;

use crate::ir::{
    Api, BuiltIn, JwtSettings, KeyLocation, KeySource, Operation, SchemeKind, SecurityScheme,
    SecuritySettings, ServerSettings,
};

/// The trait methods that verify each scheme's credentials.
pub(super) fn verifier_methods(api: &Api) -> Vec<TokenStream> {
    api.security_schemes.iter().map(verifier_method).collect()
}

fn verifier_method(scheme: &SecurityScheme) -> TokenStream {
    let name = format_ident!("{}", scheme.method);
    let what = match &scheme.kind {
        SchemeKind::Bearer { source } => format!("{source}: a bearer token"),
        SchemeKind::Basic => "HTTP basic: a user name and password".to_owned(),
        SchemeKind::OtherHttp { scheme } => format!("HTTP `{scheme}`: the `Authorization` value"),
        SchemeKind::ApiKey { location, name } => format!(
            "an API key in the {} `{name}`",
            match location {
                KeyLocation::Header => "header",
                KeyLocation::Query => "query parameter",
                KeyLocation::Cookie => "cookie",
            }
        ),
        SchemeKind::MutualTls => {
            "mutual TLS: a client certificate forwarded by a trusted proxy".to_owned()
        }
    };
    let heading = format!(
        "Verifies a credential of the scheme `{}` ({what}), for an operation that requires it: \
         the caller as a `Principal`, or why the credential is refused (401; a principal \
         without the operation's scopes is answered 403 after this).",
        scheme.name
    );
    let docs = doc_attrs(join_docs(&[Some(&heading), scheme.description.as_deref()]).as_deref());
    let signature = quote! {
        fn #name(
            &self,
            verify: ::specjet::security::Verify,
        ) -> impl ::std::future::Future<
            Output = ::std::result::Result<
                ::specjet::security::Principal,
                ::specjet::security::Refusal,
            >,
        > + Send
    };
    if scheme.builtin {
        let note = " By default, the built-in verifier `x-specjet.security` configures.";
        quote! {
            #docs
            ///
            #[doc = #note]
            #signature {
                verify.builtin()
            }
        }
    } else {
        quote! {
            #docs
            #signature;
        }
    }
}

/// The schemes' table (`policies.rs`), when the spec has schemes.
pub(super) fn schemes(api: &Api) -> TokenStream {
    if api.security_schemes.is_empty() {
        return TokenStream::new();
    }
    let jwt = api
        .settings
        .security
        .schemes
        .iter()
        .any(|scheme| matches!(scheme.builtin, BuiltIn::Jwt(_)))
        .then(|| quote! { ::specjet::__requires_jwt!(); });
    let count = Literal::usize_unsuffixed(api.security_schemes.len());
    let schemes = api.security_schemes.iter().map(|scheme| {
        let name = &scheme.name;
        let kind = scheme_kind(&scheme.kind);
        quote! { ::specjet::security::Scheme { name: #name, kind: #kind } }
    });
    quote! {
        #jwt

        /// The spec's `components.securitySchemes`; operations name them by index.
        pub(super) static SCHEMES: [::specjet::security::Scheme; #count] = [#(#schemes),*];
    }
}

/// The hook (`server.rs`) that hands a credential to its scheme's method of the `Api`
/// trait, when the spec has schemes.
pub(super) fn verifiers(api: &Api) -> TokenStream {
    if api.security_schemes.is_empty() {
        return TokenStream::new();
    }
    let arms = api
        .security_schemes
        .iter()
        .enumerate()
        .map(|(index, scheme)| {
            let index = Literal::usize_unsuffixed(index);
            let method = format_ident!("{}", scheme.method);
            quote! { #index => api.#method(verify).await, }
        });
    quote! {
        /// The verifiers of `api`: each scheme's method of the `Api` trait.
        fn verifiers<A: Api>(api: ::std::sync::Arc<A>) -> ::specjet::security::Security {
            ::specjet::security::Security::with_api(&super::policies::SCHEMES, api, |api, scheme, verify| async move {
                match scheme {
                    #(#arms)*
                    _ => verify.builtin().await,
                }
            })
        }
    }
}

fn scheme_kind(kind: &SchemeKind) -> TokenStream {
    match kind {
        SchemeKind::Bearer { .. } => quote! { ::specjet::security::SchemeKind::Bearer },
        SchemeKind::Basic => quote! { ::specjet::security::SchemeKind::Basic },
        SchemeKind::OtherHttp { scheme } => {
            quote! { ::specjet::security::SchemeKind::OtherHttp { scheme: #scheme } }
        }
        SchemeKind::ApiKey { location, name } => {
            let location = match location {
                KeyLocation::Header => quote! { Header },
                KeyLocation::Query => quote! { Query },
                KeyLocation::Cookie => quote! { Cookie },
            };
            quote! {
                ::specjet::security::SchemeKind::ApiKey {
                    location: ::specjet::security::KeyIn::#location,
                    name: #name,
                }
            }
        }
        SchemeKind::MutualTls => quote! { ::specjet::security::SchemeKind::MutualTls },
    }
}

/// `.with_security(..)` of an operation's table entry, when it has requirements.
pub(super) fn requirements(op: &Operation) -> Option<TokenStream> {
    if op.security.is_empty() {
        return None;
    }
    let alternatives = op.security.iter().map(|alternative| {
        let uses = alternative.iter().map(|(scheme, scopes)| {
            // A scheme the spec does not declare: no request meets it.
            let scheme = match scheme {
                Some(index) => Literal::usize_unsuffixed(*index),
                None => Literal::usize_unsuffixed(usize::MAX),
            };
            if scopes.is_empty() {
                quote! { ::specjet::security::SchemeUse::new(#scheme) }
            } else {
                quote! { ::specjet::security::SchemeUse::new(#scheme).with_scopes(&[#(#scopes),*]) }
            }
        });
        quote! { &[#(#uses),*] }
    });
    Some(quote! { .with_security(&[#(#alternatives),*]) })
}

/// The statements of `settings()` for `x-specjet.security` and `x-specjet.server`: each value
/// that differs from the model's default (`specjet_model`, the runtime's own).
pub(super) fn settings(api: &Api) -> Vec<TokenStream> {
    let mut changes = Vec::new();
    let server = &api.settings.server;
    let defaults = ServerSettings::default();
    let mut time = |value: Duration, default: Duration, field: TokenStream| {
        if value != default {
            let value = duration(value);
            changes.push(quote! { settings.server.#field = #value; });
        }
    };
    time(
        server.header_read_timeout,
        defaults.header_read_timeout,
        quote! { header_read_timeout },
    );
    time(
        server.idle_timeout,
        defaults.idle_timeout,
        quote! { idle_timeout },
    );
    time(
        server.body_timeout,
        defaults.body_timeout,
        quote! { body_timeout },
    );
    time(
        server.shutdown_delay,
        defaults.shutdown_delay,
        quote! { shutdown_delay },
    );
    time(
        server.shutdown_timeout,
        defaults.shutdown_timeout,
        quote! { shutdown_timeout },
    );
    if server.max_upload_size != defaults.max_upload_size {
        let max = Literal::usize_unsuffixed(server.max_upload_size);
        changes.push(quote! { settings.server.max_upload_size = #max; });
    }
    if let Some(max) = server
        .max_connections
        .filter(|_| server.max_connections != defaults.max_connections)
    {
        let max = Literal::usize_unsuffixed(max);
        changes
            .push(quote! { settings.server.max_connections = ::std::option::Option::Some(#max); });
    }
    let security = &api.settings.security;
    let defaults = SecuritySettings::default();
    if (security.failures, security.failures_per) != (defaults.failures, defaults.failures_per) {
        let count = Literal::u32_unsuffixed(security.failures);
        let per = duration(security.failures_per);
        changes.push(quote! {
            settings.security.failures = #count;
            settings.security.failures_per = #per;
        });
    }
    if security.certificate_header != defaults.certificate_header {
        let header = &security.certificate_header;
        changes.push(
            quote! { settings.security.certificate_header = ::std::string::String::from(#header); },
        );
    }
    if security.verified_tokens != defaults.verified_tokens {
        let tokens = Literal::u64_unsuffixed(security.verified_tokens);
        changes.push(quote! { settings.security.verified_tokens = #tokens; });
    }
    let schemes: Vec<TokenStream> = security
        .schemes
        .iter()
        .map(|scheme| {
            let name = &scheme.scheme;
            let builtin = builtin(&scheme.builtin);
            quote! {
                ::specjet::security::SchemeSettings {
                    scheme: ::std::string::String::from(#name),
                    builtin: #builtin,
                }
            }
        })
        .collect();
    if !schemes.is_empty() {
        changes
            .push(quote! { settings.security.schemes = ::std::vec::Vec::from([#(#schemes),*]); });
    }
    changes
}

fn builtin(verifier: &BuiltIn) -> TokenStream {
    let string = |text: &str| quote! { ::std::string::String::from(#text) };
    let strings = |list: &[String]| {
        let list = list.iter().map(|text| string(text));
        quote! { ::std::vec::Vec::from([#(#list),*]) }
    };
    match verifier {
        BuiltIn::ApiKeys { env } => {
            let env = string(env);
            quote! { ::specjet::security::BuiltIn::ApiKeys { env: #env } }
        }
        BuiltIn::Certificate => quote! { ::specjet::security::BuiltIn::Certificate },
        BuiltIn::Jwt(jwt) => {
            let algorithms = jwt.algorithms.iter().map(String::as_str);
            let (variant, value) = match &jwt.keys {
                KeySource::SecretEnv(name) => (quote! { SecretEnv }, name),
                KeySource::PublicKeyFile(file) => (quote! { PublicKeyFile }, file),
                KeySource::PublicKeyEnv(name) => (quote! { PublicKeyEnv }, name),
                KeySource::JwksFile(file) => (quote! { JwksFile }, file),
                KeySource::JwksUrl(url) => (quote! { JwksUrl }, url),
                KeySource::JwksUrlEnv(name) => (quote! { JwksUrlEnv }, name),
            };
            let value = string(value);
            // What the spec left out is `JwtSettings::new`'s, in the runtime as here.
            let defaults = JwtSettings::new(&[], jwt.keys.clone());
            let mut changes = Vec::new();
            if jwt.issuer != defaults.issuer {
                let issuer = strings(&jwt.issuer);
                changes.push(quote! { jwt.issuer = #issuer; });
            }
            if jwt.audience != defaults.audience {
                let audience = strings(&jwt.audience);
                changes.push(quote! { jwt.audience = #audience; });
            }
            if jwt.required_claims != defaults.required_claims {
                let claims = strings(&jwt.required_claims);
                changes.push(quote! { jwt.required_claims = #claims; });
            }
            if jwt.leeway != defaults.leeway {
                let leeway = duration(jwt.leeway);
                changes.push(quote! { jwt.leeway = #leeway; });
            }
            if jwt.refresh != defaults.refresh {
                let refresh = duration(jwt.refresh);
                changes.push(quote! { jwt.refresh = #refresh; });
            }
            let new = quote! {
                ::specjet::security::JwtSettings::new(
                    &[#(#algorithms),*],
                    ::specjet::security::KeySource::#variant(#value),
                )
            };
            if changes.is_empty() {
                return quote! { ::specjet::security::BuiltIn::Jwt(#new) };
            }
            quote! {
                ::specjet::security::BuiltIn::Jwt({
                    let mut jwt = #new;
                    #(#changes)*
                    jwt
                })
            }
        }
    }
}
