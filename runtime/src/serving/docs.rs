//! The service's own document and interactive docs: the bundled document it was generated
//! from at `/openapi.json` and `/openapi.yaml`, its `servers` pointing at the service, and
//! Swagger UI at `/docs` (feature `docs`), its assets in the binary so that it works offline.
//!
//! Both are served under the base path, like the operations, and every link of the docs page
//! is relative, so that they also work behind a proxy that serves the service under a prefix.

use std::sync::{Arc, OnceLock};

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

pub use specjet_model::DocsSettings;

/// The document as served, made once on first request (a large document costs nothing at
/// start).
#[derive(Debug)]
// Without the `docs` feature there is no page to serve.
#[cfg_attr(not(feature = "docs"), allow(dead_code))]
struct Served {
    source: &'static str,
    /// The `servers` URL written into the served document: the base path, or `/`.
    server: String,
    json: OnceLock<Result<Bytes, String>>,
    yaml: OnceLock<Result<Bytes, String>>,
    page: OnceLock<Result<Bytes, String>>,
    /// The page's links, relative to the page: to the document and to the assets.
    document_link: String,
    assets_link: String,
}

#[cfg_attr(not(feature = "docs"), allow(dead_code))]
impl Served {
    fn value(&self) -> Result<Value, String> {
        let mut value: Value = serde_json::from_str(self.source)
            .map_err(|error| format!("the embedded document does not parse: {error}"))?;
        if let Value::Object(map) = &mut value {
            map.insert(
                "servers".to_owned(),
                serde_json::json!([{ "url": self.server }]),
            );
        }
        Ok(value)
    }

    fn json(&self) -> &Result<Bytes, String> {
        self.json.get_or_init(|| {
            let value = self.value()?;
            serde_json::to_vec(&value)
                .map(Bytes::from)
                .map_err(|error| error.to_string())
        })
    }

    fn yaml(&self) -> &Result<Bytes, String> {
        self.yaml.get_or_init(|| {
            let value = self.value()?;
            serde_norway::to_string(&value)
                .map(Bytes::from)
                .map_err(|error| error.to_string())
        })
    }

    fn page(&self) -> &Result<Bytes, String> {
        self.page.get_or_init(|| {
            let value = self.value()?;
            let title = value
                .pointer("/info/title")
                .and_then(Value::as_str)
                .unwrap_or("API");
            Ok(Bytes::from(page(
                title,
                &self.document_link,
                &self.assets_link,
            )))
        })
    }
}

/// The docs routes of `settings` (those not in `taken`, which the API serves itself), for a
/// router that is served under `base_path`, and their paths; `None` when there is nothing to
/// serve.
pub(crate) fn routes(
    settings: &DocsSettings,
    document: Option<&'static str>,
    base_path: &str,
    taken: &[&str],
) -> Option<(axum::Router, Vec<String>)> {
    let source = document?;
    let json_path = settings.openapi.as_deref()?;
    let ui = settings.ui.as_deref();
    let assets = ui.map(|ui| format!("{ui}/assets")).unwrap_or_default();
    let served = Arc::new(Served {
        source,
        server: if base_path.is_empty() {
            "/".to_owned()
        } else {
            base_path.to_owned()
        },
        json: OnceLock::new(),
        yaml: OnceLock::new(),
        page: OnceLock::new(),
        document_link: relative(ui.unwrap_or("/"), json_path),
        assets_link: relative(ui.unwrap_or("/"), &assets),
    });
    let mut router = axum::Router::new();
    let mut paths = Vec::new();
    if !taken.contains(&json_path) {
        paths.push(json_path.to_owned());
        let served = served.clone();
        router = router.route(
            json_path,
            axum::routing::get(move || async move { answer(served.json(), "application/json") }),
        );
    }
    if let Some(yaml_path) = &settings.openapi_yaml {
        if !taken.contains(&yaml_path.as_str()) {
            paths.push(yaml_path.clone());
            let served = served.clone();
            router = router.route(
                yaml_path,
                axum::routing::get(
                    move || async move { answer(served.yaml(), "application/yaml") },
                ),
            );
        }
    }
    if let Some(ui) = ui.filter(|ui| !taken.contains(ui)) {
        paths.push(ui.to_owned());
        router = ui_routes(router, ui, &assets, served);
    }
    Some((router, paths))
}

#[cfg(feature = "docs")]
fn ui_routes(router: axum::Router, ui: &str, assets: &str, served: Arc<Served>) -> axum::Router {
    let page =
        axum::routing::get(
            move || async move { answer(served.page(), "text/html; charset=utf-8") },
        );
    // The assets as swagger-ui-dist packages them, each file routed by its own path.
    let files = swagger_ui_dist::generate_routes(swagger_ui_dist::ApiDefinition {
        uri_prefix: assets.to_owned(),
        api_definition: swagger_ui_dist::OpenApiSource::Uri(String::new()),
        title: None,
    });
    let files = tower::service_fn(move |request: axum::extract::Request| {
        tower::ServiceExt::oneshot(files.clone(), request)
    });
    let mut docs = axum::Router::new().route(ui, page);
    for file in ASSETS {
        docs = docs.route_service(&format!("{assets}/{file}"), files.clone());
    }
    // Swagger UI's script is 1.6 MB; compressed, a fifth of it.
    router.merge(docs.layer(tower_http::compression::CompressionLayer::new()))
}

/// The Swagger UI files the page loads (and the OAuth2 redirect page that its "Authorize"
/// dialog opens).
#[cfg(feature = "docs")]
const ASSETS: [&str; 6] = [
    "swagger-ui.css",
    "swagger-ui.css.map",
    "swagger-ui-bundle.js",
    "swagger-ui-bundle.js.map",
    "oauth2-redirect.html",
    "oauth2-redirect.js",
];

#[cfg(not(feature = "docs"))]
fn ui_routes(router: axum::Router, ui: &str, _assets: &str, _served: Arc<Served>) -> axum::Router {
    tracing::warn!(
        "the interactive docs at `{ui}` need the runtime's `docs` feature; they are not served"
    );
    router
}

fn answer(made: &Result<Bytes, String>, content_type: &'static str) -> Response {
    match made {
        Ok(body) => ([(http::header::CONTENT_TYPE, content_type)], body.clone()).into_response(),
        Err(error) => {
            tracing::error!("cannot serve the document: {error}");
            crate::Problem::new(http::StatusCode::INTERNAL_SERVER_ERROR).into_response()
        }
    }
}

/// The docs page: Swagger UI reading the served document.
#[cfg_attr(not(feature = "docs"), allow(dead_code))]
fn page(title: &str, document: &str, assets: &str) -> String {
    let title = escape_html(title);
    // JSON strings are JavaScript strings; `<` is escaped so no `</script>` can end the block.
    let url = serde_json::to_string(document)
        .unwrap_or_default()
        .replace('<', "\\u003c");
    let assets = escape_html(assets);
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
window.onload = () => {{
  window.ui = SwaggerUIBundle({{
    url: {url},
    dom_id: "#swagger-ui",
    deepLinking: true,
    oauth2RedirectUrl: new URL("{assets}/oauth2-redirect.html", window.location.href).href,
  }});
}};
</script>
</body>
</html>
"##
    )
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `target` as a link relative to the page at `from` (both absolute paths of one router).
fn relative(from: &str, target: &str) -> String {
    let directory: Vec<&str> = match from.rsplit_once('/') {
        Some((directory, _)) => directory.split('/').filter(|s| !s.is_empty()).collect(),
        None => Vec::new(),
    };
    let target: Vec<&str> = target.split('/').filter(|s| !s.is_empty()).collect();
    let common = directory
        .iter()
        .zip(&target)
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<&str> = vec![".."; directory.len() - common];
    parts.extend(&target[common..]);
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_to_the_page() {
        assert_eq!(relative("/docs", "/openapi.json"), "openapi.json");
        assert_eq!(relative("/docs", "/docs/assets"), "docs/assets");
        assert_eq!(
            relative("/reference/ui", "/openapi.json"),
            "../openapi.json"
        );
        assert_eq!(
            relative("/reference/ui", "/reference/spec.json"),
            "spec.json"
        );
        assert_eq!(relative("/a/b/ui", "/a/c/spec.json"), "../c/spec.json");
    }

    #[test]
    fn the_page_escapes_the_title() {
        let html = page("<b>\"Pets\" & co</b>", "openapi.json", "docs/assets");
        assert!(html.contains("<title>&lt;b&gt;&quot;Pets&quot; &amp; co&lt;/b&gt;</title>"));
        assert!(html.contains(r#"url: "openapi.json""#));
    }
}
