//! CORS from `x-specjet.cors`, on tower-http's `CorsLayer`, outside every operation's layers:
//! a preflight is answered before rate limits, caching and the handler, and every answer
//! (errors included) carries the headers a browser needs to read it.
//!
//! By default a preflight allows the methods the spec serves on the requested path (the
//! layer mirrors the requested method and this module puts the path's own list in its
//! place), the headers the browser asks for, and exposes specjet's own answer headers.
//! An `OPTIONS` request that is not a preflight reaches the route as any other request.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::response::Response;
use http::{header, HeaderName, HeaderValue, Method, Request};
use tower::{Layer, Service, ServiceExt};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer, ExposeHeaders};

/// The headers specjet adds to answers, which browser scripts may read unless
/// `expose-headers` says otherwise.
pub const EXPOSED_BY_DEFAULT: [&str; 6] = [
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
    "Cache-Status",
    "Server-Timing",
    "X-Request-Id",
];

pub use specjet_model::cors::CorsSettings;

/// The layer `settings` describe, or what is wrong with them (a value that is not a header
/// value, or a wildcard with credentials, which browsers refuse).
pub(crate) fn layer(
    settings: &CorsSettings,
    methods_by_path: HashMap<String, Vec<Method>>,
) -> Result<Cors, String> {
    let wildcard = |values: Option<&Vec<String>>| {
        values.is_some_and(|values| values.iter().any(|value| value == "*"))
    };
    if let Some(key) = settings.wildcards_with_credentials().first() {
        return Err(format!(
            "`{key}: *` cannot go with `allow-credentials: true`: browsers refuse it"
        ));
    }
    let origins = if wildcard(Some(&settings.allow_origins)) {
        AllowOrigin::any()
    } else {
        origins(&settings.allow_origins)?
    };
    let mut layer = CorsLayer::new()
        .allow_origin(origins)
        .allow_credentials(settings.allow_credentials);
    let mut own_methods = None;
    layer = match &settings.allow_methods {
        Some(methods) if wildcard(Some(methods)) => layer.allow_methods(AllowMethods::any()),
        Some(methods) => layer.allow_methods(
            methods
                .iter()
                .map(|method| Method::from_bytes(method.as_bytes()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| format!("`allow-methods`: {error}"))?,
        ),
        None => {
            own_methods = Some(Arc::new(method_lists(methods_by_path)?));
            layer.allow_methods(AllowMethods::mirror_request())
        }
    };
    layer = match &settings.allow_headers {
        Some(headers) if wildcard(Some(headers)) => layer.allow_headers(AllowHeaders::any()),
        Some(headers) => layer.allow_headers(header_names(headers, "allow-headers")?),
        None => layer.allow_headers(AllowHeaders::mirror_request()),
    };
    layer = match &settings.expose_headers {
        Some(headers) if wildcard(Some(headers)) => layer.expose_headers(ExposeHeaders::any()),
        Some(headers) => layer.expose_headers(header_names(headers, "expose-headers")?),
        None => {
            let names = EXPOSED_BY_DEFAULT.map(str::to_owned);
            layer.expose_headers(header_names(&names, "expose-headers")?)
        }
    };
    if let Some(max_age) = settings.max_age {
        layer = layer.max_age(max_age);
    }
    Ok(Cors { layer, own_methods })
}

/// `settings` with `CORS_ALLOW_ORIGINS` (comma-separated origins, or `*`) in place of the
/// spec's origins, when it is set.
pub(crate) fn with_env(mut settings: CorsSettings) -> CorsSettings {
    if let Ok(origins) = std::env::var("CORS_ALLOW_ORIGINS") {
        settings.allow_origins = origins
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(str::to_owned)
            .collect();
    }
    settings
}

fn header_names(names: &[String], key: &str) -> Result<Vec<HeaderName>, String> {
    names
        .iter()
        .map(|name| {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{key}`: `{name}` is not a header name"))
        })
        .collect()
}

/// Exact origins as a list; with a `scheme://*.domain` pattern, a predicate.
fn origins(allowed: &[String]) -> Result<AllowOrigin, String> {
    let mut exact = Vec::new();
    let mut suffixes = Vec::new();
    for origin in allowed {
        match origin.split_once("://*.") {
            Some((scheme, domain)) => suffixes.push((format!("{scheme}://"), format!(".{domain}"))),
            None => exact.push(
                HeaderValue::from_str(origin)
                    .map_err(|_| format!("`allow-origins`: `{origin}` is not an origin"))?,
            ),
        }
    }
    if suffixes.is_empty() {
        return Ok(AllowOrigin::list(exact));
    }
    Ok(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        exact.iter().any(|allowed| allowed == origin)
            || suffixes.iter().any(|(scheme, domain)| {
                origin.strip_prefix(scheme.as_str()).is_some_and(|host| {
                    let name = host.split(':').next().unwrap_or(host);
                    name.len() > domain.len() && name.ends_with(domain.as_str())
                })
            })
    }))
}

/// Per route path, its methods as a preflight answer lists them (`HEAD` with `GET`).
fn method_lists(
    methods_by_path: HashMap<String, Vec<Method>>,
) -> Result<HashMap<String, HeaderValue>, String> {
    methods_by_path
        .into_iter()
        .map(|(path, mut methods)| {
            if methods.contains(&Method::GET) && !methods.contains(&Method::HEAD) {
                methods.push(Method::HEAD);
            }
            let list = methods
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let value = HeaderValue::from_str(&list).map_err(|error| error.to_string())?;
            Ok((path, value))
        })
        .collect()
}

/// The CORS layer of a router: tower-http's, with preflights told the requested path's own
/// methods.
#[derive(Debug, Clone)]
pub(crate) struct Cors {
    layer: CorsLayer,
    /// Per route path, the methods a preflight allows (`None`: the configured list).
    own_methods: Option<Arc<HashMap<String, HeaderValue>>>,
}

impl<S: Clone> Layer<S> for Cors {
    type Service = CorsService<S>;

    fn layer(&self, inner: S) -> CorsService<S> {
        CorsService {
            cors: self.layer.layer(inner.clone()),
            inner,
            own_methods: self.own_methods.clone(),
        }
    }
}

/// A route's service behind [`Cors`].
#[derive(Debug, Clone)]
pub(crate) struct CorsService<S> {
    cors: tower_http::cors::Cors<S>,
    inner: S,
    own_methods: Option<Arc<HashMap<String, HeaderValue>>>,
}

impl<S> Service<Request<Body>> for CorsService<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Each call drives a clone of its own to readiness.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let preflight = request.method() == Method::OPTIONS
            && request
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if request.method() == Method::OPTIONS && !preflight {
            // tower-http answers every OPTIONS as a preflight; this one is the route's.
            return Box::pin(self.inner.clone().oneshot(request));
        }
        let own = match (&self.own_methods, preflight) {
            (Some(table), true) => Some(
                request
                    .extensions()
                    .get::<MatchedPath>()
                    .and_then(|path| table.get(path.as_str()))
                    .cloned(),
            ),
            _ => None,
        };
        let answer = self.cors.clone().oneshot(request);
        Box::pin(async move {
            let mut response = answer.await?;
            if preflight {
                let headers = response.headers_mut();
                if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
                    // A refused origin learns nothing of what is allowed.
                    for name in [
                        header::ACCESS_CONTROL_ALLOW_METHODS,
                        header::ACCESS_CONTROL_ALLOW_HEADERS,
                        header::ACCESS_CONTROL_MAX_AGE,
                        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    ] {
                        headers.remove(name);
                    }
                } else if let Some(own) = own {
                    match own {
                        Some(methods) => {
                            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
                        }
                        None => {
                            headers.remove(header::ACCESS_CONTROL_ALLOW_METHODS);
                        }
                    }
                }
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentialed_wildcards_are_refused() {
        let settings = CorsSettings {
            allow_origins: vec!["*".to_owned()],
            allow_credentials: true,
            ..CorsSettings::default()
        };
        let error = layer(&settings, HashMap::new()).unwrap_err();
        assert!(error.contains("allow-origins"), "{error}");
        let settings = CorsSettings {
            allow_origins: vec!["https://app.example.com".to_owned()],
            allow_headers: Some(vec!["*".to_owned()]),
            allow_credentials: true,
            ..CorsSettings::default()
        };
        assert!(layer(&settings, HashMap::new()).is_err());
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        let settings = CorsSettings {
            allow_origins: vec!["https://app.example.com\n".to_owned()],
            ..CorsSettings::default()
        };
        assert!(layer(&settings, HashMap::new()).is_err());
        let settings = CorsSettings {
            allow_origins: vec!["https://app.example.com".to_owned()],
            expose_headers: Some(vec!["not a header".to_owned()]),
            ..CorsSettings::default()
        };
        assert!(layer(&settings, HashMap::new()).is_err());
    }
}
