//! One module per operation: `Request` (with its extraction), `Response` (with its
//! `IntoResponse`), media-type enums and the operation's inline types.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::{doc_attrs, join_docs, rust_type, Scope};
use crate::ir::{
    Api, BodyKind, Content, Framing, Module, Operation, Param, ParamLocation, ParamStyle, Piece,
    Response, StatusSpec, TypeRef,
};

pub(super) fn module(api: &Api, index: usize) -> TokenStream {
    let op = &api.operations[index];
    let scope = Scope::Module(Module::Operation(index));
    let types = super::types::module(api, Module::Operation(index));
    let request = request(api, op, scope);
    let response = response(api, op, scope);
    quote! {
        #request
        #response
        #types
    }
}

fn request(api: &Api, op: &Operation, scope: Scope) -> TokenStream {
    let docs = doc_attrs(Some(&format!(
        "The request of `{}` (`{} {}`), read and checked.",
        op.id,
        op.method.as_str().to_uppercase(),
        op.path
    )));
    let mut fields = Vec::new();
    // `Request::new`: required values as arguments, the rest at their defaults.
    let mut arguments = Vec::new();
    let mut initial = Vec::new();
    for param in &op.params {
        let ident = format_ident!("{}", param.field);
        let ty = param_type(api, param, scope);
        if param.required {
            arguments.push(quote! { #ident: #ty });
            initial.push(quote! { #ident });
        } else if let Some(default) = &param.default {
            let value = super::types::default_expr(default, &rust_type(api, &param.ty, scope));
            initial.push(quote! { #ident: #value });
        } else {
            initial.push(quote! { #ident: ::std::option::Option::None });
        }
        let default = param
            .default
            .as_ref()
            .map(|default| format!("`{}` when absent.", default.display()));
        let docs = doc_attrs(
            join_docs(&[
                Some(&format!(
                    "`{}` ({} parameter).",
                    param.wire,
                    param.location.as_str()
                )),
                param.docs.as_deref(),
                default.as_deref(),
            ])
            .as_deref(),
        );
        fields.push(quote! { #docs pub #ident: #ty, });
    }
    let mut body_enum = TokenStream::new();
    if let Some(body) = &op.body {
        let ty = match &body.media_enum {
            Some(name) => {
                let name = format_ident!("{}", name);
                body_enum = media_enum(
                    api,
                    &name,
                    &body.contents,
                    scope,
                    "The request body, by media type.",
                );
                quote! { #name }
            }
            None => match body.contents.first() {
                Some(content) => content_type(api, content, scope),
                None => quote! { ::specjet::bytes::Bytes },
            },
        };
        let ty = if body.required {
            arguments.push(quote! { body: #ty });
            initial.push(quote! { body });
            ty
        } else {
            initial.push(quote! { body: ::std::option::Option::None });
            quote! { ::std::option::Option<#ty> }
        };
        let docs =
            doc_attrs(join_docs(&[Some("The request body."), body.docs.as_deref()]).as_deref());
        fields.push(quote! { #docs pub body: #ty, });
    }
    if let Some(ty) = principal_type(op).filter(|_| !api.settings.client_only) {
        let docs = doc_attrs(Some(if op.secured {
            "The caller, verified by the scheme of the operation's `security` it passed."
        } else {
            "The caller, verified by the scheme of the operation's `security` it passed; \
             `None` when it called anonymously, which the spec allows here."
        }));
        fields.push(quote! { #docs pub principal: #ty, });
        if op.secured {
            arguments.push(quote! { principal: #ty });
            initial.push(quote! { principal });
        } else {
            initial.push(quote! { principal: ::std::option::Option::None });
        }
    }
    if reads_last_event_id(op) {
        let docs = doc_attrs(Some(
            "`Last-Event-ID`: the id of the last event a reconnecting client received, to \
             resume the stream after it.",
        ));
        fields.push(
            quote! { #docs pub last_event_id: ::std::option::Option<::std::string::String>, },
        );
        initial.push(quote! { last_event_id: ::std::option::Option::None });
    }
    if api.settings.client_only {
        let docs = doc_attrs(Some(&format!(
            "The request of `{}` (`{} {}`).",
            op.id,
            op.method.as_str().to_uppercase(),
            op.path
        )));
        return quote! {
            #docs
            #[derive(::std::fmt::Debug)]
            pub struct Request {
                #(#fields)*
            }

            impl Request {
                /// The required values; every optional one at its default. Set the others on
                /// the result.
                pub fn new(#(#arguments),*) -> Self {
                    Self { #(#initial,)* }
                }
            }

            #body_enum
        };
    }
    let extraction = extraction(api, op, scope);
    let method = format_ident!("{}", op.method.as_str().to_uppercase());
    let has_params = !op.path_captures.is_empty();
    quote! {
        #docs
        #[derive(::std::fmt::Debug)]
        pub struct Request {
            #(#fields)*
            /// Method, URI, headers and extensions of the request, for handlers that need more
            /// than the declared parameters.
            pub parts: ::specjet::http::request::Parts,
        }

        impl Request {
            /// A request built in code (a test, a composite operation, a batch): the required
            /// values, every optional one at its default. Set the others on the result; the
            /// HTTP `parts` carry only the method until [`Request::with_parts`] gives real ones.
            pub fn new(#(#arguments),*) -> Self {
                Self {
                    #(#initial,)*
                    parts: ::specjet::__private::synthetic_parts(::specjet::http::Method::#method),
                }
            }

            /// The same request with these HTTP parts (headers, URI, extensions).
            pub fn with_parts(mut self, parts: ::specjet::http::request::Parts) -> Self {
                self.parts = parts;
                self
            }

            #extraction
        }

        /// Reading the request from HTTP, as the router does: a handler of your own can take
        /// it as an axum extractor.
        impl<S: ::std::marker::Send + ::std::marker::Sync> ::specjet::axum::extract::FromRequest<S> for Request {
            type Rejection = ::specjet::Problem;

            fn from_request(
                request: ::specjet::axum::extract::Request,
                _state: &S,
            ) -> impl ::std::future::Future<Output = ::std::result::Result<Self, ::specjet::Problem>> + ::std::marker::Send {
                ::specjet::__private::from_request(request, #has_params, Self::read)
            }
        }

        #body_enum
    }
}

/// Whether a request of `op` carries `Last-Event-ID`: `op` answers server-sent events and
/// does not declare the header itself.
fn reads_last_event_id(op: &Operation) -> bool {
    let events = op.responses.iter().any(|response| {
        response
            .contents
            .iter()
            .any(|content| matches!(content.kind, BodyKind::Events(_)))
    });
    events
        && !op.params.iter().any(|param| {
            param.location == ParamLocation::Header
                && param.wire.eq_ignore_ascii_case("last-event-id")
        })
}

/// The type of the `principal` field of a request of `op`: the verified caller when `op`
/// requires one, optional when it also lets anonymous callers in; none without `security`.
fn principal_type(op: &Operation) -> Option<TokenStream> {
    if op.security.is_empty() {
        None
    } else if op.secured {
        Some(quote! { ::specjet::security::Principal })
    } else {
        Some(quote! { ::std::option::Option<::specjet::security::Principal> })
    }
}

/// The type of a parameter field: the value, a `Vec` for arrays, `Option` when optional.
fn param_type(api: &Api, param: &Param, scope: Scope) -> TokenStream {
    let inner = rust_type(api, &param.ty, scope);
    let value = match param.style {
        ParamStyle::Exploded | ParamStyle::Delimited(_) => quote! { ::std::vec::Vec<#inner> },
        _ => inner,
    };
    if param.required || param.default.is_some() {
        value
    } else {
        quote! { ::std::option::Option<#value> }
    }
}

fn extraction(api: &Api, op: &Operation, scope: Scope) -> TokenStream {
    let uses = |location: ParamLocation| op.params.iter().any(|p| p.location == location);
    let mut setup = Vec::new();
    if uses(ParamLocation::Query) {
        setup.push(
            quote! { let req_query = ::specjet::extract::QueryParams::from_uri(&parts.uri); },
        );
    }
    if uses(ParamLocation::Header) {
        setup.push(quote! { let req_headers = ::specjet::extract::HeaderParams(&parts.headers); });
    }
    if uses(ParamLocation::Cookie) {
        setup.push(quote! { let req_cookies = ::specjet::extract::CookieParams::from_headers(&parts.headers); });
    }
    let idents: Vec<_> = op
        .params
        .iter()
        .map(|p| format_ident!("{}", p.field))
        .collect();
    let reads: Vec<TokenStream> = op
        .params
        .iter()
        .zip(&idents)
        .map(|(param, ident)| {
            let read = param_read(api, op, param, scope);
            quote! { let #ident = #read; }
        })
        .collect();
    // Parameters whose schema bounds them beyond their type are checked against it, before
    // any read error answers: one 400 names every parameter that is wrong.
    let constrained: Vec<(&crate::ir::Param, &proc_macro2::Ident)> = op
        .params
        .iter()
        .zip(&idents)
        .filter(|(param, _)| param.constrained)
        .collect();
    let bounds = (!constrained.is_empty()).then(|| {
        let path = &op.path;
        let method = op.method.as_str();
        let declared = constrained.iter().map(|(param, _)| {
            let name = &param.wire;
            let place = match param.location {
                ParamLocation::Path => "path",
                ParamLocation::Query => "query",
                ParamLocation::Header => "header",
                ParamLocation::Cookie => "cookie",
            };
            quote! { (#name, #place) }
        });
        let values = constrained
            .iter()
            .map(|(_, ident)| quote! { ::specjet::contract::param_value(&#ident) });
        quote! {
            static PARAM_SCHEMAS: ::specjet::contract::ParamSchemas = ::specjet::contract::ParamSchemas::new(
                &super::super::openapi::CONTRACT, #path, #method, &[#(#declared),*],
            );
            let req_out_of_bounds = ::specjet::contract::check_params(&PARAM_SCHEMAS, &[#(#values),*]);
        }
    });
    // With one parameter, the one that failed is the one checked: its bounds saw nothing.
    let reject = |errors: TokenStream| match &bounds {
        Some(_) if idents.len() > 1 => {
            quote! { ::specjet::extract::reject_with_bounds(#errors, req_out_of_bounds) }
        }
        _ => quote! { ::specjet::extract::reject(#errors) },
    };
    let check = match idents.len() {
        0 => quote! {},
        1 => {
            let ident = &idents[0];
            let rejected = reject(quote! { [::std::option::Option::Some(error)] });
            quote! {
                let #ident = #ident.map_err(|error| #rejected)?;
            }
        }
        _ => {
            let rejected = reject(quote! { [#( #idents.err() ),*] });
            quote! {
                let (#(#idents),*) = match (#(#idents),*) {
                    (#( ::std::result::Result::Ok(#idents) ),*) => (#(#idents),*),
                    (#(#idents),*) => {
                        return ::std::result::Result::Err(#rejected);
                    }
                };
            }
        }
    };
    let bounds_answer = bounds.is_some().then(|| quote! { req_out_of_bounds?; });
    let uses_path = op.params.iter().any(|p| p.location == ParamLocation::Path);
    let path_arg = if uses_path {
        quote! { req_path }
    } else {
        quote! { _req_path }
    };
    let (body_arg, body_read, body_field) = match &op.body {
        None => (quote! { _req_body }, quote! {}, quote! {}),
        Some(body) => {
            let read = body_read(api, op, body, scope);
            (quote! { req_body }, read, quote! { body, })
        }
    };
    let (last_event_read, last_event_field) = if reads_last_event_id(op) {
        (
            quote! {
                let last_event_id = parts
                    .headers
                    .get("last-event-id")
                    .and_then(|value| value.to_str().ok())
                    .map(::std::borrow::ToOwned::to_owned);
            },
            quote! { last_event_id, },
        )
    } else {
        (quote! {}, quote! {})
    };
    let (principal_read, principal_field) = match principal_type(op) {
        None => (quote! {}, quote! {}),
        Some(_) if op.secured => (
            quote! { let principal = ::specjet::__private::principal(&parts)?; },
            quote! { principal, },
        ),
        Some(_) => (
            quote! { let principal = parts.extensions.get::<::specjet::security::Principal>().cloned(); },
            quote! { principal, },
        ),
    };
    quote! {
            /// Reads every parameter and the body, answering 400/413/415/422 problems that
            /// name what is wrong.
            pub async fn read(
                parts: ::specjet::http::request::Parts,
                #path_arg: ::specjet::extract::PathParams,
                #body_arg: ::specjet::axum::body::Body,
            ) -> ::std::result::Result<Self, ::specjet::Problem> {
                #principal_read
                #last_event_read
                #(#setup)*
                #(#reads)*
                #bounds
                #check
                #bounds_answer
                #body_read
                ::std::result::Result::Ok(Self {
                    #(#idents,)*
                    #body_field
                    #principal_field
                    #last_event_field
                    parts,
                })
            }
    }
}

/// An expression of type `Result<field type, ParamError>` reading one parameter.
fn param_read(api: &Api, op: &Operation, param: &Param, scope: Scope) -> TokenStream {
    let ty = rust_type(api, &param.ty, scope);
    let wire = &param.wire;
    let location = param.location.as_str();
    let read = match param.location {
        ParamLocation::Path => {
            let Some((capture, index)) = op.path_captures.iter().find_map(|capture| {
                let position = capture
                    .pieces
                    .iter()
                    .filter(|p| matches!(p, Piece::Param(_)))
                    .position(|p| matches!(p, Piece::Param(name) if name == wire))?;
                Some((capture, position))
            }) else {
                return quote! { ::specjet::extract::parse_plain::<#ty>("", "path", #wire) };
            };
            let key = &capture.key;
            return if capture.is_whole() {
                quote! { req_path.get::<#ty>(#key, #wire) }
            } else {
                let pieces = capture.pieces.iter().map(|piece| match piece {
                    Piece::Literal(text) => quote! { ::specjet::extract::Piece::Literal(#text) },
                    Piece::Param(name) => quote! { ::specjet::extract::Piece::Param(#name) },
                });
                quote! { req_path.piece::<#ty>(#key, &[#(#pieces),*], #index, #wire) }
            };
        }
        ParamLocation::Query => match param.style {
            ParamStyle::Scalar => quote! { req_query.scalar::<#ty>(#wire) },
            ParamStyle::Exploded => quote! { req_query.exploded::<#ty>(#wire) },
            ParamStyle::Delimited(delimiter) => {
                quote! { req_query.delimited::<#ty>(#wire, #delimiter) }
            }
            ParamStyle::DeepObject => quote! { req_query.deep_object::<#ty>(#wire) },
            ParamStyle::FormObject => {
                let required = param.required;
                quote! { req_query.form_object::<#ty>(#wire, #required) }
            }
            ParamStyle::Json => quote! { req_query.json::<#ty>(#wire) },
            ParamStyle::DelimitedObject => quote! { req_query.delimited_object::<#ty>(#wire) },
        },
        ParamLocation::Header => match param.style {
            ParamStyle::Json => quote! { req_headers.json::<#ty>(#wire) },
            ParamStyle::Exploded | ParamStyle::Delimited(_) => {
                quote! { req_headers.delimited::<#ty>(#wire) }
            }
            _ => quote! { req_headers.scalar::<#ty>(#wire) },
        },
        ParamLocation::Cookie => match param.style {
            ParamStyle::Exploded | ParamStyle::Delimited(_) => {
                quote! { req_cookies.delimited::<#ty>(#wire) }
            }
            _ => quote! { req_cookies.scalar::<#ty>(#wire) },
        },
    };
    if param.required {
        quote! { ::specjet::extract::required(#read, #location, #wire) }
    } else if let Some(default) = &param.default {
        let value = super::types::default_expr(default, &ty);
        if matches!(default, crate::ir::DefaultValue::Str(_)) {
            quote! { #read.map(|value| value.unwrap_or_else(|| #value)) }
        } else {
            quote! { #read.map(|value| value.unwrap_or(#value)) }
        }
    } else {
        read
    }
}

fn body_read(
    api: &Api,
    op: &Operation,
    body: &crate::ir::RequestBody,
    scope: Scope,
) -> TokenStream {
    let _ = scope;
    let accepted: Vec<&String> = body.contents.iter().map(|c| &c.media_type).collect();
    let wrap = |content: &Content, parsed: TokenStream| match &body.media_enum {
        Some(name) => {
            let name = format_ident!("{}", name);
            let variant = format_ident!("{}", content.variant);
            quote! { #name::#variant(#parsed) }
        }
        None => parsed,
    };
    // Each JSON body is checked against its schema in the embedded document before it is
    // read; one static per media type holds its compiled check.
    let schema_static = |index: usize| format_ident!("BODY_SCHEMA_{}", index);
    let path = &op.path;
    let method = op.method.as_str();
    let statics: Vec<TokenStream> = body
        .contents
        .iter()
        .enumerate()
        .filter(|(_, content)| matches!(content.kind, BodyKind::Json(_)))
        .map(|(index, content)| {
            let name = schema_static(index);
            let media = &content.media_type;
            quote! {
                static #name: ::specjet::contract::BodySchema = ::specjet::contract::BodySchema::new(
                    &super::super::openapi::CONTRACT, #path, #method, #media,
                );
            }
        })
        .collect();
    // A body whose every media type is binary is read as a stream; others are read whole.
    let streamed = streams_body(body);
    let arms: Vec<TokenStream> = body
        .contents
        .iter()
        .enumerate()
        .map(|(index, content)| {
            let media = &content.media_type;
            let parsed = wrap(
                content,
                parse_content(api, content, &schema_static(index), streamed, scope),
            );
            quote! {
                ::std::option::Option::Some(media) if ::specjet::extract::media_matches(media, #media) => #parsed,
            }
        })
        .collect();
    let parsed = if let Some(first) = body.contents.first() {
        let default = wrap(
            first,
            parse_content(api, first, &schema_static(0), streamed, scope),
        );
        quote! {
            match req_media_type.as_deref() {
                ::std::option::Option::None => #default,
                #(#arms)*
                other => {
                    return ::std::result::Result::Err(::specjet::extract::unsupported_media_type(other, &[#(#accepted),*]));
                }
            }
        }
    } else {
        quote! { req_bytes }
    };
    let needs_media = !body.contents.is_empty();
    let media = needs_media
        .then(|| quote! { let req_media_type = ::specjet::extract::media_type(&parts.headers); });
    if streamed {
        let finish = if body.required {
            quote! {
                let ::std::option::Option::Some(req_stream) = ::specjet::extract::body_stream(&parts, req_body) else {
                    return ::std::result::Result::Err(::specjet::extract::missing_body());
                };
                let body = #parsed;
            }
        } else {
            quote! {
                let body = match ::specjet::extract::body_stream(&parts, req_body) {
                    ::std::option::Option::None => ::std::option::Option::None,
                    ::std::option::Option::Some(req_stream) => ::std::option::Option::Some(#parsed),
                };
            }
        };
        return quote! {
            #media
            #finish
        };
    }
    let finish = if body.required {
        quote! {
            if req_bytes.is_empty() {
                return ::std::result::Result::Err(::specjet::extract::missing_body());
            }
            let body = #parsed;
        }
    } else {
        quote! {
            let body = if req_bytes.is_empty() {
                ::std::option::Option::None
            } else {
                ::std::option::Option::Some(#parsed)
            };
        }
    };
    quote! {
        #(#statics)*
        let req_bytes = ::specjet::extract::read_body(req_body, ::specjet::extract::body_limit(&parts)).await?;
        #media
        #finish
    }
}

/// Whether the operation reads its request body as a stream: every media type it accepts is
/// binary (an upload), so nothing needs it whole.
pub(super) fn streams_body(body: &crate::ir::RequestBody) -> bool {
    !body.contents.is_empty()
        && body.contents.iter().all(|content| {
            matches!(
                content.kind,
                BodyKind::Binary | BodyKind::ItemUpload(..) | BodyKind::MultipartUpload
            )
        })
}

fn parse_content(
    api: &Api,
    content: &Content,
    schema: &proc_macro2::Ident,
    streamed: bool,
    scope: Scope,
) -> TokenStream {
    match &content.kind {
        BodyKind::Json(ty) => {
            let ty = rust_type(api, ty, scope);
            quote! { ::specjet::contract::json_body::<#ty>(&req_bytes, &#schema)? }
        }
        BodyKind::Form(ty) => {
            let ty = rust_type(api, ty, scope);
            quote! { ::specjet::extract::form_body::<#ty>(&req_bytes)? }
        }
        BodyKind::Multipart => {
            quote! { ::specjet::MultipartForm::parse(&parts.headers, req_bytes).await? }
        }
        BodyKind::Text => quote! { ::specjet::extract::text_body(req_bytes)? },
        // An upload: the body as it arrives or, read whole with the body's other media
        // types, its bytes as a stream.
        BodyKind::Binary => upload_stream(streamed),
        BodyKind::MultipartUpload => {
            let stream = upload_stream(streamed);
            quote! { ::specjet::multipart::MultipartStream::new(&parts.headers, #stream)? }
        }
        BodyKind::ItemUpload(ty, framing) => {
            let ty = rust_type(api, ty, scope);
            let framing = framing_tokens(*framing);
            let stream = upload_stream(streamed);
            quote! { ::specjet::stream::ItemReader::<#ty>::new(#stream, ::specjet::stream::Framing::#framing) }
        }
        // Events, items and byte streams are answers only.
        BodyKind::Bytes | BodyKind::Events(_) | BodyKind::Items(..) => quote! { req_bytes },
    }
}

/// An upload's bytes as a `BodyStream`: the body itself when the operation streams it, else
/// the bytes read whole.
fn upload_stream(streamed: bool) -> TokenStream {
    if streamed {
        quote! { req_stream }
    } else {
        quote! { ::specjet::stream::BodyStream::from(req_bytes) }
    }
}

/// The Rust type holding one media type's body.
fn content_type(api: &Api, content: &Content, scope: Scope) -> TokenStream {
    match &content.kind {
        BodyKind::Json(ty) | BodyKind::Form(ty) => rust_type(api, ty, scope),
        BodyKind::Multipart => quote! { ::specjet::MultipartForm },
        BodyKind::MultipartUpload => quote! { ::specjet::multipart::MultipartStream },
        BodyKind::Text => quote! { ::std::string::String },
        BodyKind::Binary => quote! { ::specjet::stream::BodyStream },
        BodyKind::ItemUpload(ty, _) => {
            let ty = rust_type(api, ty, scope);
            quote! { ::specjet::stream::ItemReader<#ty> }
        }
        // A client alone holds a download whole.
        BodyKind::Bytes if api.settings.client_only => quote! { ::specjet::bytes::Bytes },
        BodyKind::Bytes => quote! { ::specjet::stream::ByteStream },
        BodyKind::Events(ty) => {
            let ty = rust_type(api, ty, scope);
            quote! { ::specjet::stream::EventStream<#ty> }
        }
        BodyKind::Items(ty, _) => {
            let ty = rust_type(api, ty, scope);
            quote! { ::specjet::stream::ItemStream<#ty> }
        }
    }
}

fn media_enum(
    api: &Api,
    name: &proc_macro2::Ident,
    contents: &[Content],
    scope: Scope,
    doc: &str,
) -> TokenStream {
    let variants = contents.iter().map(|content| {
        let variant = format_ident!("{}", content.variant);
        let ty = content_type(api, content, scope);
        let docs = doc_attrs(Some(&format!("`{}`", content.media_type)));
        quote! { #docs #variant(#ty), }
    });
    // A stream is read once: an enum that may hold one is not `Clone`.
    let clone = (!contents.iter().any(|content| {
        content.kind.is_stream()
            || matches!(
                content.kind,
                BodyKind::Bytes
                    | BodyKind::Binary
                    | BodyKind::ItemUpload(..)
                    | BodyKind::MultipartUpload
            )
    }))
    .then(|| quote! { , ::std::clone::Clone });
    quote! {
        #[doc = #doc]
        #[derive(::std::fmt::Debug #clone)]
        pub enum #name {
            #(#variants)*
        }
    }
}

/// The content type sent for a body of a declared media type (wildcards cannot be sent).
pub(super) fn sent_content_type(content: &Content) -> String {
    if !content.media_type.contains('*') {
        return content.media_type.clone();
    }
    match content.kind {
        BodyKind::Json(_) => "application/json".to_owned(),
        BodyKind::Text => "text/plain; charset=utf-8".to_owned(),
        BodyKind::Multipart => "multipart/mixed".to_owned(),
        _ => "application/octet-stream".to_owned(),
    }
}

/// An expression building a response of `op` with `status` from the body value `body`.
fn respond_content(
    op: &Operation,
    content: &Content,
    status: &TokenStream,
    body: TokenStream,
) -> TokenStream {
    let content_type = sent_content_type(content);
    let id = &op.id;
    match &content.kind {
        BodyKind::Events(TypeRef::String) => {
            quote! { ::specjet::stream::text_events(#status, #id, #body) }
        }
        BodyKind::Events(_) => quote! { ::specjet::stream::json_events(#status, #id, #body) },
        BodyKind::Bytes => {
            let idle = Literal::u64_unsuffixed(idle_millis(op));
            quote! {
                ::specjet::stream::bytes(
                    #status,
                    #content_type,
                    #id,
                    #body,
                    ::std::time::Duration::from_millis(#idle),
                )
            }
        }
        BodyKind::Items(_, framing) => {
            let framing = framing_tokens(*framing);
            // A producer silent for the operation's `x-timeout` ends the stream.
            let idle = Literal::u64_unsuffixed(idle_millis(op));
            quote! {
                ::specjet::stream::items(
                    #status,
                    #content_type,
                    #id,
                    #body,
                    ::specjet::stream::Framing::#framing,
                    ::std::time::Duration::from_millis(#idle),
                )
            }
        }
        BodyKind::Json(_) => quote! { ::specjet::respond::json(#status, #content_type, &#body) },
        BodyKind::Form(_) => quote! { ::specjet::respond::form(#status, #content_type, &#body) },
        BodyKind::Multipart => {
            quote! { ::specjet::respond::multipart(#status, #content_type, &#body) }
        }
        // A request's kind only: an answer's items are `Items`.
        BodyKind::Text
        | BodyKind::Binary
        | BodyKind::ItemUpload(..)
        | BodyKind::MultipartUpload => {
            quote! { ::specjet::respond::raw(#status, #content_type, #body) }
        }
    }
}

/// The runtime's `Framing` variant of `framing`.
fn framing_tokens(framing: Framing) -> TokenStream {
    match framing {
        Framing::Lines => quote! { Lines },
        Framing::RecordSeparated => quote! { RecordSeparated },
    }
}

fn response(api: &Api, op: &Operation, scope: Scope) -> TokenStream {
    let mut variants = Vec::new();
    let mut arms = Vec::new();
    let mut media_enums = Vec::new();
    for response in &op.responses {
        let (variant, arm, media) = response_variant(api, op, response, scope);
        variants.push(variant);
        arms.push(arm);
        media_enums.push(media);
    }
    let docs = doc_attrs(Some(&format!(
        "The responses of `{}`: one variant per documented status, and `Problem` for any other error.",
        op.id
    )));
    let into_response = (!api.settings.client_only).then(|| {
        quote! {
            impl ::specjet::axum::response::IntoResponse for Response {
                fn into_response(self) -> ::specjet::axum::response::Response {
                    match self {
                        #(#arms)*
                        Self::Problem(problem) => ::specjet::axum::response::IntoResponse::into_response(problem),
                    }
                }
            }
        }
    });
    quote! {
        #docs
        #[derive(::std::fmt::Debug)]
        pub enum Response {
            #(#variants)*
            /// An error the spec does not document, sent as `application/problem+json`.
            Problem(::specjet::Problem),
        }

        #into_response

        impl ::std::convert::From<::specjet::Problem> for Response {
            fn from(problem: ::specjet::Problem) -> Self {
                Self::Problem(problem)
            }
        }

        /// Lets a handler write its logic as a function returning `Result<Response, Problem>`
        /// (using `?` on any error that converts into a `Problem`) and answer with `.into()`.
        impl ::std::convert::From<::std::result::Result<Response, ::specjet::Problem>> for Response {
            fn from(result: ::std::result::Result<Response, ::specjet::Problem>) -> Self {
                result.unwrap_or_else(Self::Problem)
            }
        }

        #(#media_enums)*
    }
}

/// The variant, its `into_response` arm, and its media-type enum if it has several.
fn response_variant(
    api: &Api,
    op: &Operation,
    response: &Response,
    scope: Scope,
) -> (TokenStream, TokenStream, TokenStream) {
    let variant = format_ident!("{}", response.variant);
    let status_doc = match response.status {
        StatusSpec::Code(code) => format!("{code}"),
        StatusSpec::Range(class) => format!("{class}XX"),
        StatusSpec::Default => "Any other status (`default`)".to_owned(),
    };
    let docs = doc_attrs(join_docs(&[Some(&status_doc), response.docs.as_deref()]).as_deref());
    let has_status = !matches!(response.status, StatusSpec::Code(_));
    let status_expr = match response.status {
        StatusSpec::Code(code) => {
            let code = Literal::u16_unsuffixed(code);
            quote! { #code }
        }
        _ => quote! { status },
    };
    let mut media_enum_tokens = TokenStream::new();
    let body_ty = match (&response.media_enum, response.contents.first()) {
        (Some(name), _) => {
            let name = format_ident!("{}", name);
            media_enum_tokens = media_enum(
                api,
                &name,
                &response.contents,
                scope,
                "A response body, by media type.",
            );
            Some(quote! { #name })
        }
        (None, Some(content)) => Some(content_type(api, content, scope)),
        (None, None) => None,
    };
    let build = match (&response.media_enum, response.contents.first()) {
        (Some(name), _) => {
            let name = format_ident!("{}", name);
            let arms = response.contents.iter().map(|content| {
                let media_variant = format_ident!("{}", content.variant);
                let respond = respond_content(op, content, &quote! { status }, quote! { body });
                quote! { #name::#media_variant(body) => #respond, }
            });
            // A variant of a range or `default` carries its `status` already.
            let bind = (!has_status).then(|| quote! { let status = #status_expr; });
            quote! {
                {
                    #bind
                    match body {
                        #(#arms)*
                    }
                }
            }
        }
        (None, Some(content)) => respond_content(op, content, &status_expr, quote! { body }),
        (None, None) => quote! { ::specjet::respond::empty(#status_expr) },
    };
    let header_idents: Vec<_> = response
        .headers
        .iter()
        .map(|h| format_ident!("{}", h.field))
        .collect();
    if !has_status && response.headers.is_empty() {
        return match body_ty {
            Some(ty) => (
                quote! { #docs #variant(#ty), },
                quote! { Self::#variant(body) => #build, },
                media_enum_tokens,
            ),
            None => (
                quote! { #docs #variant, },
                quote! { Self::#variant => #build, },
                media_enum_tokens,
            ),
        };
    }
    let mut fields = Vec::new();
    let mut bindings = Vec::new();
    if has_status {
        fields.push(quote! {
            /// The status code to send.
            status: u16,
        });
        bindings.push(quote! { status });
    }
    if let Some(ty) = &body_ty {
        fields.push(quote! { body: #ty, });
        bindings.push(quote! { body });
    }
    let mut header_sets = Vec::new();
    for (header, ident) in response.headers.iter().zip(&header_idents) {
        let ty = rust_type(api, &header.ty, scope);
        let ty = if header.required {
            ty
        } else {
            quote! { ::std::option::Option<#ty> }
        };
        let docs = doc_attrs(
            join_docs(&[
                Some(&format!("The `{}` header.", header.wire)),
                header.docs.as_deref(),
            ])
            .as_deref(),
        );
        fields.push(quote! { #docs #ident: #ty, });
        bindings.push(quote! { #ident });
        let wire = &header.wire;
        header_sets.push(quote! { ::specjet::respond::header(&mut response, #wire, &#ident); });
    }
    let arm = if header_sets.is_empty() {
        quote! { Self::#variant { #(#bindings),* } => #build, }
    } else {
        quote! {
            Self::#variant { #(#bindings),* } => {
                let mut response = #build;
                #(#header_sets)*
                response
            }
        }
    };
    (
        quote! { #docs #variant { #(#fields)* }, },
        arm,
        media_enum_tokens,
    )
}

/// How long a stream may be silent before it ends: the operation's `x-timeout`, in
/// milliseconds (`u64::MAX` when it has none).
fn idle_millis(op: &Operation) -> u64 {
    op.policies.timeout.map_or(u64::MAX, |timeout| {
        u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)
    })
}
