//! One call as a generated client writes it ([`Call`]: the path, query, headers and body of
//! a request, encoded as the server reads them) and its answer as the client reads it
//! ([`Answer`]: status, headers and body, decoded into the spec's types).

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::{ClientError, Written};
use crate::problem::{self, Problem};

/// What a path segment keeps as it is (RFC 3986's unreserved characters); the rest is
/// percent-encoded, `/` included, so a value never adds a segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A request of one operation, being written: generated code sets its parameters and body,
/// the client sends it.
#[derive(Debug)]
pub struct Call {
    pub(crate) operation: &'static str,
    pub(crate) method: Method,
    path: String,
    query: Vec<(String, String)>,
    cookies: Vec<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) idempotent: bool,
    pub(crate) timeout: Option<Duration>,
    pub(crate) revalidated: bool,
    error: Option<String>,
}

impl Call {
    /// A call of `operation` (its `operationId`) on the path `template` (as the spec writes
    /// it, `{name}` for each path parameter). GET, HEAD, PUT, DELETE and OPTIONS are
    /// idempotent: the client may send them again.
    pub fn new(operation: &'static str, method: Method, template: &str) -> Call {
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        );
        Call {
            operation,
            method,
            path: template.to_owned(),
            query: Vec::new(),
            cookies: Vec::new(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            idempotent,
            timeout: None,
            revalidated: false,
            error: None,
        }
    }

    /// The operation's `x-timeout`: how long the client waits for an answer, retries
    /// included.
    pub fn with_timeout(mut self, timeout: Duration) -> Call {
        self.timeout = Some(timeout);
        self
    }

    /// Marks an operation the spec caches: the client keeps its answer and sends the call
    /// again with `If-None-Match`, reusing the answer on 304.
    pub fn revalidated(mut self) -> Call {
        self.revalidated = true;
        self
    }

    /// Marks the call safe to send again: it carries the idempotency key the spec declares.
    pub fn idempotent(&mut self) {
        self.idempotent = true;
    }

    fn fail(&mut self, name: &str, reason: impl std::fmt::Display) {
        if self.error.is_none() {
            self.error = Some(format!("`{name}`: {reason}"));
        }
    }

    /// The parameter `name` of the operation, written as `written` says (the generator
    /// decides it from the parameter's `in` and `style`).
    pub fn param<T: Serialize + ?Sized>(&mut self, written: Written, name: &str, value: &T) {
        let value = match serde_json::to_value(value) {
            Ok(value) => value,
            Err(reason) => return self.fail(name, reason),
        };
        let items = match &value {
            Value::Array(items) => items.as_slice(),
            other => std::slice::from_ref(other),
        };
        match written {
            Written::Path => self.path(name, &value),
            Written::Query => self.query(name, &value),
            Written::QueryExploded => self.query_exploded(name, items),
            Written::QueryDelimited(delimiter) => self.query_delimited(name, items, delimiter),
            Written::QueryDeepObject => self.query_deep_object(name, &value),
            Written::QueryFormObject => self.query_form_object(name, &value),
            Written::QueryDelimitedObject => self.query_delimited_object(name, &value),
            Written::QueryJson => self.query_json(name, &value),
            Written::Header => self.header(name, &value),
            Written::HeaderDelimited => self.header_delimited(name, items),
            Written::HeaderJson => self.header_json(name, &value),
            Written::Cookie => self.cookie(name, &value),
            Written::CookieDelimited => self.cookie_delimited(name, items),
        }
    }

    /// The path parameter `name`, in place of `{name}`, percent-encoded.
    fn path(&mut self, name: &str, value: &Value) {
        match plain(value) {
            Ok(text) => {
                let encoded = utf8_percent_encode(&text, SEGMENT).to_string();
                self.path = self.path.replace(&format!("{{{name}}}"), &encoded);
            }
            Err(reason) => self.fail(name, reason),
        }
    }

    fn pair(&mut self, name: &str, value: &str) {
        self.query.push((name.to_owned(), value.to_owned()));
    }

    /// A query parameter of one plain value (`?limit=10`).
    fn query(&mut self, name: &str, value: &Value) {
        match plain(value) {
            Ok(text) => self.pair(name, &text),
            Err(reason) => self.fail(name, reason),
        }
    }

    /// An array as repeated keys (`?tag=a&tag=b`).
    fn query_exploded(&mut self, name: &str, values: &[Value]) {
        for value in values {
            self.query(name, value);
        }
    }

    /// An array as one value joined by `delimiter` (`?tag=a,b`).
    fn query_delimited(&mut self, name: &str, values: &[Value], delimiter: char) {
        match joined(values, delimiter) {
            Ok(text) => self.pair(name, &text),
            Err(reason) => self.fail(name, reason),
        }
    }

    /// An object as `name[key]=value` pairs (style deepObject).
    fn query_deep_object(&mut self, name: &str, value: &Value) {
        match properties(value) {
            Ok(pairs) => {
                for (key, text) in pairs {
                    self.pair(&format!("{name}[{key}]"), &text);
                }
            }
            Err(reason) => self.fail(name, reason),
        }
    }

    /// An object whose properties are top-level query keys (style form, explode true).
    fn query_form_object(&mut self, name: &str, value: &Value) {
        match properties(value) {
            Ok(pairs) => {
                for (key, text) in pairs {
                    self.pair(&key, &text);
                }
            }
            Err(reason) => self.fail(name, reason),
        }
    }

    /// An object as one value of alternating keys and values (`?color=R,100,G,200`).
    fn query_delimited_object(&mut self, name: &str, value: &Value) {
        match properties(value) {
            Ok(pairs) => {
                let text: Vec<String> = pairs.into_iter().flat_map(|(k, v)| [k, v]).collect();
                self.pair(name, &text.join(","));
            }
            Err(reason) => self.fail(name, reason),
        }
    }

    /// A query parameter whose value is a JSON document.
    fn query_json(&mut self, name: &str, value: &Value) {
        self.pair(name, &value.to_string());
    }

    fn put_header(&mut self, name: &str, text: String) {
        match (
            HeaderName::try_from(name),
            HeaderValue::try_from(text.as_str()),
        ) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            _ => self.fail(name, "not a valid header value"),
        }
    }

    /// A header parameter of one plain value.
    fn header(&mut self, name: &str, value: &Value) {
        match plain(value) {
            Ok(text) => self.put_header(name, text),
            Err(reason) => self.fail(name, reason),
        }
    }

    /// A header parameter of several values, comma-separated.
    fn header_delimited(&mut self, name: &str, values: &[Value]) {
        match joined(values, ',') {
            Ok(text) => self.put_header(name, text),
            Err(reason) => self.fail(name, reason),
        }
    }

    /// A header parameter whose value is a JSON document.
    fn header_json(&mut self, name: &str, value: &Value) {
        self.put_header(name, value.to_string());
    }

    /// A cookie parameter of one plain value.
    fn cookie(&mut self, name: &str, value: &Value) {
        match plain(value) {
            Ok(text) => self.cookies.push(format!("{name}={text}")),
            Err(reason) => self.fail(name, reason),
        }
    }

    /// A cookie parameter of several values, comma-separated.
    fn cookie_delimited(&mut self, name: &str, values: &[Value]) {
        match joined(values, ',') {
            Ok(text) => self.cookies.push(format!("{name}={text}")),
            Err(reason) => self.fail(name, reason),
        }
    }

    fn set_body(&mut self, content_type: &str, body: Bytes) {
        match HeaderValue::try_from(content_type) {
            Ok(value) => {
                self.headers.insert(header::CONTENT_TYPE, value);
                self.body = body;
            }
            Err(_) => self.fail("body", "the media type is not a valid header value"),
        }
    }

    /// A JSON body.
    pub fn json<T: Serialize>(&mut self, content_type: &str, body: &T) {
        match serde_json::to_vec(body) {
            Ok(bytes) => self.set_body(content_type, bytes.into()),
            Err(reason) => self.fail("body", reason),
        }
    }

    /// An `application/x-www-form-urlencoded` body.
    pub fn form<T: Serialize>(&mut self, content_type: &str, body: &T) {
        match serde_html_form::to_string(body) {
            Ok(text) => self.set_body(content_type, text.into()),
            Err(reason) => self.fail("body", reason),
        }
    }

    /// A `multipart/*` body.
    pub fn multipart(&mut self, media_type: &str, form: &crate::MultipartForm) {
        let (boundary, body) = form.encode();
        self.set_body(&format!("{media_type}; boundary={boundary}"), body);
    }

    /// A body sent as it is (text, binary).
    pub fn raw(&mut self, content_type: &str, body: impl Into<Bytes>) {
        self.set_body(content_type, body.into());
    }

    /// What the client adds to every call: the path prefix, and the credentials that go in
    /// the query or in cookies.
    pub(crate) fn add_client_parts(
        &mut self,
        prefix: &str,
        query: &[(String, String)],
        cookies: &[String],
    ) {
        self.path.insert_str(0, prefix);
        for (name, value) in query {
            self.pair(name, value);
        }
        self.cookies.extend(cookies.iter().cloned());
    }

    /// The request to send: `path?query` (the transport puts it under its base URL), the
    /// headers and the body; an error names a value that cannot be written.
    pub(crate) fn into_request(mut self) -> Result<http::Request<Bytes>, ClientError> {
        if let Some(reason) = self.error.take() {
            return Err(ClientError::Encode {
                operation: self.operation,
                reason,
            });
        }
        if !self.cookies.is_empty() {
            let cookies = self.cookies.join("; ");
            self.put_header(header::COOKIE.as_str(), cookies);
            // Cookies may carry a credential: kept out of logs.
            if let Some(value) = self.headers.get_mut(header::COOKIE) {
                value.set_sensitive(true);
            }
            if let Some(reason) = self.error.take() {
                return Err(ClientError::Encode {
                    operation: self.operation,
                    reason,
                });
            }
        }
        let mut target = self.path;
        if !self.query.is_empty() {
            target.push('?');
            target.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&self.query)
                    .finish(),
            );
        }
        let uri = http::Uri::try_from(target).map_err(|error| ClientError::Encode {
            operation: self.operation,
            reason: error.to_string(),
        })?;
        let mut request = http::Request::new(self.body);
        *request.method_mut() = self.method;
        *request.uri_mut() = uri;
        *request.headers_mut() = self.headers;
        Ok(request)
    }
}

/// A value as the server parses a plain parameter (`42`, `true`, `available`).
fn plain(value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Null => Ok(String::new()),
        Value::Array(_) | Value::Object(_) => Err("not a plain value".to_owned()),
        other => Ok(other.to_string()),
    }
}

fn joined(values: &[Value], delimiter: char) -> Result<String, String> {
    let texts = values.iter().map(plain).collect::<Result<Vec<_>, _>>()?;
    Ok(texts.join(&delimiter.to_string()))
}

/// An object's properties as plain texts (absent and null ones left out; nested values as
/// JSON).
fn properties(value: &Value) -> Result<Vec<(String, String)>, String> {
    match value {
        Value::Object(map) => Ok(map
            .iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(key, value)| match value {
                Value::String(text) => (key.clone(), text.clone()),
                other => (key.clone(), other.to_string()),
            })
            .collect()),
        _ => Err("not an object".to_owned()),
    }
}

/// An answer the client received, being read by generated code into the operation's
/// `Response`.
#[derive(Debug)]
pub struct Answer {
    operation: &'static str,
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    pub(crate) fn new(operation: &'static str, response: http::Response<Bytes>) -> Answer {
        let (parts, body) = response.into_parts();
        Answer {
            operation,
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The answer's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn decode_error(&self, reason: impl std::fmt::Display) -> ClientError {
        ClientError::Decode {
            operation: self.operation,
            status: self.status,
            reason: reason.to_string(),
        }
    }

    /// The media type of the body, without parameters, lower-case.
    pub fn media_type(&self) -> Option<String> {
        crate::media::media_type(&self.headers)
    }

    /// Whether the body is a media type the spec declares as `declared` (wildcards match).
    pub fn is(&self, declared: &str) -> bool {
        self.media_type()
            .is_some_and(|media| crate::media::media_matches(&media, declared))
    }

    /// Whether the answer is `application/problem+json` (what the service's own policies
    /// answer with: limits, timeouts, bad requests).
    pub fn is_problem(&self) -> bool {
        self.media_type().as_deref() == Some(problem::CONTENT_TYPE)
    }

    /// The body as problem details; a body that is none becomes one of its status.
    pub fn problem(&self) -> Problem {
        let mut problem = serde_json::from_slice::<Problem>(&self.body).unwrap_or_else(|_| {
            let status = http::StatusCode::from_u16(self.status)
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
            let text = String::from_utf8_lossy(&self.body);
            let problem = Problem::new(status);
            if text.trim().is_empty() {
                problem
            } else {
                problem.with_detail(text.chars().take(512).collect::<String>())
            }
        });
        problem.retry_after = super::retry::retry_after(&self.headers)
            .map(|wait| u32::try_from(wait.as_secs()).unwrap_or(u32::MAX));
        problem
    }

    /// A JSON body.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        let body: &[u8] = if self.body.is_empty() {
            b"null"
        } else {
            &self.body
        };
        let deserializer = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let path = error.path().to_string();
            self.decode_error(format_args!("at `{path}`: {}", error.inner()))
        })
    }

    /// An `application/x-www-form-urlencoded` body.
    pub fn form<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_html_form::from_bytes(&self.body).map_err(|error| self.decode_error(error))
    }

    /// A text body.
    pub fn text(&self) -> Result<String, ClientError> {
        String::from_utf8(self.body.to_vec()).map_err(|error| self.decode_error(error))
    }

    /// The body's bytes.
    pub fn bytes(&self) -> Bytes {
        self.body.clone()
    }

    /// A `multipart/*` body.
    #[cfg(feature = "server")]
    pub async fn multipart(&self) -> Result<crate::MultipartForm, ClientError> {
        crate::MultipartForm::parse(&self.headers, self.body.clone())
            .await
            .map_err(|problem| self.decode_error(problem))
    }

    /// A header the answer declares, `None` when absent.
    pub fn header<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ClientError> {
        let Some(value) = self.headers.get(name) else {
            return Ok(None);
        };
        let text = value
            .to_str()
            .map_err(|_| self.decode_error(format_args!("header `{name}` is not visible ASCII")))?;
        header_value(text)
            .map(Some)
            .ok_or_else(|| self.decode_error(format_args!("header `{name}` is not its type")))
    }

    /// A header the answer must have.
    pub fn required_header<T: DeserializeOwned>(&self, name: &str) -> Result<T, ClientError> {
        self.header(name)?
            .ok_or_else(|| self.decode_error(format_args!("header `{name}` is missing")))
    }

    /// An answer no documented response matches.
    pub fn undocumented(&self) -> ClientError {
        self.decode_error("the status or media type is not one the spec documents")
    }
}

/// A header's text as `T`, as the server writes it (`respond::header`): a plain value, a
/// JSON value, or comma-separated items.
fn header_value<T: DeserializeOwned>(text: &str) -> Option<T> {
    let text = text.trim();
    if let Ok(value) = serde_plain::from_str(text) {
        return Some(value);
    }
    if let Ok(value) = serde_json::from_str(text) {
        return Some(value);
    }
    if let Ok(value) = serde_json::from_value(Value::String(text.to_owned())) {
        return Some(value);
    }
    let items = text
        .split(',')
        .map(|item| {
            let item = item.trim();
            serde_json::from_str(item).unwrap_or_else(|_| Value::String(item.to_owned()))
        })
        .collect();
    serde_json::from_value(Value::Array(items)).ok()
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_written_as_the_server_reads_them() {
        let mut call = Call::new("op", Method::GET, "/files/{name}.json/{id}");
        call.param(Written::Path, "name", "a b/c");
        call.param(Written::Path, "id", &7);
        call.param(Written::Query, "limit", &10);
        call.param(Written::QueryExploded, "tag", &["x", "y z"]);
        call.param(Written::QueryDelimited('|'), "ids", &[1, 2]);
        call.param(
            Written::QueryDeepObject,
            "filter",
            &serde_json::json!({"min": 1, "name": "n", "gone": null}),
        );
        call.param(Written::Cookie, "session", "abc");
        call.param(Written::HeaderDelimited, "x-ids", &[3, 4]);
        let request = call.into_request().unwrap();
        assert_eq!(request.uri().path(), "/files/a%20b%2Fc.json/7");
        let query = crate::extract::QueryParams::from_uri(request.uri());
        assert_eq!(query.scalar::<u32>("limit").unwrap(), Some(10));
        assert_eq!(
            query.exploded::<String>("tag").unwrap(),
            Some(vec!["x".to_owned(), "y z".to_owned()])
        );
        assert_eq!(query.delimited::<u8>("ids", '|').unwrap(), Some(vec![1, 2]));
        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct Filter {
            min: u8,
            name: String,
        }
        assert_eq!(
            query.deep_object::<Filter>("filter").unwrap(),
            Some(Filter {
                min: 1,
                name: "n".to_owned()
            })
        );
        let headers = crate::extract::HeaderParams(request.headers());
        assert_eq!(headers.delimited::<u8>("x-ids").unwrap(), Some(vec![3, 4]));
        let cookies = crate::extract::CookieParams::from_headers(request.headers());
        assert_eq!(
            cookies.scalar::<String>("session").unwrap().as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn a_value_that_cannot_be_written_is_an_error_naming_it() {
        let mut call = Call::new("op", Method::GET, "/x");
        call.param(Written::Query, "filter", &serde_json::json!({"a": 1}));
        let error = call.into_request().unwrap_err();
        assert!(error.to_string().contains("`filter`"), "{error}");
    }

    #[test]
    fn headers_read_back_as_the_server_writes_them() {
        assert_eq!(header_value::<u32>("42"), Some(42));
        assert_eq!(header_value::<String>("abc, d"), Some("abc, d".to_owned()));
        assert_eq!(header_value::<Vec<u32>>("1,2, 3"), Some(vec![1, 2, 3]));
        assert_eq!(header_value::<u32>("x"), None);
    }
}
