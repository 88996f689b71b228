//! `multipart/*` bodies: read whole from requests (the body is already size-bounded), and
//! written whole into responses.

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
    /// Parses `body` with the boundary named in the `Content-Type` (any `multipart/*`).
    pub async fn parse(headers: &HeaderMap, body: Bytes) -> Result<Self, Problem> {
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        // Any `multipart/*` type (multer's own reading takes only `multipart/form-data`).
        let boundary = content_type
            .parse::<mime::Mime>()
            .ok()
            .filter(|media| media.type_() == mime::MULTIPART)
            .and_then(|media| {
                media
                    .get_param(mime::BOUNDARY)
                    .map(|b| b.as_str().to_owned())
            })
            .ok_or_else(|| {
                Problem::new(StatusCode::BAD_REQUEST).with_detail(
                    "multipart body: the Content-Type is not `multipart/*` with a boundary",
                )
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

    /// The body as `multipart/*` bytes, and the boundary it uses: one that occurs in no part,
    /// taken from a digest of the parts, so that the same form is always the same bytes (and
    /// the same `ETag`).
    pub fn encode(&self) -> (String, Bytes) {
        let boundary = self.boundary();
        let mut body = Vec::with_capacity(
            self.parts
                .iter()
                .map(|part| part.data.len() + 128)
                .sum::<usize>()
                + 64,
        );
        for part in &self.parts {
            body.extend_from_slice(b"--");
            body.extend_from_slice(boundary.as_bytes());
            body.extend_from_slice(b"\r\nContent-Disposition: form-data");
            if let Some(name) = &part.name {
                body.extend_from_slice(format!("; name=\"{}\"", quoted(name)).as_bytes());
            }
            if let Some(file_name) = &part.file_name {
                body.extend_from_slice(format!("; filename=\"{}\"", quoted(file_name)).as_bytes());
            }
            if let Some(content_type) = &part.content_type {
                let content_type: String =
                    content_type.chars().filter(|c| !c.is_control()).collect();
                body.extend_from_slice(format!("\r\nContent-Type: {content_type}").as_bytes());
            }
            body.extend_from_slice(b"\r\n\r\n");
            body.extend_from_slice(&part.data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--");
        body.extend_from_slice(boundary.as_bytes());
        body.extend_from_slice(b"--\r\n");
        (boundary, Bytes::from(body))
    }

    fn boundary(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut digest = Sha256::new();
        for part in &self.parts {
            digest.update(&part.data);
        }
        let mut seed = digest.finalize().to_vec();
        loop {
            let hex: String = seed[..12]
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect();
            let boundary = format!("specjet-{hex}");
            let taken = self.parts.iter().any(|part| {
                part.data
                    .windows(boundary.len())
                    .any(|window| window == boundary.as_bytes())
            });
            if !taken {
                return boundary;
            }
            seed = Sha256::digest(&seed).to_vec();
        }
    }
}

/// A name inside a quoted `Content-Disposition` parameter: quotes and line breaks
/// percent-encoded, as browsers send them.
fn quoted(name: &str) -> String {
    name.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_encoded_form_reads_back_as_the_same_parts() {
        let form = MultipartForm {
            parts: vec![
                Part {
                    name: Some("note".to_owned()),
                    file_name: None,
                    content_type: None,
                    data: Bytes::from_static(b"hello"),
                },
                Part {
                    name: Some("file \"a\"".to_owned()),
                    file_name: Some("a.bin".to_owned()),
                    content_type: Some("application/octet-stream".to_owned()),
                    // Bytes that look like a boundary line do not end the part.
                    data: Bytes::from_static(b"\r\n--specjet-\r\n\x00\xff"),
                },
            ],
        };
        let (boundary, body) = form.encode();
        assert_eq!(form.encode().1, body, "the same form is the same bytes");
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}")
                .parse()
                .unwrap(),
        );
        let read = MultipartForm::parse(&headers, body).await.unwrap();
        assert_eq!(read.parts.len(), 2);
        assert_eq!(read.text("note"), Some("hello"));
        assert_eq!(read.parts[1].name.as_deref(), Some("file %22a%22"));
        assert_eq!(read.parts[1].file_name.as_deref(), Some("a.bin"));
        assert_eq!(read.parts[1].data, form.parts[1].data);
        assert_eq!(
            read.parts[1].content_type.as_deref(),
            Some("application/octet-stream")
        );
    }

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
