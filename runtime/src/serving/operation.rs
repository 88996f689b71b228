//! What a generated router knows of each operation: its route and its policies, in one table
//! that every layer serves from (each finds a request's operation by method and matched path).

use std::collections::HashMap;

use axum::extract::MatchedPath;

/// Everything the spec (or the code, which wins) says of how one operation is served, as a
/// service holds it: `const` data in the generated operations table (the model's one
/// definition, in its [`specjet_model::Static`] form).
pub type Policies = specjet_model::Policies<specjet_model::Static>;

/// One operation of the API.
#[derive(Debug, Clone)]
pub struct OperationInfo {
    /// The spec's `operationId`.
    pub id: &'static str,
    /// The HTTP method it is served on.
    pub method: http::Method,
    /// The route's path as given to axum (what `MatchedPath` reports).
    pub path: &'static str,
    /// Whether the operation requires credentials: it has `security` and every alternative
    /// names a scheme (set by [`OperationInfo::with_security`]).
    pub secured: bool,
    /// Path parameters as (name, capture key of the segment that holds it) pairs.
    pub params: &'static [(&'static str, &'static str)],
    /// How each of `params` is read (by position; a missing one is [`ParamType::Text`]).
    pub param_types: &'static [ParamType],
    /// Query parameters with a default, as (name, the default as a query writes it): a request
    /// without one is the request with its default, to the cache.
    pub query_defaults: &'static [(&'static str, &'static str)],
    /// How the scalar query parameters that are not text are read, as (name, type): to the
    /// cache, `?limit=010` is `?limit=10`.
    pub query_types: &'static [(&'static str, ParamType)],
    /// What the spec says of how the operation is served.
    pub policies: Policies,
    /// Its `security` (or the root's): alternatives, any of which lets a request in; empty
    /// for an operation open to all.
    pub security: &'static [crate::policy::security::Requirement],
    /// Whether it reads its request body as a stream ([`crate::request::stream::BodyStream`]): the
    /// body is not read whole before its layers run.
    pub streamed_body: bool,
    /// Whether it answers with a stream (server-sent events, items): each one held open
    /// counts against its caller's `streams-per-caller`.
    pub streams: bool,
}

impl OperationInfo {
    /// The table entry of one operation, with the policies of an operation whose spec says
    /// nothing ([`Policies::DEFAULT`]: a 30 s timeout, compressed); generated tables are
    /// written with it and [`OperationInfo::with_policies`].
    pub const fn new(id: &'static str, method: http::Method, path: &'static str) -> OperationInfo {
        OperationInfo {
            id,
            method,
            path,
            secured: false,
            params: &[],
            param_types: &[],
            query_defaults: &[],
            query_types: &[],
            policies: Policies::DEFAULT,
            security: &[],
            streamed_body: false,
            streams: false,
        }
    }

    /// The same entry answering with a stream (server-sent events, items), counted against
    /// the caller's `streams-per-caller`.
    pub const fn with_streamed_answer(mut self) -> OperationInfo {
        self.streams = true;
        self
    }

    /// The same entry reading its request body as a stream.
    pub const fn with_streamed_body(mut self) -> OperationInfo {
        self.streamed_body = true;
        self
    }

    /// The same entry with its path parameters, as (name, capture key of the segment that
    /// holds it) pairs.
    pub const fn with_params(
        mut self,
        params: &'static [(&'static str, &'static str)],
    ) -> OperationInfo {
        self.params = params;
        self
    }

    /// The same entry with its security requirements (alternatives of schemes and scopes):
    /// it requires credentials unless one alternative is empty (`{}`, open to all).
    pub const fn with_security(
        mut self,
        security: &'static [crate::policy::security::Requirement],
    ) -> OperationInfo {
        self.security = security;
        let mut secured = !security.is_empty();
        let mut index = 0;
        while index < security.len() {
            secured &= !security[index].is_empty();
            index += 1;
        }
        self.secured = secured;
        self
    }

    /// The same entry with the types of its path parameters (by position in `params`).
    pub const fn with_param_types(mut self, types: &'static [ParamType]) -> OperationInfo {
        self.param_types = types;
        self
    }

    /// The same entry with the defaults of its query parameters.
    pub const fn with_query_defaults(
        mut self,
        defaults: &'static [(&'static str, &'static str)],
    ) -> OperationInfo {
        self.query_defaults = defaults;
        self
    }

    /// The same entry with the types of its scalar query parameters that are not text.
    pub const fn with_query_types(
        mut self,
        types: &'static [(&'static str, ParamType)],
    ) -> OperationInfo {
        self.query_types = types;
        self
    }

    /// The route's captures (capture key, value as sent) with each value in its canonical
    /// spelling, as the handler reads it: `+5`, `05` and `5` are one integer.
    pub(crate) fn canonical(&self, captures: Vec<(String, String)>) -> Vec<(String, String)> {
        canonical_captures(self.params, self.param_types, captures)
    }

    /// The same entry with these policies.
    pub const fn with_policies(mut self, policies: Policies) -> OperationInfo {
        self.policies = policies;
        self
    }
}

/// How a path parameter's value is read, so that every spelling of one value is one value to
/// the cache (its keys and its invalidation tags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ParamType {
    /// Text, compared as sent (after percent-decoding).
    #[default]
    Text,
    /// A whole number: a sign, leading zeros and `+` do not make another value.
    Integer,
    /// A number: `1.50` and `1.5` are one value.
    Number,
    /// `true` or `false`.
    Boolean,
}

impl ParamType {
    /// `raw` in its one spelling; a value that does not parse as the type stays as sent (the
    /// handler refuses it, and refusals are not cached).
    pub(crate) fn canonical(self, raw: &str) -> String {
        let canonical = match self {
            ParamType::Text => None,
            ParamType::Integer => raw.parse::<i128>().ok().map(|n| n.to_string()),
            ParamType::Number => raw
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(|n| if n == 0.0 { 0.0 } else { n }.to_string()),
            ParamType::Boolean => raw.parse::<bool>().ok().map(|b| b.to_string()),
        };
        canonical.unwrap_or_else(|| raw.to_owned())
    }
}

/// `captures` (capture key, value) with each value canonical for the type of the parameter
/// captured under that key (a segment holding several parameters stays as sent).
pub(crate) fn canonical_captures(
    params: &[(&str, &str)],
    types: &[ParamType],
    captures: Vec<(String, String)>,
) -> Vec<(String, String)> {
    captures
        .into_iter()
        .map(|(key, value)| {
            let mut holders = params.iter().enumerate().filter(|(_, (_, k))| *k == key);
            let ty = match (holders.next(), holders.next()) {
                (Some((index, _)), None) => types.get(index).copied().unwrap_or_default(),
                _ => ParamType::Text,
            };
            let value = ty.canonical(&value);
            (key, value)
        })
        .collect()
}

/// Values per operation, found from a request by method and matched path (the layers run after
/// routing, so axum has put `MatchedPath` in the request).
#[derive(Debug)]
pub(crate) struct ByRoute<T> {
    /// Per route path, the values of its methods (a handful at most).
    table: HashMap<&'static str, Vec<(http::Method, T)>>,
}

impl<T> ByRoute<T> {
    /// The table of `entries`; the first entry of a route and method wins (operations sharing
    /// one route shape are rare).
    pub(crate) fn new(
        entries: impl IntoIterator<Item = (&'static OperationInfo, T)>,
    ) -> ByRoute<T> {
        let mut table: HashMap<&'static str, Vec<(http::Method, T)>> = HashMap::new();
        for (operation, value) in entries {
            let methods = table.entry(operation.path).or_default();
            if !methods
                .iter()
                .any(|(method, _)| *method == operation.method)
            {
                methods.push((operation.method.clone(), value));
            }
        }
        ByRoute { table }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The value of the request's operation (axum answers HEAD with the GET handler).
    pub(crate) fn get<B>(&self, request: &http::Request<B>) -> Option<&T> {
        if self.table.is_empty() {
            return None;
        }
        let path = request.extensions().get::<MatchedPath>()?.as_str();
        let methods = self.table.get(path)?;
        let found = |wanted: &http::Method| {
            methods
                .iter()
                .find(|(method, _)| method == wanted)
                .map(|(_, value)| value)
        };
        let method = request.method();
        found(method).or_else(|| {
            (method == http::Method::HEAD)
                .then(|| found(&http::Method::GET))
                .flatten()
        })
    }
}
