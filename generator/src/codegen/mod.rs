//! IR → Rust tokens → formatted files.
//!
//! The generated module tree:
//!
//! - `mod.rs`: declares the modules and re-exports `Api` and `router`;
//! - `types.rs`: component schemas;
//! - `operations/<op>.rs`: each operation's `Request`, `Response` and inline types;
//! - `server.rs`: the `Api` trait (one method per operation), `OperationId` and the axum router;
//! - `client.rs`: the typed `Client`, one method per operation;
//! - `policies.rs`: the operations table, the security schemes and the settings, as data.

mod client;
mod docs;
mod operations;
pub(crate) mod server;
mod types;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ir::{Api, Module, TypeRef};

/// One generated file: its path relative to the output directory and its tokens.
pub(crate) struct FileTokens {
    pub path: String,
    pub doc: String,
    pub tokens: TokenStream,
    /// The file's code as written, when it needs no formatting of its tokens (`tokens` is
    /// then empty); `Err` says what could not be written.
    pub text: Option<Result<String, String>>,
}

/// Lints allowed on generated modules, each because spec text or spec shape decides it:
/// doc text is the spec's markdown, variant names and sizes follow the spec's schemas, and a
/// service uses only part of its API surface (a handler need not build every response, a
/// binary need not name every re-export); constructors take as many arguments as an operation
/// has required values; deprecated operations are still served.
const ALLOWED_LINTS: &[&str] = &[
    "dead_code",
    "clippy::doc_lazy_continuation",
    "clippy::doc_overindented_list_items",
    "clippy::too_long_first_doc_paragraph",
    "clippy::large_enum_variant",
    "clippy::enum_variant_names",
    "clippy::module_inception",
    "clippy::type_complexity",
    "clippy::too_many_lines",
    "clippy::struct_field_names",
    "clippy::new_without_default",
    "clippy::too_many_arguments",
    "deprecated",
    "unused_imports",
];

fn lints() -> Vec<TokenStream> {
    ALLOWED_LINTS
        .iter()
        .map(|lint| lint.parse().unwrap_or_default())
        .collect()
}

/// The allowed lints on one inline module.
fn allow_attrs() -> TokenStream {
    let lints = lints();
    quote! { #[allow(#(#lints),*)] }
}

/// Every file of the generated module, as tokens.
pub(crate) fn files(api: &Api) -> Vec<FileTokens> {
    let mut files = Vec::new();
    let lints = lints();
    let title = &api.title;
    let version = &api.version;
    let root_doc = format!("{title} {version}").trim().to_owned();
    let (client_mod, client_use) = if api.settings.client {
        (
            quote! { pub mod client; },
            quote! { pub use client::Client; },
        )
    } else {
        (quote! {}, quote! {})
    };
    let root = if api.settings.client_only {
        quote! {
            #![allow(#(#lints),*)]

            pub mod client;
            pub mod operations;
            pub mod types;

            pub use client::Client;
        }
    } else {
        quote! {
            #![allow(#(#lints),*)]

            #client_mod
            pub mod openapi;
            pub mod operations;
            pub mod policies;
            pub mod server;
            pub mod types;

            #client_use
            pub use policies::{services, settings};
            pub use server::{router, router_with, Api, OperationId};
        }
    };
    files.push(FileTokens {
        path: "mod.rs".to_owned(),
        text: None,
        doc: root_doc,
        tokens: root,
    });
    files.push(FileTokens {
        path: "types.rs".to_owned(),
        text: None,
        doc: "Types of the API's schemas.".to_owned(),
        tokens: types::module(api, Module::Types),
    });
    let op_modules: Vec<_> = api
        .operations
        .iter()
        .map(|op| format_ident!("{}", op.name))
        .collect();
    files.push(FileTokens {
        path: "operations/mod.rs".to_owned(),
        text: None,
        doc: "One module per operation: its request, its responses and its inline types."
            .to_owned(),
        tokens: quote! { #( pub mod #op_modules; )* },
    });
    for (index, op) in api.operations.iter().enumerate() {
        files.push(FileTokens {
            path: format!("operations/{}.rs", op.name),
            text: None,
            doc: format!("`{} {}`", op.method.as_str().to_uppercase(), op.path),
            tokens: operation_module(api, index),
        });
    }
    if api.settings.client_only {
        files.push(FileTokens {
            path: "client.rs".to_owned(),
            text: None,
            doc: "A typed client of the API, over HTTP.".to_owned(),
            tokens: client::module(api),
        });
        return files;
    }
    // Always there: request bodies and parameters are checked against its schemas.
    files.push(FileTokens {
        path: "openapi.rs".to_owned(),
        doc: "The document the service serves at its `openapi` path.".to_owned(),
        tokens: TokenStream::new(),
        // Megabytes of one literal: written as is, not parsed and formatted again.
        text: Some(server::document_text(api)),
    });
    files.push(FileTokens {
        path: "policies.rs".to_owned(),
        text: None,
        doc: "What the spec says of how the API is served: each operation's route and \
              policies, the security schemes, and the service-wide settings (`x-specjet`)."
            .to_owned(),
        tokens: server::policies_module(api),
    });
    if api.settings.client {
        files.push(FileTokens {
            path: "client.rs".to_owned(),
            text: None,
            doc: "A typed client of the API, over HTTP or through the router in process."
                .to_owned(),
            tokens: client::module(api),
        });
    }
    files.push(FileTokens {
        path: "server.rs".to_owned(),
        text: None,
        doc: "The `Api` trait to implement and the router that serves it.".to_owned(),
        tokens: server::module(api),
    });
    files
}

/// One operation's module: its request and responses, and their client side when the API has
/// a client.
fn operation_module(api: &Api, index: usize) -> TokenStream {
    let op = &api.operations[index];
    // A client alone has no use for an operation it cannot call; its types stay, for the
    // others that may refer to them.
    if api.settings.client_only && !client::supported(api, op) {
        return types::module(api, Module::Operation(index));
    }
    let mut tokens = operations::module(api, index);
    let scope = Scope::Module(Module::Operation(index));
    tokens.extend(client::operation(api, op, scope));
    tokens
}

/// All modules inline in one token stream (for `include!` and build scripts).
pub(crate) fn inline(api: &Api) -> TokenStream {
    let allow = allow_attrs();
    let types = types::module(api, Module::Types);
    let server = server::module(api);
    let policies = server::policies_module(api);
    let client = api.settings.client.then(|| {
        let client = client::module(api);
        quote! {
            #allow
            pub mod client { #client }
            #allow
            pub use client::Client;
        }
    });
    let ops = api.operations.iter().enumerate().map(|(index, op)| {
        let name = format_ident!("{}", op.name);
        let body = operation_module(api, index);
        quote! { pub mod #name { #body } }
    });
    let document = server::document_module(api);
    let openapi = quote! {
        #allow
        pub mod openapi { #document }
    };
    quote! {
        #openapi
        #allow
        pub mod operations { #(#ops)* }
        #client
        #allow
        pub mod policies { #policies }
        #allow
        pub mod server { #server }
        #allow
        pub mod types { #types }
        #allow
        pub use policies::{services, settings};
        #allow
        pub use server::{router, router_with, Api, OperationId};
    }
}

/// Where generated code refers to a type from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Module(Module),
    Server,
}

/// The Rust type for `ty` as written in `scope`. Every std and library type is a full path,
/// so a schema named `Option`, `String` or `Result` cannot change what the code means.
pub(crate) fn rust_type(api: &Api, ty: &TypeRef, scope: Scope) -> TokenStream {
    match ty {
        TypeRef::Bool => quote! { bool },
        TypeRef::I32 => quote! { i32 },
        TypeRef::I64 => quote! { i64 },
        TypeRef::U32 => quote! { u32 },
        TypeRef::U64 => quote! { u64 },
        TypeRef::F32 => quote! { f32 },
        TypeRef::F64 => quote! { f64 },
        TypeRef::String => quote! { ::std::string::String },
        TypeRef::Bytes => quote! { ::specjet::bytes::Bytes },
        TypeRef::Value => quote! { ::specjet::serde_json::Value },
        TypeRef::Vec(inner) => {
            let inner = rust_type(api, inner, scope);
            quote! { ::std::vec::Vec<#inner> }
        }
        TypeRef::Map(inner) => {
            let inner = rust_type(api, inner, scope);
            quote! { ::std::collections::BTreeMap<::std::string::String, #inner> }
        }
        TypeRef::Option(inner) => {
            let inner = rust_type(api, inner, scope);
            quote! { ::std::option::Option<#inner> }
        }
        TypeRef::Box(inner) => {
            let inner = rust_type(api, inner, scope);
            quote! { ::std::boxed::Box<#inner> }
        }
        TypeRef::Named(id) => {
            let def = &api.types[*id];
            let name = format_ident!("{}", def.name);
            match (scope, def.module) {
                (Scope::Module(from), to) if from == to => quote! { #name },
                (Scope::Module(Module::Types), Module::Operation(op)) => {
                    let op = format_ident!("{}", api.operations[op].name);
                    quote! { super::operations::#op::#name }
                }
                (Scope::Module(Module::Operation(_)), Module::Types) => {
                    quote! { super::super::types::#name }
                }
                (Scope::Module(Module::Operation(_)), Module::Operation(op)) => {
                    let op = format_ident!("{}", api.operations[op].name);
                    quote! { super::#op::#name }
                }
                (Scope::Server, Module::Types) => quote! { super::types::#name },
                (Scope::Server, Module::Operation(op)) => {
                    let op = format_ident!("{}", api.operations[op].name);
                    quote! { super::operations::#op::#name }
                }
                (Scope::Module(Module::Types), Module::Types) => quote! { #name },
            }
        }
    }
}

pub(crate) use docs::{doc_attrs, join as join_docs};
