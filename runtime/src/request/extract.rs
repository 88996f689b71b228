//! Typed request extraction used by generated handlers.
//!
//! Every function here turns raw request text into a typed value or an error that names the
//! parameter (or the body field) and says what is wrong, so a bad request always becomes a
//! 400/413/415/422 problem, never a panic or a 500.

use bytes::Bytes;
use http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::request::problem::{InvalidParam, Problem};
pub use crate::request::request_body::{body_limit, DEFAULT_BODY_LIMIT};

/// One parameter that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// Where the parameter is: `path`, `query`, `header`, `cookie` or `body`.
    pub location: &'static str,
    /// The parameter's name as the client sends it.
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ParamError {
    /// The error of parameter `name` in `location`.
    pub fn new(location: &'static str, name: &str, reason: impl Into<String>) -> Self {
        ParamError {
            location,
            name: name.to_owned(),
            reason: reason.into(),
        }
    }

    fn missing(location: &'static str, name: &str) -> Self {
        ParamError::new(location, name, "required but missing")
    }
}

impl From<ParamError> for InvalidParam {
    fn from(error: ParamError) -> Self {
        InvalidParam {
            location: error.location.to_owned(),
            name: error.name,
            reason: error.reason,
        }
    }
}

/// A 400 problem listing every parameter error of one request (generated code collects them all
/// before answering, so a client sees every mistake at once).
pub fn reject(errors: impl IntoIterator<Item = Option<ParamError>>) -> Problem {
    Problem::invalid_params(errors.into_iter().flatten().map(Into::into).collect())
}

/// [`reject`], naming also the parameters that were read but are out of their schema's bounds
/// (`out_of_bounds`, from `contract::check_params`): one 400 for every mistake of the request.
pub fn reject_with_bounds(
    errors: impl IntoIterator<Item = Option<ParamError>>,
    out_of_bounds: Result<(), Problem>,
) -> Problem {
    let mut invalid: Vec<InvalidParam> = errors.into_iter().flatten().map(Into::into).collect();
    if let Err(problem) = out_of_bounds {
        invalid.extend(problem.invalid_params);
    }
    Problem::invalid_params(invalid)
}

/// Turns an optional parameter into a required one.
pub fn required<T>(
    value: Result<Option<T>, ParamError>,
    location: &'static str,
    name: &str,
) -> Result<T, ParamError> {
    value.and_then(|value| value.ok_or_else(|| ParamError::missing(location, name)))
}

/// Parses one plain-text parameter value (`42`, `true`, `available`) into `T`.
pub fn parse_plain<T: DeserializeOwned>(
    raw: &str,
    location: &'static str,
    name: &str,
) -> Result<T, ParamError> {
    serde_plain::from_str(raw).map_err(|error| ParamError::new(location, name, error.to_string()))
}

/// One literal or parameter (by name) of a path segment such as `{id}.json` or
/// `{range}:append`, the model's.
pub type Piece = specjet_model::paths::Piece<&'static str>;

/// The path parameters captured by the router, one per templated segment.
#[derive(Debug, Default, Clone)]
pub struct PathParams {
    captures: Vec<(String, String)>,
}

impl PathParams {
    /// Reads the captures of the matched route from the request.
    pub async fn from_parts(parts: &mut http::request::Parts) -> Result<Self, Problem> {
        use axum::extract::FromRequestParts;
        let raw = axum::extract::RawPathParams::from_request_parts(parts, &())
            .await
            .map_err(|rejection| {
                Problem::new(StatusCode::BAD_REQUEST).with_detail(rejection.body_text())
            })?;
        Ok(PathParams {
            captures: raw
                .iter()
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .collect(),
        })
    }

    /// Builds the captures directly (tests and custom routers).
    pub fn from_captures(captures: Vec<(String, String)>) -> Self {
        PathParams { captures }
    }

    fn capture(&self, key: &str) -> Option<&str> {
        self.captures
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Splits the segment captured as `key` along `pieces`; `None` when its literals do not
    /// match (the request belongs to another operation with the same route shape).
    pub fn segment(&self, key: &str, pieces: &[Piece]) -> Option<Vec<String>> {
        split_segment(self.capture(key)?, pieces)
    }

    /// Parses parameter number `index` of the segment captured as `key`, split along
    /// `pieces` (`{id}.json`, `{range}:append`).
    pub fn piece<T: DeserializeOwned>(
        &self,
        key: &str,
        pieces: &[Piece],
        index: usize,
        name: &str,
    ) -> Result<T, ParamError> {
        let values = self
            .segment(key, pieces)
            .ok_or_else(|| ParamError::new("path", name, "the path does not match the template"))?;
        let raw = values
            .get(index)
            .ok_or_else(|| ParamError::missing("path", name))?;
        parse_plain(raw, "path", name)
    }

    /// Parses the whole segment captured as `key` as the parameter `name`.
    pub fn get<T: DeserializeOwned>(&self, key: &str, name: &str) -> Result<T, ParamError> {
        let raw = self
            .capture(key)
            .ok_or_else(|| ParamError::missing("path", name))?;
        parse_plain(raw, "path", name)
    }
}

/// Matches a segment against literals and parameters. A parameter followed by a literal ends
/// at that literal's first occurrence, except the last parameter, which ends at the segment's
/// trailing literal (so `a:b:append` against `{range}:append` captures `a:b`).
pub fn split_segment(segment: &str, pieces: &[Piece]) -> Option<Vec<String>> {
    let mut rest = segment;
    let mut values = Vec::new();
    for (index, piece) in pieces.iter().enumerate() {
        match piece {
            Piece::Literal(literal) => rest = rest.strip_prefix(literal)?,
            Piece::Param(_) => {
                let after = &pieces[index + 1..];
                let end = if after.iter().any(|piece| matches!(piece, Piece::Param(_))) {
                    // Another parameter follows: stop at the next literal's first occurrence.
                    let next_literal = after.iter().find_map(|piece| match piece {
                        Piece::Literal(literal) => Some(*literal),
                        Piece::Param(_) => None,
                    })?;
                    rest.find(next_literal)?
                } else {
                    // The last parameter: everything up to the trailing literals.
                    let tail: String = after
                        .iter()
                        .map(|piece| match piece {
                            Piece::Literal(literal) => *literal,
                            Piece::Param(_) => "",
                        })
                        .collect();
                    rest.strip_suffix(tail.as_str())?.len()
                };
                if end == 0 {
                    return None;
                }
                values.push(rest[..end].to_owned());
                rest = &rest[end..];
            }
        }
    }
    rest.is_empty().then_some(values)
}

/// The decoded query string as ordered `name=value` pairs.
#[derive(Debug, Default, Clone)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    /// The query string of `uri` (empty when it has none).
    pub fn from_uri(uri: &http::Uri) -> Self {
        QueryParams::parse(uri.query().unwrap_or(""))
    }

    /// Decodes a query string (without the `?`).
    pub fn parse(query: &str) -> Self {
        QueryParams {
            pairs: form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name || (k.ends_with("[]") && &k[..k.len() - 2] == name))
            .map(|(_, v)| v.as_str())
    }

    /// A single value (`?limit=10`); the first wins when repeated.
    pub fn scalar<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ParamError> {
        self.values(name)
            .next()
            .map(|raw| parse_plain(raw, "query", name))
            .transpose()
    }

    /// An array sent as repeated keys (`?tag=a&tag=b`, style form, explode true).
    pub fn exploded<T: DeserializeOwned>(&self, name: &str) -> Result<Option<Vec<T>>, ParamError> {
        let values: Vec<&str> = self.values(name).collect();
        if values.is_empty() {
            return Ok(None);
        }
        values
            .into_iter()
            .map(|raw| parse_plain(raw, "query", name))
            .collect::<Result<Vec<T>, _>>()
            .map(Some)
    }

    /// An array sent as one delimited value (`?tag=a,b`; `|` or space for the pipe- and
    /// space-delimited styles).
    pub fn delimited<T: DeserializeOwned>(
        &self,
        name: &str,
        delimiter: char,
    ) -> Result<Option<Vec<T>>, ParamError> {
        let values: Vec<&str> = self.values(name).collect();
        if values.is_empty() {
            return Ok(None);
        }
        values
            .into_iter()
            .flat_map(|value| value.split(delimiter))
            .filter(|part| !part.is_empty())
            .map(|raw| parse_plain(raw, "query", name))
            .collect::<Result<Vec<T>, _>>()
            .map(Some)
    }

    /// An object sent as `name[key]=value` pairs (style deepObject).
    pub fn deep_object<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ParamError> {
        let prefix = format!("{name}[");
        let inner: Vec<(&str, &str)> = self
            .pairs
            .iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix(&prefix)?;
                let key = key.strip_suffix(']').unwrap_or(key);
                Some((key, v.as_str()))
            })
            .collect();
        if inner.is_empty() {
            return Ok(None);
        }
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(inner)
            .finish();
        serde_html_form::from_str(&encoded)
            .map(Some)
            .map_err(|error| ParamError::new("query", name, error.to_string()))
    }

    /// An object whose properties are sent as top-level keys (style form, explode true).
    pub fn form_object<T: DeserializeOwned>(
        &self,
        name: &str,
        required: bool,
    ) -> Result<Option<T>, ParamError> {
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.pairs.iter())
            .finish();
        match serde_html_form::from_str(&encoded) {
            Ok(value) => Ok(Some(value)),
            Err(error) if required => Err(ParamError::new("query", name, error.to_string())),
            Err(_) => Ok(None),
        }
    }

    /// An object sent as one value of alternating keys and values (`?color=R,100,G,200`,
    /// style form without explode).
    pub fn delimited_object<T: DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, ParamError> {
        let Some(raw) = self.values(name).next() else {
            return Ok(None);
        };
        let items: Vec<&str> = raw.split(',').collect();
        if !items.len().is_multiple_of(2) {
            return Err(ParamError::new(
                "query",
                name,
                "expected comma-separated key,value pairs",
            ));
        }
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(items.chunks(2).map(|pair| (pair[0], pair[1])))
            .finish();
        serde_html_form::from_str(&encoded)
            .map(Some)
            .map_err(|error| ParamError::new("query", name, error.to_string()))
    }

    /// A parameter whose value is a JSON document (`content: application/json`).
    pub fn json<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ParamError> {
        self.values(name)
            .next()
            .map(|raw| {
                serde_json::from_str(raw)
                    .map_err(|error| ParamError::new("query", name, error.to_string()))
            })
            .transpose()
    }
}

/// Header parameters (style simple).
#[derive(Debug, Clone, Copy)]
pub struct HeaderParams<'a>(pub &'a HeaderMap);

impl HeaderParams<'_> {
    fn raw(&self, name: &str) -> Result<Option<&str>, ParamError> {
        self.0
            .get(name)
            .map(|value| {
                value
                    .to_str()
                    .map_err(|_| ParamError::new("header", name, "not visible ASCII"))
            })
            .transpose()
    }

    /// A single value (`X-Limit: 10`), surrounding whitespace trimmed.
    pub fn scalar<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ParamError> {
        self.raw(name)?
            .map(|raw| parse_plain(raw.trim(), "header", name))
            .transpose()
    }

    /// A comma-separated list (`X-Ids: 1, 2, 3`).
    pub fn delimited<T: DeserializeOwned>(&self, name: &str) -> Result<Option<Vec<T>>, ParamError> {
        self.raw(name)?
            .map(|raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|part| !part.is_empty())
                    .map(|part| parse_plain(part, "header", name))
                    .collect()
            })
            .transpose()
    }

    /// A header whose value is a JSON document (`content: application/json`).
    pub fn json<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ParamError> {
        self.raw(name)?
            .map(|raw| {
                serde_json::from_str(raw)
                    .map_err(|error| ParamError::new("header", name, error.to_string()))
            })
            .transpose()
    }
}

/// Cookie parameters, read from every `Cookie` header.
#[derive(Debug, Default, Clone)]
pub struct CookieParams {
    pairs: Vec<(String, String)>,
}

impl CookieParams {
    /// The `name=value` pairs of every `Cookie` header in `headers`.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let pairs = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|line| line.split(';'))
            .filter_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                Some((
                    name.trim().to_owned(),
                    value.trim().trim_matches('"').to_owned(),
                ))
            })
            .collect();
        CookieParams { pairs }
    }

    /// A single value (`Cookie: session=abc`); the first wins when repeated.
    pub fn scalar<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ParamError> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, raw)| parse_plain(raw, "cookie", name))
            .transpose()
    }

    /// A comma-separated list (`Cookie: ids=1,2,3`).
    pub fn delimited<T: DeserializeOwned>(&self, name: &str) -> Result<Option<Vec<T>>, ParamError> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, raw)| {
                raw.split(',')
                    .filter(|part| !part.is_empty())
                    .map(|part| parse_plain(part, "cookie", name))
                    .collect()
            })
            .transpose()
    }
}

/// A request body of a binary media type, as a stream of its chunks: `None` when the request
/// has none (a `Content-Length` of 0, or no body at all).
pub fn body_stream(
    parts: &http::request::Parts,
    body: axum::body::Body,
) -> Option<crate::request::request_body::BodyStream> {
    use http_body::Body as _;
    (!body.is_end_stream()).then(|| crate::request::request_body::BodyStream::new(parts, body))
}

/// Reads the whole body, refusing more than `limit` bytes with 413 and a body that cannot
/// be read (cut off, or a corrupt content-coding) with 400.
pub async fn read_body(body: axum::body::Body, limit: usize) -> Result<Bytes, Problem> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let error = error.into_inner();
        if error.is::<http_body_util::LengthLimitError>() {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE)
                .with_detail(format!("the request body is larger than {limit} bytes"))
        } else {
            Problem::new(StatusCode::BAD_REQUEST)
                .with_detail(format!("the request body could not be read: {error}"))
        }
    })
}

pub use crate::request::media::{is_json, media_matches, media_type};

/// 415 naming the media types the operation accepts.
pub fn unsupported_media_type(actual: Option<&str>, accepted: &[&str]) -> Problem {
    Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE).with_detail(format!(
        "content type `{}` is not accepted here; send one of: {}",
        actual.unwrap_or("(none)"),
        accepted.join(", ")
    ))
}

/// 400 for a required body that is missing.
pub fn missing_body() -> Problem {
    Problem::new(StatusCode::BAD_REQUEST).with_detail("a request body is required")
}

/// A JSON body: 400 when it is not JSON, 422 naming the field when it does not fit the schema.
pub fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let pointer = json_pointer(error.path());
        let inner = error.into_inner();
        let status = match inner.classify() {
            serde_json::error::Category::Data => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::BAD_REQUEST,
        };
        body_problem(status, pointer, inner.to_string())
    })?;
    deserializer
        .end()
        .map_err(|error| body_problem(StatusCode::BAD_REQUEST, String::new(), error.to_string()))?;
    Ok(value)
}

/// A JSON body already parsed (and checked against its schema): 422 naming the field serde
/// cannot read into `T`.
pub fn json_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Problem> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let pointer = json_pointer(error.path());
        body_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            pointer,
            error.into_inner().to_string(),
        )
    })
}

/// A `application/x-www-form-urlencoded` body, 422 naming the field when it does not fit.
pub fn form_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let deserializer = serde_html_form::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let pointer = json_pointer(error.path());
        body_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            pointer,
            error.into_inner().to_string(),
        )
    })
}

/// A text body; 400 when it is not UTF-8.
pub fn text_body(bytes: Bytes) -> Result<String, Problem> {
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        Problem::new(StatusCode::BAD_REQUEST).with_detail("the request body is not valid UTF-8")
    })
}

fn body_problem(status: StatusCode, pointer: String, reason: String) -> Problem {
    let mut problem = Problem::new(status).with_detail(if pointer.is_empty() {
        format!("invalid request body: {reason}")
    } else {
        format!("invalid request body at `{pointer}`: {reason}")
    });
    problem.invalid_params.push(InvalidParam {
        location: "body".to_owned(),
        name: pointer,
        reason,
    });
    problem
}

/// `owner.tags[2]` as the JSON pointer `/owner/tags/2`.
fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        pointer.push('/');
        match segment {
            Segment::Seq { index } => pointer.push_str(&index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"))
            }
            Segment::Unknown => pointer.push('?'),
        }
    }
    pointer
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn splits_segments_with_literals() {
        let pieces = [Piece::Param("p"), Piece::Literal(":append")];
        assert_eq!(
            split_segment("Sheet1!A1:B2:append", &pieces),
            Some(vec!["Sheet1!A1:B2".to_owned()])
        );
        assert_eq!(split_segment("Sheet1:clear", &pieces), None);
        let two = [
            Piece::Param("p"),
            Piece::Literal("-"),
            Piece::Param("p"),
            Piece::Literal(".json"),
        ];
        assert_eq!(
            split_segment("a-b-c.json", &two),
            Some(vec!["a".to_owned(), "b-c".to_owned()])
        );
        assert_eq!(
            split_segment(".json", &[Piece::Param("p"), Piece::Literal(".json")]),
            None
        );
        assert_eq!(
            split_segment("v1", &[Piece::Literal("v"), Piece::Param("p")]),
            Some(vec!["1".to_owned()])
        );
    }

    #[test]
    fn query_styles() {
        let query =
            QueryParams::parse("limit=10&tag=a&tag=b&ids=1,2,3&filter[min]=3&filter[name]=x%20y");
        assert_eq!(query.scalar::<i32>("limit").unwrap(), Some(10));
        assert_eq!(query.scalar::<i32>("missing").unwrap(), None);
        assert_eq!(
            query.exploded::<String>("tag").unwrap().unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            query.delimited::<u8>("ids", ',').unwrap().unwrap(),
            [1, 2, 3]
        );
        #[derive(Deserialize, Debug, PartialEq)]
        struct Filter {
            min: i64,
            name: String,
        }
        assert_eq!(
            query.deep_object::<Filter>("filter").unwrap(),
            Some(Filter {
                min: 3,
                name: "x y".into()
            })
        );
        #[derive(Deserialize, Debug, PartialEq)]
        #[allow(non_snake_case)]
        struct Color {
            R: u8,
            G: u8,
        }
        assert_eq!(
            QueryParams::parse("color=R,100,G,200")
                .delimited_object::<Color>("color")
                .unwrap(),
            Some(Color { R: 100, G: 200 })
        );
        assert!(QueryParams::parse("color=R,100,G")
            .delimited_object::<Color>("color")
            .is_err());
        let error = QueryParams::parse("limit=ten")
            .scalar::<i32>("limit")
            .unwrap_err();
        assert_eq!((error.location, error.name.as_str()), ("query", "limit"));
    }

    #[test]
    fn json_body_errors_name_the_field() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Pet {
            name: String,
            tags: Vec<i32>,
        }
        let problem = json_body::<Pet>(br#"{"name":"x","tags":[1,"two"]}"#).unwrap_err();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.invalid_params[0].name, "/tags/1");
        let problem = json_body::<Pet>(b"{not json").unwrap_err();
        assert_eq!(problem.status, 400);
        let problem = json_body::<Pet>(br#"{"name":"x","tags":[]} trailing"#).unwrap_err();
        assert_eq!(problem.status, 400);
    }

    #[test]
    fn media_type_matching() {
        assert!(media_matches(
            "application/json",
            "application/json; charset=utf-8"
        ));
        assert!(media_matches("image/png", "image/*"));
        assert!(media_matches("text/plain", "*/*"));
        assert!(media_matches(
            "application/merge-patch+json",
            "application/*+json"
        ));
        for (actual, declared) in [
            ("text/plain", "application/json"),
            ("application/problem+json", "application/json"),
            ("image/svg+json", "application/json"),
            ("application/json", "application/merge-patch+json"),
            ("text/json", "application/json"),
            ("application/json", "application/*+json"),
        ] {
            assert!(!media_matches(actual, declared), "{actual} for {declared}");
        }
    }

    #[test]
    fn cookies_and_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "session=abc; n=5".parse().unwrap());
        headers.insert("x-ids", "1, 2".parse().unwrap());
        let cookies = CookieParams::from_headers(&headers);
        assert_eq!(cookies.scalar::<i32>("n").unwrap(), Some(5));
        assert_eq!(
            cookies.scalar::<String>("session").unwrap().as_deref(),
            Some("abc")
        );
        assert_eq!(
            HeaderParams(&headers)
                .delimited::<i32>("x-ids")
                .unwrap()
                .unwrap(),
            [1, 2]
        );
    }
}
