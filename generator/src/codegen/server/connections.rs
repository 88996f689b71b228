//! The service's outgoing connections in `settings()`: `x-specjet.database` (the pool
//! settings that differ from the runtime's defaults, and the migrations embedded as statics,
//! so a deployed binary needs no folder) and `x-specjet.http-client`.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::duration;
use crate::ir::{Backend, DatabaseSettings, HttpClientSettings};

/// The statement of `settings()` that sets `settings.database`, and the items it needs at
/// module level (the feature check, the migrations).
pub(super) fn database(database: &DatabaseSettings, prefix: &str) -> (TokenStream, TokenStream) {
    let defaults = DatabaseSettings::named(prefix);
    let mut changes = Vec::new();
    for (value, default, field) in [
        (
            database.max_connections,
            defaults.max_connections,
            quote! { max_connections },
        ),
        (
            database.min_connections,
            defaults.min_connections,
            quote! { min_connections },
        ),
    ] {
        if value != default {
            let value = Literal::u32_unsuffixed(value);
            changes.push(quote! { database.#field = #value; });
        }
    }
    for (value, default, field) in [
        (
            database.acquire_timeout,
            defaults.acquire_timeout,
            quote! { acquire_timeout },
        ),
        (
            database.connect_timeout,
            defaults.connect_timeout,
            quote! { connect_timeout },
        ),
    ] {
        if value != default {
            let value = duration(value);
            changes.push(quote! { database.#field = #value; });
        }
    }
    for (value, default, field) in [
        (
            database.idle_timeout,
            defaults.idle_timeout,
            quote! { idle_timeout },
        ),
        (
            database.max_lifetime,
            defaults.max_lifetime,
            quote! { max_lifetime },
        ),
        (
            database.statement_timeout,
            defaults.statement_timeout,
            quote! { statement_timeout },
        ),
    ] {
        if value != default {
            let value = match value {
                Some(value) => {
                    let value = duration(value);
                    quote! { ::std::option::Option::Some(#value) }
                }
                None => quote! { ::std::option::Option::None },
            };
            changes.push(quote! { database.#field = #value; });
        }
    }
    if database.sqlite_file != defaults.sqlite_file {
        let file = &database.sqlite_file;
        changes.push(quote! { database.sqlite_file = ::std::string::String::from(#file); });
    }
    let migrations = (!database.migrations.is_empty()).then(|| {
        changes.push(quote! { database.migrations = MIGRATIONS; });
        let migrations = database.migrations.iter().map(|file| {
            let migration = &file.migration;
            let version = Literal::i64_unsuffixed(migration.version);
            let description = &migration.description;
            let sql = crate::source_text::str_tokens(&migration.sql);
            let backend = match migration.only {
                None => quote! { ::std::option::Option::None },
                Some(Backend::Postgres) => {
                    quote! { ::std::option::Option::Some(::specjet::database::Backend::Postgres) }
                }
                Some(Backend::Sqlite) => {
                    quote! { ::std::option::Option::Some(::specjet::database::Backend::Sqlite) }
                }
            };
            quote! {
                ::specjet::database::Migration {
                    version: #version,
                    description: #description,
                    sql: #sql,
                    only: #backend,
                }
            }
        });
        quote! {
            /// The migrations of the spec's `x-specjet.database.migrations` folder, run in
            /// order at start.
            static MIGRATIONS: &[::specjet::database::Migration] = &[#(#migrations),*];
        }
    });
    let statement = quote! {
        settings.database = ::std::option::Option::Some({
            let mut database = ::specjet::database::DatabaseSettings::named(#prefix);
            #(#changes)*
            database
        });
    };
    let items = quote! {
        ::specjet::__requires_database!();
        #migrations
    };
    (statement, items)
}

/// The statement of `settings()` that sets `settings.http_client`, and the feature check.
pub(super) fn http_client(client: &HttpClientSettings, prefix: &str) -> (TokenStream, TokenStream) {
    let defaults = HttpClientSettings::named(prefix);
    let mut changes = Vec::new();
    for (value, default, field) in [
        (
            client.connect_timeout,
            defaults.connect_timeout,
            quote! { connect_timeout },
        ),
        (client.timeout, defaults.timeout, quote! { timeout }),
        (
            client.idle_timeout,
            defaults.idle_timeout,
            quote! { idle_timeout },
        ),
    ] {
        if value != default {
            let value = duration(value);
            changes.push(quote! { client.#field = #value; });
        }
    }
    if client.max_idle_per_host != defaults.max_idle_per_host {
        let max = Literal::usize_unsuffixed(client.max_idle_per_host);
        changes.push(quote! { client.max_idle_per_host = #max; });
    }
    if client.user_agent != defaults.user_agent {
        let agent = &client.user_agent;
        changes.push(quote! { client.user_agent = ::std::string::String::from(#agent); });
    }
    let statement = quote! {
        settings.http_client = ::std::option::Option::Some({
            let mut client = ::specjet::http_client::HttpClientSettings::named(#prefix);
            #(#changes)*
            client
        });
    };
    (statement, quote! { ::specjet::__requires_http_client!(); })
}
