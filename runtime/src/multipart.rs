//! `multipart/form-data` bodies, read whole (the body is already size-bounded).

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use crate::problem::Problem;

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The form field's name (`Content-Disposition: form-data; name=...`).
    pub name: Option<String>,
    /// The uploaded file's name, when the part is a file.
    pub file_name: Option<String>,
    /// The part's own `Content-Type`.
    pub content_type: Option<String>,
    /// The part's content.
    pub data: Bytes,
}

/// A multipart body: its parts in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MultipartForm {
    /// Every part, in the order of the body.
    pub parts: Vec<Part>,
}

impl MultipartForm {
    /// Parses `body` with the boundary named in the request's `Content-Type`.
    pub async fn parse(headers: &HeaderMap, body: Bytes) -> Result<Self, Problem> {
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let boundary = multer::parse_boundary(content_type).map_err(|error| {
            Problem::new(StatusCode::BAD_REQUEST).with_detail(format!("multipart body: {error}"))
        })?;
        let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        let mut parts = Vec::new();
        let bad = |error: multer::Error| {
            Problem::new(StatusCode::BAD_REQUEST).with_detail(format!("multipart body: {error}"))
        };
        while let Some(field) = multipart.next_field().await.map_err(bad)? {
            let name = field.name().map(str::to_owned);
            let file_name = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(ToString::to_string);
            let data = field.bytes().await.map_err(bad)?;
            parts.push(Part {
                name,
                file_name,
                content_type,
                data,
            });
        }
        Ok(MultipartForm { parts })
    }

    /// The first part with this name.
    pub fn part(&self, name: &str) -> Option<&Part> {
        self.parts
            .iter()
            .find(|part| part.name.as_deref() == Some(name))
    }

    /// The first part with this name as UTF-8 text.
    pub fn text(&self, name: &str) -> Option<&str> {
        std::str::from_utf8(&self.part(name)?.data).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parses_named_parts() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            "multipart/form-data; boundary=XyZ".parse().unwrap(),
        );
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nabc\r\n--XyZ--\r\n";
        let form = MultipartForm::parse(&headers, Bytes::from(body))
            .await
            .unwrap();
        assert_eq!(form.text("title"), Some("hello"));
        let file = form.part("file").unwrap();
        assert_eq!(file.file_name.as_deref(), Some("a.txt"));
        assert_eq!(&file.data[..], b"abc");
    }

    #[tokio::test]
    async fn missing_boundary_is_a_400() {
        let problem = MultipartForm::parse(&HeaderMap::new(), Bytes::new())
            .await
            .unwrap_err();
        assert_eq!(problem.status, 400);
    }
}
