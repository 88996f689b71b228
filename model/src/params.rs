//! How a client writes one parameter of a request: where it goes (path, query, header,
//! cookie) and in which of OpenAPI's styles. The generator decides it once per parameter;
//! a generated client's `Request::to_call` and the load test both write by it, and the
//! server reads what it says.

/// Where and how one parameter value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// In place of `{name}` in the path, percent-encoded.
    Path,
    /// `?name=value`.
    Query,
    /// An array as repeated keys: `?name=a&name=b`.
    QueryExploded,
    /// An array as one value joined by the delimiter: `?name=a,b`.
    QueryDelimited(char),
    /// An object as `name[key]=value` pairs.
    QueryDeepObject,
    /// An object whose properties are top-level query keys.
    QueryFormObject,
    /// An object as one value of alternating keys and values: `?name=R,100,G,200`.
    QueryDelimitedObject,
    /// A JSON document as the value.
    QueryJson,
    /// A header of one value.
    Header,
    /// A header of comma-separated values.
    HeaderDelimited,
    /// A header whose value is a JSON document.
    HeaderJson,
    /// A cookie of one value.
    Cookie,
    /// A cookie of comma-separated values.
    CookieDelimited,
}
