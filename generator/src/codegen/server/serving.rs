//! How clients reach the service, in `settings()`: the base path, where the document and the
//! interactive docs are served (the document itself is the `openapi` module's constant), and
//! `x-specjet.cors`.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::ir::{Api, DocsSettings};

/// The statements of `settings()` that set what differs from the runtime's defaults.
pub(super) fn settings(api: &Api) -> Vec<TokenStream> {
    let settings = &api.settings;
    let mut changes = Vec::new();
    if !settings.base_path.is_empty() {
        let path = &settings.base_path;
        changes.push(quote! { settings.base_path = ::std::string::String::from(#path); });
    }
    let docs = &settings.docs;
    let defaults = DocsSettings::default();
    if docs.openapi.is_some() {
        changes.push(quote! {
            settings.document = ::std::option::Option::Some(super::openapi::DOCUMENT);
        });
    }
    for (value, default, field) in [
        (&docs.openapi, &defaults.openapi, quote! { openapi }),
        (
            &docs.openapi_yaml,
            &defaults.openapi_yaml,
            quote! { openapi_yaml },
        ),
        (&docs.ui, &defaults.ui, quote! { ui }),
    ] {
        if value != default {
            let value = match value {
                Some(path) => quote! {
                    ::std::option::Option::Some(::std::string::String::from(#path))
                },
                None => quote! { ::std::option::Option::None },
            };
            changes.push(quote! { settings.docs.#field = #value; });
        }
    }
    if let Some(cors) = &settings.cors {
        let strings = |values: &[String]| {
            quote! { [#(#values),*].map(::std::string::String::from).to_vec() }
        };
        let origins = strings(&cors.allow_origins);
        let mut fields = vec![quote! { allow_origins: #origins, }];
        for (values, field) in [
            (&cors.allow_methods, quote! { allow_methods }),
            (&cors.allow_headers, quote! { allow_headers }),
            (&cors.expose_headers, quote! { expose_headers }),
        ] {
            if let Some(values) = values {
                let values = strings(values);
                fields.push(quote! { #field: ::std::option::Option::Some(#values), });
            }
        }
        if let Some(max_age) = cors.max_age {
            let secs = Literal::u64_unsuffixed(max_age.as_secs());
            fields.push(quote! {
                max_age: ::std::option::Option::Some(::std::time::Duration::from_secs(#secs)),
            });
        }
        if cors.allow_credentials {
            fields.push(quote! { allow_credentials: true, });
        }
        changes.push(quote! {
            settings.cors = ::std::option::Option::Some(::specjet::cors::CorsSettings {
                #(#fields)*
                ..::std::default::Default::default()
            });
        });
    }
    changes
}

const DOCUMENT_DOCS: &str = "The document this module was generated from, bundled into one JSON text; the\nservice serves it (its `servers` pointing at the service) and its docs read it.";

/// The `openapi` module: the bundled document the service serves, as written (inline), and
/// the contract requests are checked against.
pub(crate) fn document_module(api: &Api) -> TokenStream {
    let document = crate::source_text::str_tokens(&api.document);
    let docs = super::super::doc_attrs(Some(DOCUMENT_DOCS));
    let contract = contract_item(api);
    quote! {
        #docs
        pub const DOCUMENT: &str = #document;
        #contract
    }
}

/// `CONTRACT`: the document's schemas as the requests' contract (`x-specjet.validation`).
fn contract_item(api: &Api) -> TokenStream {
    let contract = if api.settings.validation.formats {
        quote! { ::specjet::contract::Contract::new(DOCUMENT) }
    } else {
        quote! { ::specjet::contract::Contract::new(DOCUMENT).without_formats() }
    };
    let docs = super::super::doc_attrs(Some(
        "The contract requests are checked against: the document's schemas.",
    ));
    quote! {
        #docs
        pub static CONTRACT: ::specjet::contract::Contract = #contract;
    }
}

/// The `openapi.rs` file's code: what [`document_module`] formats to, written directly.
pub(crate) fn document_text(api: &Api) -> Result<String, String> {
    let mut text = String::with_capacity(api.document.len() + 512);
    for line in DOCUMENT_DOCS.lines() {
        text.push_str("/// ");
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("pub const DOCUMENT: &str = ");
    text.push_str(&crate::source_text::str_expr(&api.document));
    text.push_str(";\n\n");
    // The small item formatted as any other; only the literal above is written as is.
    text.push_str(&crate::formatting::format_tokens(contract_item(api))?);
    Ok(text)
}
