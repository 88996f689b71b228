//! Type definitions: structs, enums, unions, aliases.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::{doc_attrs, rust_type, Scope};
use crate::ir::{Api, DefaultValue, Field, Module, SerdeUse, TypeDef, TypeKind, TypeRef};
use crate::naming::Namespace;

/// Every type that lives in `module`.
pub(super) fn module(api: &Api, module: Module) -> TokenStream {
    let mut defaults = Namespace::default();
    let items = api
        .types
        .iter()
        .filter(|def| def.module == module)
        .map(|def| type_def(api, def, Scope::Module(module), &mut defaults));
    quote! { #(#items)* }
}

fn type_def(api: &Api, def: &TypeDef, scope: Scope, defaults: &mut Namespace) -> TokenStream {
    let name = format_ident!("{}", def.name);
    let docs = doc_attrs(def.docs.as_deref());
    let serde = serde_derives(def.serde);
    match &def.kind {
        TypeKind::Struct {
            fields,
            additional,
            deny_unknown,
        } => structure(
            api,
            def,
            fields,
            additional.as_ref(),
            *deny_unknown,
            scope,
            defaults,
        ),
        TypeKind::StringEnum { variants } => string_enum(&name, &docs, &serde, variants),
        TypeKind::IntEnum { variants } => int_enum(&name, &docs, &serde, variants),
        TypeKind::Union {
            variants,
            discriminator,
        } => union(api, def, scope, variants, discriminator.as_deref()),
        TypeKind::Alias(ty) => {
            let ty = rust_type(api, ty, scope);
            quote! {
                #docs
                pub type #name = #ty;
            }
        }
        TypeKind::Newtype(ty) => {
            let ty = rust_type(api, ty, scope);
            quote! {
                #docs
                #[derive(::std::fmt::Debug, ::std::clone::Clone, ::std::cmp::PartialEq #serde)]
                #[serde(crate = "::specjet::serde", transparent)]
                pub struct #name(pub #ty);
            }
        }
    }
}

/// A string enum: its variants renamed to their wire values, `as_str` and `Display`.
fn string_enum(
    name: &proc_macro2::Ident,
    docs: &TokenStream,
    serde: &TokenStream,
    variants: &[crate::ir::EnumVariant],
) -> TokenStream {
    let idents: Vec<_> = variants
        .iter()
        .map(|v| format_ident!("{}", v.name))
        .collect();
    let wires: Vec<_> = variants.iter().map(|v| &v.wire).collect();
    let renames = variants.iter().map(|v| {
        let wire = &v.wire;
        let docs = doc_attrs(v.docs.as_deref());
        quote! { #docs #[serde(rename = #wire)] }
    });
    quote! {
        #docs
        #[derive(::std::fmt::Debug, ::std::clone::Clone, ::std::marker::Copy, ::std::cmp::PartialEq, ::std::cmp::Eq, ::std::hash::Hash #serde)]
        #[serde(crate = "::specjet::serde")]
        pub enum #name {
            #( #renames #idents, )*
        }

        impl #name {
            /// The value as it is written on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    #( Self::#idents => #wires, )*
                }
            }
        }

        impl ::std::fmt::Display for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    }
}

/// An integer enum, read from and written as its `i64` values.
fn int_enum(
    name: &proc_macro2::Ident,
    docs: &TokenStream,
    serde: &TokenStream,
    variants: &[crate::ir::IntVariant],
) -> TokenStream {
    let idents: Vec<_> = variants
        .iter()
        .map(|v| format_ident!("{}", v.name))
        .collect();
    let values: Vec<_> = variants
        .iter()
        .map(|v| Literal::i64_unsuffixed(v.value))
        .collect();
    let expected = variants
        .iter()
        .map(|v| v.value.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let message = format!("{{value}} is not one of {expected}");
    quote! {
        #docs
        #[derive(::std::fmt::Debug, ::std::clone::Clone, ::std::marker::Copy, ::std::cmp::PartialEq, ::std::cmp::Eq, ::std::hash::Hash #serde)]
        #[serde(crate = "::specjet::serde", try_from = "i64", into = "i64")]
        pub enum #name {
            #( #idents, )*
        }

        impl ::std::convert::From<#name> for i64 {
            fn from(value: #name) -> i64 {
                match value {
                    #( #name::#idents => #values, )*
                }
            }
        }

        impl ::std::convert::TryFrom<i64> for #name {
            type Error = ::std::string::String;

            fn try_from(value: i64) -> ::std::result::Result<Self, Self::Error> {
                match value {
                    #( #values => ::std::result::Result::Ok(Self::#idents), )*
                    value => ::std::result::Result::Err(::std::format!(#message)),
                }
            }
        }
    }
}

/// A union (`oneOf`, `anyOf`): untagged, or read by its `discriminator` property.
fn union(
    api: &Api,
    def: &TypeDef,
    scope: Scope,
    variants: &[crate::ir::UnionVariant],
    discriminator: Option<&str>,
) -> TokenStream {
    let name = format_ident!("{}", def.name);
    let docs = doc_attrs(def.docs.as_deref());
    let serde = serde_derives(def.serde);
    let idents: Vec<_> = variants
        .iter()
        .map(|v| format_ident!("{}", v.name))
        .collect();
    let types: Vec<_> = variants
        .iter()
        .map(|v| rust_type(api, &v.ty, scope))
        .collect();
    match discriminator {
        None => quote! {
            #docs
            #[derive(::std::fmt::Debug, ::std::clone::Clone, ::std::cmp::PartialEq #serde)]
            #[serde(crate = "::specjet::serde", untagged)]
            pub enum #name {
                #( #idents(#types), )*
            }
        },
        Some(property) => {
            let first_tags: Vec<&String> = variants.iter().map(|v| &v.tags[0]).collect();
            let all_tags: Vec<&String> = variants.iter().flat_map(|v| &v.tags).collect();
            let match_arms = variants.iter().zip(&idents).map(|(v, ident)| {
                    let tags = &v.tags;
                    quote! { #( #tags )|* => ::specjet::__private::from_tagged(value).map(Self::#ident), }
                });
            let serialize = def.serde.serialize.then(|| quote! {
                    impl ::specjet::serde::Serialize for #name {
                        fn serialize<S: ::specjet::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                            match self {
                                #( Self::#idents(value) => ::specjet::__private::serialize_tagged(serializer, #property, #first_tags, value), )*
                            }
                        }
                    }
                });
            let deserialize = def.serde.deserialize.then(|| quote! {
                    impl<'de> ::specjet::serde::Deserialize<'de> for #name {
                        fn deserialize<D: ::specjet::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                            let (tag, value) = ::specjet::__private::tagged_variant(deserializer, #property)?;
                            match tag.as_str() {
                                #( #match_arms )*
                                other => ::std::result::Result::Err(::specjet::__private::unknown_tag(#property, other, &[#( #all_tags ),*])),
                            }
                        }
                    }
                });
            quote! {
                #docs
                #[derive(::std::fmt::Debug, ::std::clone::Clone, ::std::cmp::PartialEq)]
                pub enum #name {
                    #( #idents(#types), )*
                }

                #serialize

                #deserialize
            }
        }
    }
}

fn structure(
    api: &Api,
    def: &TypeDef,
    fields: &[Field],
    additional: Option<&TypeRef>,
    deny_unknown: bool,
    scope: Scope,
    defaults: &mut Namespace,
) -> TokenStream {
    let name = format_ident!("{}", def.name);
    let docs = doc_attrs(def.docs.as_deref());
    let serde = serde_derives(def.serde);
    let mut default_fns = Vec::new();
    let members: Vec<TokenStream> = fields
        .iter()
        .map(|field| {
            let ident = format_ident!("{}", field.name);
            let docs = doc_attrs(field.docs.as_deref());
            if field.flatten {
                let ty = rust_type(api, &field.ty, scope);
                return quote! {
                    #[serde(flatten)]
                    pub #ident: #ty,
                };
            }
            let rename = (field.wire != field.name).then(|| {
                let wire = &field.wire;
                quote! { #[serde(rename = #wire)] }
            });
            let inner = rust_type(api, &field.ty, scope);
            let (ty, attrs) = match (field.required, field.nullable, &field.default) {
                (true, false, _) => (inner, quote! {}),
                (true, true, _) => (quote! { ::std::option::Option<#inner> }, quote! { #[serde(default)] }),
                // Only reading a struct fills a default in.
                (false, false, Some(default)) if def.serde.deserialize => {
                    let fn_name = defaults.claim(&format!("default_{}_{}", crate::naming::field_name(&def.name), field.name));
                    let fn_ident = format_ident!("{}", fn_name);
                    let value = default_expr(default, &inner);
                    default_fns.push(quote! {
                        fn #fn_ident() -> #inner {
                            #value
                        }
                    });
                    (inner, quote! { #[serde(default = #fn_name)] })
                }
                (false, false, Some(_)) => (inner, quote! {}),
                (false, false, None) => (
                    quote! { ::std::option::Option<#inner> },
                    quote! { #[serde(default, skip_serializing_if = "::std::option::Option::is_none")] },
                ),
                (false, true, _) => (
                    quote! { ::std::option::Option<::std::option::Option<#inner>> },
                    quote! { #[serde(default, skip_serializing_if = "::std::option::Option::is_none", with = "::specjet::__private::double_option")] },
                ),
            };
            quote! {
                #docs
                #rename
                #attrs
                pub #ident: #ty,
            }
        })
        .collect();
    let flattened = additional.map(|values| {
        let mut taken = Namespace::default();
        for field in fields {
            taken.claim(&field.name);
        }
        let ident = format_ident!("{}", taken.claim("additional_properties"));
        let values = rust_type(api, values, scope);
        quote! {
            /// Members beyond the declared properties.
            #[serde(flatten)]
            pub #ident: ::std::collections::BTreeMap<::std::string::String, #values>,
        }
    });
    let deny =
        (deny_unknown && additional.is_none()).then(|| quote! { #[serde(deny_unknown_fields)] });
    quote! {
        #docs
        #[derive(::std::fmt::Debug, ::std::clone::Clone, ::std::cmp::PartialEq #serde)]
        #[serde(crate = "::specjet::serde")]
        #deny
        pub struct #name {
            #(#members)*
            #flattened
        }

        #(#default_fns)*
    }
}

/// The serde derives of a type, after the std ones.
fn serde_derives(serde: SerdeUse) -> TokenStream {
    let serialize = serde
        .serialize
        .then(|| quote! { , ::specjet::serde::Serialize });
    let deserialize = serde
        .deserialize
        .then(|| quote! { , ::specjet::serde::Deserialize });
    quote! { #serialize #deserialize }
}

pub(super) fn default_expr(default: &DefaultValue, ty: &TokenStream) -> TokenStream {
    match default {
        DefaultValue::Bool(b) => quote! { #b },
        DefaultValue::Int(i) => {
            let literal = Literal::i64_unsuffixed(*i);
            quote! { #literal }
        }
        DefaultValue::Float(f) => {
            let literal = Literal::f64_unsuffixed(*f);
            quote! { #literal }
        }
        DefaultValue::Str(s) => quote! { ::std::string::String::from(#s) },
        DefaultValue::Variant { name, .. } => {
            let variant = format_ident!("{}", name);
            quote! { #ty::#variant }
        }
    }
}
