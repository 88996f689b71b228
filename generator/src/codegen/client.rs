//! The client side of each operation (`Request::to_call`, `Response::from_answer`) and the
//! typed `Client` with one method per operation, over the runtime's `specjet::client`.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::{doc_attrs, join_docs, rust_type, Scope};
use crate::ir::{
    Api, BodyKind, Content, KeyLocation, Operation, ParamLocation, Response, SchemeKind,
    StatusSpec, Written,
};
use crate::naming::{field_name, Namespace};

/// The client's own methods; an operation of the same name gets a suffix.
const CLIENT_METHODS: [&str; 4] = ["new", "in_process", "configure", "core"];

/// Whether the client can call `op` with whole bodies: it neither uploads a stream nor
/// answers with one (events, items), which a client of whole answers cannot hold.
pub(super) fn supported(api: &Api, op: &Operation) -> bool {
    let request = op.body.as_ref().is_none_or(|body| {
        body.contents.iter().all(|content| {
            matches!(
                content.kind,
                BodyKind::Json(_) | BodyKind::Form(_) | BodyKind::Multipart | BodyKind::Text
            )
        })
    });
    // A client alone reads no multipart answer (its parser is the server's).
    let answers = !api.settings.client_only
        || !op
            .responses
            .iter()
            .flat_map(|response| &response.contents)
            .any(|content| matches!(content.kind, BodyKind::Multipart));
    request && answers && !crate::ir::answers_with_stream(&op.responses)
}

/// `impl Request { fn to_call }` and `impl Response { fn from_answer }` of `op`, or nothing
/// when the client cannot call it.
pub(super) fn operation(api: &Api, op: &Operation, scope: Scope) -> TokenStream {
    if !api.settings.client || !supported(api, op) {
        return TokenStream::new();
    }
    let to_call = to_call(op);
    let from_answer = from_answer(api, op, scope);
    quote! {
        impl Request {
            /// The request as a client sends it: every parameter and the body written as
            /// the server reads them (the `principal` is the server's: a client sends its
            /// credentials instead).
            pub fn to_call(&self) -> ::specjet::client::Call {
                #to_call
            }
        }

        impl Response {
            /// Reads an answer of the operation into the variant its status documents: an
            /// undocumented error status (a limit, a timeout, a bad request) is
            /// `Response::Problem`.
            pub async fn from_answer(
                answer: ::specjet::client::Answer,
            ) -> ::std::result::Result<Self, ::specjet::client::ClientError> {
                #from_answer
            }
        }
    }
}

fn to_call(op: &Operation) -> TokenStream {
    let id = &op.id;
    let path = &op.path;
    let method = format_ident!("{}", op.method.as_str().to_uppercase());
    let timeout = op.policies.timeout.map(|timeout| {
        let millis =
            Literal::u64_unsuffixed(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        quote! { .with_timeout(::std::time::Duration::from_millis(#millis)) }
    });
    // An answer the spec caches is kept by the client and revalidated.
    let revalidated = (op.policies.cache.is_some() && op.method == crate::ir::Method::Get)
        .then(|| quote! { .revalidated() });
    let mut writes = Vec::new();
    for param in &op.params {
        let field = format_ident!("{}", param.field);
        let wire = &param.wire;
        let written = written_tokens(param.written());
        let write = |value: TokenStream| {
            quote! { call.param(::specjet::client::Written::#written, #wire, #value); }
        };
        // The idempotency key the spec declares makes a call safe to send again.
        let key = (param.location == ParamLocation::Header
            && param.wire.eq_ignore_ascii_case("idempotency-key"))
        .then(|| quote! { call.idempotent(); });
        if param.required || param.default.is_some() {
            let write = write(quote! { &self.#field });
            writes.push(quote! { #write #key });
        } else {
            let write = write(quote! { value });
            writes.push(quote! {
                if let ::std::option::Option::Some(value) = &self.#field {
                    #write
                    #key
                }
            });
        }
    }
    if let Some(body) = &op.body {
        let write = |content: &Content, value: TokenStream| {
            let sent = super::operations::sent_content_type(content);
            match content.kind {
                BodyKind::Json(_) => quote! { call.json(#sent, #value); },
                BodyKind::Form(_) => quote! { call.form(#sent, #value); },
                BodyKind::Multipart => quote! { call.multipart(#sent, #value); },
                _ => quote! { call.raw(#sent, ::std::clone::Clone::clone(#value)); },
            }
        };
        let body_value = |value: TokenStream| match &body.media_enum {
            Some(name) => {
                let name = format_ident!("{}", name);
                let arms = body.contents.iter().map(|content| {
                    let variant = format_ident!("{}", content.variant);
                    let write = write(content, quote! { body });
                    quote! { #name::#variant(body) => { #write } }
                });
                quote! { match #value { #(#arms)* } }
            }
            None => match body.contents.first() {
                Some(content) => write(content, value),
                None => quote! {},
            },
        };
        if body.required {
            writes.push(body_value(quote! { &self.body }));
        } else {
            let write = body_value(quote! { body });
            writes.push(quote! {
                if let ::std::option::Option::Some(body) = &self.body {
                    #write
                }
            });
        }
    }
    let call = quote! {
        ::specjet::client::Call::new(#id, ::specjet::http::Method::#method, #path) #timeout #revalidated
    };
    if writes.is_empty() {
        return call;
    }
    quote! {
        let mut call = #call;
        #(#writes)*
        call
    }
}

/// The runtime's `Written` variant of `written`.
fn written_tokens(written: Written) -> TokenStream {
    match written {
        Written::Path => quote! { Path },
        Written::Query => quote! { Query },
        Written::QueryExploded => quote! { QueryExploded },
        Written::QueryDelimited(delimiter) => quote! { QueryDelimited(#delimiter) },
        Written::QueryDeepObject => quote! { QueryDeepObject },
        Written::QueryFormObject => quote! { QueryFormObject },
        Written::QueryDelimitedObject => quote! { QueryDelimitedObject },
        Written::QueryJson => quote! { QueryJson },
        Written::Header => quote! { Header },
        Written::HeaderDelimited => quote! { HeaderDelimited },
        Written::HeaderJson => quote! { HeaderJson },
        Written::Cookie => quote! { Cookie },
        Written::CookieDelimited => quote! { CookieDelimited },
    }
}

fn from_answer(api: &Api, op: &Operation, scope: Scope) -> TokenStream {
    // A `default` that takes problem details too takes every status: nothing follows it.
    let mut open_default = false;
    let arms: Vec<TokenStream> = op
        .responses
        .iter()
        .map(|response| {
            let pattern = match response.status {
                StatusSpec::Code(code) => {
                    let code = Literal::u16_unsuffixed(code);
                    quote! { #code }
                }
                StatusSpec::Range(class) => {
                    let class = Literal::u16_unsuffixed(u16::from(class));
                    quote! { status if status / 100 == #class }
                }
                StatusSpec::Default => quote! { _ },
            };
            // The service's own policies answer problem details; a response that does not
            // document them leaves them to `Problem`.
            let error_status = !matches!(response.status, StatusSpec::Code(code) if code < 400);
            let documents_problem = response.contents.iter().any(|content| {
                content
                    .media_type
                    .eq_ignore_ascii_case("application/problem+json")
            });
            if response.status == StatusSpec::Default && documents_problem {
                open_default = true;
            }
            let guard = match (&response.status, error_status && !documents_problem) {
                (StatusSpec::Range(_), true) => quote! { && !answer.is_problem() },
                (_, true) => quote! { if !answer.is_problem() },
                _ => quote! {},
            };
            let value = variant_value(api, response, scope);
            quote! { #pattern #guard => ::std::result::Result::Ok(#value), }
        })
        .collect();
    let rest = (!open_default).then(|| {
        quote! {
            400.. => ::std::result::Result::Ok(Self::Problem(answer.problem())),
            _ => ::std::result::Result::Err(answer.undocumented()),
        }
    });
    quote! {
        let status = answer.status();
        match status {
            #(#arms)*
            #rest
        }
    }
}

/// The value of `response`'s variant read from `answer`.
fn variant_value(api: &Api, response: &Response, scope: Scope) -> TokenStream {
    let variant = format_ident!("{}", response.variant);
    let body = match (&response.media_enum, response.contents.first()) {
        (Some(name), Some(first)) => {
            let name = format_ident!("{}", name);
            let first_read = read_body(api, first, scope);
            let first_variant = format_ident!("{}", first.variant);
            let first_media = &first.media_type;
            let others = response.contents.iter().skip(1).map(|content| {
                let media = &content.media_type;
                let variant = format_ident!("{}", content.variant);
                let read = read_body(api, content, scope);
                quote! { else if answer.is(#media) { #name::#variant(#read) } }
            });
            Some(quote! {
                if answer.media_type().is_none() || answer.is(#first_media) {
                    #name::#first_variant(#first_read)
                }
                #(#others)*
                else {
                    return ::std::result::Result::Err(answer.undocumented());
                }
            })
        }
        (_, Some(content)) => Some(read_body(api, content, scope)),
        (_, None) => None,
    };
    let has_status = !matches!(response.status, StatusSpec::Code(_));
    if !has_status && response.headers.is_empty() {
        return match body {
            Some(body) => quote! { Self::#variant(#body) },
            None => quote! { Self::#variant },
        };
    }
    let mut fields = Vec::new();
    if has_status {
        fields.push(quote! { status });
    }
    if let Some(body) = body {
        fields.push(quote! { body: #body });
    }
    for header in &response.headers {
        let field = format_ident!("{}", header.field);
        let wire = &header.wire;
        let ty = rust_type(api, &header.ty, scope);
        fields.push(if header.required {
            quote! { #field: answer.required_header::<#ty>(#wire)? }
        } else {
            quote! { #field: answer.header::<#ty>(#wire)? }
        });
    }
    quote! { Self::#variant { #(#fields),* } }
}

fn read_body(api: &Api, content: &Content, scope: Scope) -> TokenStream {
    match &content.kind {
        BodyKind::Json(ty) => {
            let ty = rust_type(api, ty, scope);
            quote! { answer.json::<#ty>()? }
        }
        BodyKind::Form(ty) => {
            let ty = rust_type(api, ty, scope);
            quote! { answer.form::<#ty>()? }
        }
        BodyKind::Multipart => quote! { answer.multipart().await? },
        BodyKind::Text => quote! { answer.text()? },
        // A client alone holds a download as its bytes; a server's type is a stream.
        _ if api.settings.client_only => quote! { answer.bytes() },
        _ => quote! { ::std::convert::From::from(answer.bytes()) },
    }
}

/// The generated `client.rs`: the typed `Client`.
/// One method per operation the client can call, and a line for each it cannot.
fn operation_methods(api: &Api, names: &mut Namespace) -> (Vec<TokenStream>, Vec<String>) {
    let mut methods = Vec::new();
    let mut left_out = Vec::new();
    for op in &api.operations {
        if !supported(api, op) {
            left_out.push(format!(
                "- `{}` (`{} {}`)",
                op.id,
                op.method.as_str().to_uppercase(),
                op.path
            ));
            continue;
        }
        let method = format_ident!("{}", names.claim(&op.name));
        let module = format_ident!("{}", op.name);
        let summary = format!(
            "`{} {}` (`{}`).",
            op.method.as_str().to_uppercase(),
            op.path,
            op.id
        );
        let docs = doc_attrs(
            join_docs(&[
                op.summary.as_deref(),
                Some(&summary),
                op.description.as_deref(),
            ])
            .as_deref(),
        );
        methods.push(quote! {
            #docs
            pub async fn #method(
                &self,
                request: super::operations::#module::Request,
            ) -> ::std::result::Result<super::operations::#module::Response, ::specjet::client::ClientError> {
                let answer = self.core.send(request.to_call()).await?;
                super::operations::#module::Response::from_answer(answer).await
            }
        });
    }
    (methods, left_out)
}

/// One method per security scheme, setting its credentials (a client certificate is the
/// transport's, so `mutualTLS` has none).
fn credential_methods(api: &Api, names: &mut Namespace) -> Vec<TokenStream> {
    api.security_schemes.iter().filter_map(|scheme| {
        let base = field_name(scheme.method.strip_prefix("verify_").unwrap_or(&scheme.method));
        let name = format_ident!("{}", names.claim(&format!("with_{base}")));
        let doc = format!("Sends the credentials of the `{}` scheme with every call.", scheme.name);
        let docs = doc_attrs(join_docs(&[Some(&doc), scheme.description.as_deref()]).as_deref());
        let (arguments, set) = match &scheme.kind {
            SchemeKind::Bearer { .. } => (
                quote! { token: &str },
                quote! { self.core.with_bearer(token) },
            ),
            SchemeKind::Basic => (
                quote! { user: &str, password: &str },
                quote! { self.core.with_basic(user, password) },
            ),
            SchemeKind::OtherHttp { scheme } => (
                quote! { credentials: &str },
                quote! { self.core.with_header("authorization", &::std::format!("{} {}", #scheme, credentials)) },
            ),
            SchemeKind::ApiKey { location, name } => {
                let set = match location {
                    KeyLocation::Header => quote! { self.core.with_header(#name, key) },
                    KeyLocation::Query => quote! { self.core.with_query(#name, key) },
                    KeyLocation::Cookie => quote! { self.core.with_cookie(#name, key) },
                };
                (quote! { key: &str }, set)
            }
            // A client certificate is the transport's (its TLS settings).
            SchemeKind::MutualTls => return None,
        };
        Some(quote! {
            #docs
            pub fn #name(self, #arguments) -> Self {
                Self { core: #set }
            }
        })
    })
    .collect()
}

pub(super) fn module(api: &Api) -> TokenStream {
    let mut names = Namespace::with_reserved(&CLIENT_METHODS);
    let (methods, left_out) = operation_methods(api, &mut names);
    let credentials = credential_methods(api, &mut names);
    let base_path = &api.settings.base_path;
    let title = &api.title;
    let mut doc = format!(
        "A typed client of {title}: one method per operation, taking the operation's \
         `Request` and returning its `Response`, the types the server reads and answers. \
         Calls retry on 429 and 503 when they are safe to repeat, wait as the service says \
         (`Retry-After`, `RateLimit`), and end at the operation's `x-timeout`."
    );
    if !left_out.is_empty() {
        doc.push_str(
            "\n\nNot in the client yet (they upload or answer a stream, which a client of \
             whole bodies cannot hold):\n",
        );
        doc.push_str(&left_out.join("\n"));
    }
    let docs = doc_attrs(Some(&doc));
    let in_process = (!api.settings.client_only).then(|| {
        quote! {
            /// A client calling `router` (`router(api)`) in process: every call meets the
            /// service's policies (validation, security, limits, caching) without a socket.
            pub fn in_process(router: ::specjet::axum::Router) -> Self {
                Self::new(::specjet::client::InProcess::new(router))
            }
        }
    });
    quote! {
        #docs
        #[derive(::std::fmt::Debug, ::std::clone::Clone)]
        pub struct Client {
            core: ::specjet::client::Client,
        }

        impl Client {
            /// A client sending through `transport`: `specjet::client::Http::new(origin)?`
            /// (feature `client`; the origin of the service, such as
            /// `http://127.0.0.1:8080`), or a transport of your own.
            pub fn new(transport: impl ::specjet::client::Transport) -> Self {
                Self {
                    core: ::specjet::client::Client::new(transport).with_path_prefix(#base_path),
                }
            }

            #in_process

            /// The same client with other settings of its core: retries, the default
            /// deadline, more headers (`|core| core.with_retry(Retry::never())`).
            pub fn configure(
                self,
                change: impl ::std::ops::FnOnce(::specjet::client::Client) -> ::specjet::client::Client,
            ) -> Self {
                Self { core: change(self.core) }
            }

            /// The core every call goes through.
            pub fn core(&self) -> &::specjet::client::Client {
                &self.core
            }

            #(#credentials)*

            #(#methods)*
        }
    }
}
