//! The root annotations of the service's outgoing connections: `x-specjet.database` (the
//! pool's sizes and timeouts, the embedded SQLite file, and the migrations folder, read now
//! so that the generated code embeds them and a deployed binary needs no folder beside it)
//! and `x-specjet.http-client` (the pooled client's timeouts and pool).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::{positive_duration, Annotations};
use crate::diag::Severity;
use crate::ir::{Backend, DatabaseSettings, HttpClientSettings, Migration, MigrationFile};
use crate::load::Location;

impl Annotations<'_> {
    /// The keys of a connection's settings: an object's, or none for `{}`, `true` or an empty
    /// value (the defaults); anything else is an error (`what` says what is expected).
    pub(super) fn entries<'v>(
        &mut self,
        location: &Location,
        value: &'v Value,
        what: &str,
    ) -> Vec<(&'v String, &'v Value)> {
        match value {
            Value::Object(map) => map.iter().collect(),
            Value::Bool(true) | Value::Null => Vec::new(),
            _ => {
                let message = format!("{what} (or `{{}}` for the defaults)");
                self.report(Severity::Error, location, message);
                Vec::new()
            }
        }
    }

    /// `x-specjet.database` of the service whose Redis key prefix is `prefix` (which names
    /// its embedded SQLite file by default).
    pub(super) fn database_settings(
        &mut self,
        location: &Location,
        value: &Value,
        prefix: &str,
    ) -> DatabaseSettings {
        let mut settings = DatabaseSettings::named(prefix);
        let mut max_given = false;
        for (key, value) in
            self.entries(location, value, "`database` is an object of pool settings")
        {
            let at = location.child(key);
            let result = match key.as_str() {
                "max-connections" => connections(value).map(|n| {
                    settings.max_connections = n;
                    max_given = true;
                }),
                "min-connections" => connections(value).map(|n| settings.min_connections = n),
                "acquire-timeout" => {
                    positive_duration(value).map(|ms| settings.acquire_timeout = millis(ms))
                }
                "idle-timeout" => {
                    positive_duration(value).map(|ms| settings.idle_timeout = Some(millis(ms)))
                }
                "max-lifetime" => {
                    positive_duration(value).map(|ms| settings.max_lifetime = Some(millis(ms)))
                }
                "statement-timeout" => {
                    positive_duration(value).map(|ms| settings.statement_timeout = Some(millis(ms)))
                }
                "connect-timeout" => {
                    positive_duration(value).map(|ms| settings.connect_timeout = millis(ms))
                }
                "sqlite-file" => match value.as_str() {
                    Some(file) if !file.trim().is_empty() && !file.contains('?') => {
                        settings.sqlite_file = file.to_owned();
                        Ok(())
                    }
                    _ => Err("`sqlite-file` is a file name such as `shop.sqlite3`".to_owned()),
                },
                "migrations" => match value.as_str() {
                    Some(folder) => {
                        let base = self.spec.docs[location.doc].path.parent();
                        let folder = base.unwrap_or(Path::new("")).join(folder);
                        read_migrations(&folder).map(|found| settings.migrations = found)
                    }
                    None => Err(
                        "`migrations` is a folder, relative to this document, of sqlx migrations"
                            .to_owned(),
                    ),
                },
                other => Err(format!("unknown key `{other}` in `x-specjet.database`")),
            };
            if let Err(message) = result {
                self.report(Severity::Error, &at, message);
            }
        }
        let (min, max) = (settings.min_connections, settings.max_connections);
        if min > max {
            let max_source = if max_given {
                "`max-connections`"
            } else {
                "the default `max-connections`"
            };
            self.report(
                Severity::Error,
                &location.child("min-connections"),
                format!("`min-connections` ({min}) is above {max_source} ({max})"),
            );
        }
        settings
    }
}

impl Annotations<'_> {
    /// `x-specjet.http-client` of the service whose Redis key prefix is `prefix` (which
    /// names its user agent by default).
    pub(super) fn http_client_settings(
        &mut self,
        location: &Location,
        value: &Value,
        prefix: &str,
    ) -> HttpClientSettings {
        let mut settings = HttpClientSettings::named(prefix);
        for (key, value) in self.entries(
            location,
            value,
            "`http-client` is an object of client settings",
        ) {
            let at = location.child(key);
            let result = match key.as_str() {
                "connect-timeout" => {
                    positive_duration(value).map(|ms| settings.connect_timeout = millis(ms))
                }
                "timeout" => positive_duration(value).map(|ms| settings.timeout = millis(ms)),
                "idle-timeout" => {
                    positive_duration(value).map(|ms| settings.idle_timeout = millis(ms))
                }
                "max-idle-per-host" => value
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| *n <= 10_000)
                    .map(|n| settings.max_idle_per_host = n)
                    .ok_or_else(|| {
                        format!("expected a number of connections from 0 to 10000, found {value}")
                    }),
                "user-agent" => match value.as_str() {
                    Some(agent) if http_header_value(agent) => {
                        settings.user_agent = agent.to_owned();
                        Ok(())
                    }
                    _ => Err("`user-agent` is a header value: visible ASCII and spaces".to_owned()),
                },
                other => Err(format!("unknown key `{other}` in `x-specjet.http-client`")),
            };
            if let Err(message) = result {
                self.report(Severity::Error, &at, message);
            }
        }
        settings
    }
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn http_header_value(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte == b' ' || byte.is_ascii_graphic())
}

fn connections(value: &Value) -> Result<u32, String> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| format!("expected a number of connections from 1 to 10000, found {value}"))
}

/// The `<version>_<description>.sql` files of `folder`, in version order (sqlx's naming; a
/// reversible `.up.sql` / `.down.sql` pair is not supported: migrations only go forward).
/// `<version>_<description>.postgres.sql` and `.sqlite.sql` run on that database only, for
/// the DDL the two spell differently (an auto-increment key).
fn read_migrations(folder: &Path) -> Result<Vec<MigrationFile>, String> {
    let entries = std::fs::read_dir(folder).map_err(|error| {
        format!(
            "cannot read the migrations folder `{}`: {error}",
            folder.display()
        )
    })?;
    let mut migrations: Vec<MigrationFile> = Vec::new();
    for entry in entries {
        let path = entry.map_err(|error| error.to_string())?.path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".sql") else {
            continue;
        };
        let (stem, backend) = match stem.rsplit_once('.') {
            Some((stem, "postgres")) => (stem, Some(Backend::Postgres)),
            Some((stem, "sqlite")) => (stem, Some(Backend::Sqlite)),
            _ => (stem, None),
        };
        if stem.ends_with(".up") || stem.ends_with(".down") {
            return Err(format!(
                "migration `{name}`: reversible migrations are not supported; write `<version>_<description>.sql`"
            ));
        }
        let parsed = stem
            .split_once('_')
            .and_then(|(version, description)| Some((version.parse::<i64>().ok()?, description)))
            .filter(|(version, description)| *version > 0 && !description.is_empty());
        let Some((version, description)) = parsed else {
            return Err(format!(
                "migration `{name}` is not named `<version>_<description>.sql` (e.g. `1_create_products.sql`)"
            ));
        };
        let clash = |file: &&MigrationFile| {
            let m = &file.migration;
            m.version == version && (m.only.is_none() || backend.is_none() || m.only == backend)
        };
        if let Some(other) = migrations.iter().find(clash) {
            return Err(format!(
                "migrations `{}` and `{name}` have the same version {version}",
                other.path.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
        let sql = std::fs::read_to_string(&path)
            .map_err(|error| format!("cannot read migration `{name}`: {error}"))?;
        migrations.push(MigrationFile {
            migration: Migration {
                version,
                description: description.replace('_', " "),
                sql,
                only: backend,
            },
            path,
        });
    }
    if migrations.is_empty() {
        return Err(format!(
            "the migrations folder `{}` has no `<version>_<description>.sql` file",
            folder.display()
        ));
    }
    // By version, then by file name: the folder's listing order differs between machines,
    // and the generated code must not.
    migrations.sort_by(|a, b| (a.migration.version, &a.path).cmp(&(b.migration.version, &b.path)));
    Ok(migrations)
}
