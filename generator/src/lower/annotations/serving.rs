//! How clients reach the service: the base path its operations are served under (the path of
//! the first `servers` URL, or root `x-specjet.base-path`), where it serves its own document
//! and interactive docs (`x-specjet.docs`), which browser origins may call it
//! (`x-specjet.cors`), and how it holds their connections (`x-specjet.server`).

use std::time::Duration;

use serde_json::Value;

use super::{
    is_fixed_path, is_header_name, parse_duration, parse_size, positive_duration, Annotations,
};
use crate::diag::Severity;
use crate::ir::{CorsSettings, DocsSettings, ServerSettings};
use crate::load::Location;

const METHODS: &[&str] = &[
    "GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE",
];

impl Annotations<'_> {
    /// `x-specjet.server`: the connection bounds and the shutdown's timing.
    pub(super) fn server_settings(&mut self, location: &Location, value: &Value) -> ServerSettings {
        let mut settings = ServerSettings::default();
        for (key, value) in self.entries(
            location,
            value,
            "`server` is an object of connection settings",
        ) {
            let at = location.child(key);
            let duration = |positive: bool| {
                let ms = if positive {
                    positive_duration(value)
                } else {
                    parse_duration(value)
                };
                ms.map(Duration::from_millis)
            };
            let result = match key.as_str() {
                "header-read-timeout" => duration(true).map(|d| settings.header_read_timeout = d),
                "idle-timeout" => duration(true).map(|d| settings.idle_timeout = d),
                "body-timeout" => duration(true).map(|d| settings.body_timeout = d),
                "shutdown-delay" => duration(false).map(|d| settings.shutdown_delay = d),
                "shutdown-timeout" => duration(true).map(|d| settings.shutdown_timeout = d),
                "max-upload-size" => parse_size(value)
                    .and_then(|n| {
                        usize::try_from(n)
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| "`max-upload-size` must be above zero".to_owned())
                    })
                    .map(|n| settings.max_upload_size = n),
                "max-connections" => value
                    .as_u64()
                    .filter(|n| *n > 0)
                    .and_then(|n| usize::try_from(n).ok())
                    .map(|n| settings.max_connections = Some(n))
                    .ok_or_else(|| {
                        "`max-connections` is a whole number of connections, at least 1".to_owned()
                    }),
                other => Err(format!("unknown key `{other}` in `x-specjet.server`")),
            };
            if let Err(message) = result {
                self.report(Severity::Error, &at, message);
            }
        }
        settings
    }

    /// The base path the first `servers` URL gives (server variables at their defaults); an
    /// empty string for none. Every URL of the list is checked.
    pub(super) fn servers_base_path(&mut self) -> String {
        let at = Location {
            doc: 0,
            pointer: "/servers".to_owned(),
        };
        let Some(servers) = self.spec.get(&at).cloned() else {
            return String::new();
        };
        let Value::Array(servers) = servers else {
            self.report(
                Severity::Error,
                &at,
                "`servers` is a list of server objects",
            );
            return String::new();
        };
        let mut first = None;
        for (index, server) in servers.iter().enumerate() {
            let location = at.child(&index.to_string());
            let path = match server_path(server) {
                Ok(path) => path,
                Err(message) => {
                    let location = match server.get("url") {
                        Some(_) => location.child("url"),
                        None => location,
                    };
                    self.report(Severity::Error, &location, message);
                    String::new()
                }
            };
            first.get_or_insert(path);
        }
        first.unwrap_or_default()
    }

    /// `x-specjet.base-path`: a path such as `/api/v1`, or `/` for none.
    pub(super) fn base_path(&mut self, location: &Location, value: &Value) -> Option<String> {
        match value.as_str().map(specjet_model::paths::base_path) {
            Some(Ok(path)) => Some(path),
            Some(Err(message)) => {
                self.report(Severity::Error, location, message);
                None
            }
            None => {
                let message = "`base-path` is a path such as `/api/v1` (or `/` for none)";
                self.report(Severity::Error, location, message);
                None
            }
        }
    }

    /// `x-specjet.docs`: `openapi` and `ui` (a path, or `false` to switch it off) and
    /// `strip-annotations`.
    pub(super) fn docs_settings(&mut self, location: &Location, value: &Value) -> DocsSettings {
        let mut settings = DocsSettings::default();
        if *value == Value::Bool(false) {
            settings.serve_document_at(None);
            settings.ui = None;
            return settings;
        }
        let Value::Object(map) = value else {
            let message = "`docs` is an object: `openapi`, `ui` (a path or `false`), `strip-annotations` (or `false` to serve neither)";
            self.report(Severity::Error, location, message);
            return settings;
        };
        for (key, value) in map {
            let at = location.child(key);
            let result = match key.as_str() {
                "openapi" => route(value, ".json").map(|path| settings.serve_document_at(path)),
                "ui" => route(value, "").map(|path| settings.ui = path),
                "strip-annotations" => match value {
                    Value::Bool(strip) => {
                        settings.strip_annotations = *strip;
                        Ok(())
                    }
                    _ => Err("`strip-annotations` is `true` or `false`".to_owned()),
                },
                other => Err(format!("unknown key `{other}` in `x-specjet.docs`")),
            };
            if let Err(message) = result {
                self.report(Severity::Error, &at, message);
            }
        }
        if settings.openapi.is_none() && settings.ui.is_some() {
            let message =
                "the interactive docs read the served document: `ui` needs `openapi` switched on";
            self.report(Severity::Error, &location.child("ui"), message);
            settings.ui = None;
        }
        settings
    }

    /// `x-specjet.cors`.
    pub(super) fn cors_settings(&mut self, location: &Location, value: &Value) -> CorsSettings {
        let mut settings = CorsSettings::default();
        let Value::Object(map) = value else {
            let message = "`cors` is an object: `allow-origins`, `allow-methods`, `allow-headers`, `expose-headers`, `max-age`, `allow-credentials`";
            self.report(Severity::Error, location, message);
            return settings;
        };
        for (key, value) in map {
            let at = location.child(key);
            let result = match key.as_str() {
                "allow-origins" => {
                    list(value, origin).map(|origins| settings.allow_origins = origins)
                }
                "allow-methods" => {
                    list(value, method).map(|methods| settings.allow_methods = Some(methods))
                }
                "allow-headers" => {
                    list(value, header).map(|headers| settings.allow_headers = Some(headers))
                }
                "expose-headers" => {
                    list(value, header).map(|headers| settings.expose_headers = Some(headers))
                }
                "max-age" => parse_duration(value).and_then(|ms| {
                    if ms % 1000 != 0 {
                        return Err("`max-age` is a whole number of seconds (`10m`, `600s`)".into());
                    }
                    settings.max_age = Some(std::time::Duration::from_millis(ms));
                    Ok(())
                }),
                "allow-credentials" => match value {
                    Value::Bool(allow) => {
                        settings.allow_credentials = *allow;
                        Ok(())
                    }
                    _ => Err("`allow-credentials` is `true` or `false`".to_owned()),
                },
                other => Err(format!("unknown key `{other}` in `x-specjet.cors`")),
            };
            if let Err(message) = result {
                self.report(Severity::Error, &at, message);
            }
        }
        if !map.contains_key("allow-origins") {
            let message = "`cors` needs `allow-origins`: the origins (`https://app.example.com`) or `*` that may call the service";
            self.report(Severity::Error, location, message);
        }
        for key in settings.wildcards_with_credentials() {
            let message = format!("`{key}: *` cannot go with `allow-credentials: true`: browsers refuse it; list what is allowed");
            self.report(Severity::Error, &location.child(key), message);
        }
        settings
    }
}

/// The path part of a server object's URL, with its variables at their defaults.
fn server_path(server: &Value) -> Result<String, String> {
    let url = server
        .get("url")
        .and_then(Value::as_str)
        .ok_or("a server needs a `url` string")?;
    let mut expanded = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        expanded.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("`{url}` has a `{{` that no `}}` closes"))?;
        let name = &rest[open + 1..open + close];
        let default = server
            .get("variables")
            .and_then(|variables| variables.get(name))
            .and_then(|variable| variable.get("default"))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("server variable `{name}` of `{url}` has no `default`"))?;
        expanded.push_str(default);
        rest = &rest[open + close + 1..];
    }
    expanded.push_str(rest);
    if expanded.chars().any(char::is_whitespace) {
        return Err(format!("`{url}` is not a URL: it contains white space"));
    }
    // Relative URLs are relative to where the document is served: the service's root.
    let base = url::Url::parse("http://localhost/").map_err(|error| error.to_string())?;
    let parsed = base
        .join(&expanded)
        .map_err(|error| format!("`{url}` is not a URL: {error}"))?;
    if !matches!(parsed.scheme(), "http" | "https" | "ws" | "wss") {
        return Err(format!(
            "`{url}` is not an HTTP URL (scheme `{}`)",
            parsed.scheme()
        ));
    }
    specjet_model::paths::base_path(parsed.path())
}

/// A docs route: a fixed path (ending in `extension` when one is given) or `false`.
fn route(value: &Value, extension: &str) -> Result<Option<String>, String> {
    match value {
        Value::Bool(false) => Ok(None),
        Value::String(path)
            if is_fixed_path(path) && !path.ends_with('/') && path.ends_with(extension) =>
        {
            Ok(Some(path.clone()))
        }
        _ if extension.is_empty() => Err("expected a fixed path such as `/docs`, or `false`".into()),
        _ => Err(format!(
            "expected a fixed path ending in `{extension}` such as `/openapi{extension}`, or `false`"
        )),
    }
}

/// A list of strings each checked by `check` (a single string is a list of one).
fn list(value: &Value, check: fn(&str) -> Result<String, String>) -> Result<Vec<String>, String> {
    let items = match value {
        Value::String(one) => vec![one.as_str()],
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().ok_or("expected a list of strings"))
            .collect::<Result<_, _>>()?,
        _ => return Err("expected a list of strings".to_owned()),
    };
    items.into_iter().map(check).collect()
}

/// `*`, or an origin as browsers send it: `scheme://host[:port]`, whose host may start with
/// `*.` for every subdomain.
fn origin(text: &str) -> Result<String, String> {
    if text == "*" {
        return Ok(text.to_owned());
    }
    let invalid = || {
        format!("`{text}` is not an origin such as `https://app.example.com` (scheme, host and port only) or `*`")
    };
    let (scheme, rest) = text.split_once("://").ok_or_else(invalid)?;
    if !matches!(scheme, "http" | "https") || rest.is_empty() {
        return Err(invalid());
    }
    let host = rest.strip_prefix("*.").unwrap_or(rest);
    let parsed = url::Url::parse(&format!("{scheme}://{host}")).map_err(|_| invalid())?;
    if parsed.path() != "/" || text.ends_with('/') || parsed.query().is_some() {
        return Err(invalid());
    }
    if !text.is_ascii() || text.contains(|c: char| c.is_ascii_uppercase()) {
        return Err(format!(
            "`{text}` must be written as browsers send it: lower case, ASCII (punycode for international names)"
        ));
    }
    Ok(text.to_owned())
}

fn method(text: &str) -> Result<String, String> {
    let upper = text.to_ascii_uppercase();
    if text == "*" || METHODS.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(format!(
            "`{text}` is not an HTTP method (GET, POST, PUT, PATCH, DELETE, ...)"
        ))
    }
}

fn header(text: &str) -> Result<String, String> {
    if text == "*" || is_header_name(text) {
        Ok(text.to_owned())
    } else {
        Err(format!("`{text}` is not a header name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base_paths_from_server_urls() {
        let path = |server: Value| server_path(&server);
        assert_eq!(
            path(json!({"url": "https://api.example.com/v2"})),
            Ok("/v2".into())
        );
        assert_eq!(
            path(json!({"url": "https://api.example.com"})),
            Ok(String::new())
        );
        assert_eq!(
            path(json!({"url": "https://api.example.com/"})),
            Ok(String::new())
        );
        assert_eq!(path(json!({"url": "/api/v1/"})), Ok("/api/v1".into()));
        assert_eq!(path(json!({"url": "api/v1"})), Ok("/api/v1".into()));
        assert_eq!(path(json!({"url": ""})), Ok(String::new()));
        assert_eq!(
            path(json!({
                "url": "{scheme}://{host}/{base}/x",
                "variables": {
                    "scheme": {"default": "https"},
                    "host": {"default": "example.com"},
                    "base": {"default": "v3", "enum": ["v3", "v4"]},
                }
            })),
            Ok("/v3/x".into())
        );
        let error = |server: Value| server_path(&server).unwrap_err();
        assert!(error(json!({"url": "https://{region}.example.com"})).contains("`region`"));
        assert!(error(json!({"url": "https://exa mple.com/v1"})).contains("white space"));
        assert!(error(json!({"url": "http://"})).contains("not a URL"));
        assert!(error(json!({"url": "https://example.com:99999/v1"})).contains("not a URL"));
        assert!(error(json!({"url": "ftp://example.com/v1"})).contains("not an HTTP URL"));
        assert!(error(json!({"url": "https://example.com/{v"})).contains("closes"));
        assert!(error(json!({"description": "no url"})).contains("`url`"));
    }

    #[test]
    fn origins() {
        assert!(origin("https://app.example.com").is_ok());
        assert!(origin("http://127.0.0.1:3000").is_ok());
        assert!(origin("https://*.example.com").is_ok());
        assert!(origin("*").is_ok());
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "ftp://example.com",
            "https://App.example.com",
            "https://",
        ] {
            assert!(origin(bad).is_err(), "{bad}");
        }
    }
}
