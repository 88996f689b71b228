//! `multipart/*` bodies: read from requests whole ([`MultipartForm`], the body already
//! size-bounded) or, for a body that uploads files, part by part as it arrives
//! ([`MultipartStream`]); written whole into responses.

#[cfg(feature = "server")]
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
#[cfg(feature = "server")]
use futures_util::StreamExt;
#[cfg(feature = "server")]
use http::{HeaderMap, StatusCode};

#[cfg(feature = "server")]
use crate::request::problem::Problem;
#[cfg(feature = "server")]
use crate::request::stream::BodyStream;

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
    #[cfg(feature = "server")]
    /// Parses `body` with the boundary named in the `Content-Type` (any `multipart/*`).
    pub async fn parse(headers: &HeaderMap, body: Bytes) -> Result<Self, Problem> {
        MultipartStream::new(headers, BodyStream::from(body))?
            .collect()
            .await
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

#[cfg(feature = "server")]
/// A multipart request body read as it arrives, part by part: each part's content is read
/// as a stream of chunks ([`PartStream::chunk`]) or whole ([`PartStream::bytes`]), so a
/// file goes where the handler puts it without being held whole. The body's bounds apply
/// as bytes arrive (`max-upload-size`: 413; a pause past `body-timeout`: 408); a malformed
/// body is 400.
pub struct MultipartStream {
    inner: multer::Multipart<'static>,
    /// Why the body ended early, when it did (413, 408): multer only says that it did.
    failure: Arc<Mutex<Option<Problem>>>,
}

#[cfg(feature = "server")]
impl std::fmt::Debug for MultipartStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultipartStream").finish_non_exhaustive()
    }
}

#[cfg(feature = "server")]
impl MultipartStream {
    /// Reads `body` with the boundary named in `headers`' `Content-Type` (any `multipart/*`);
    /// 400 without one.
    pub fn new(headers: &HeaderMap, body: BodyStream) -> Result<MultipartStream, Problem> {
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
        let failure = Arc::new(Mutex::new(None));
        let noted = failure.clone();
        let chunks = body.map(move |chunk| {
            chunk.map_err(|problem| {
                *noted.lock().unwrap_or_else(PoisonError::into_inner) = Some(problem);
                std::io::Error::other("the request body ended early")
            })
        });
        Ok(MultipartStream {
            inner: multer::Multipart::new(chunks, boundary),
            failure,
        })
    }

    /// The next part, once its headers have arrived; `None` after the last.
    pub async fn next_part(&mut self) -> Result<Option<PartStream>, Problem> {
        match self.inner.next_field().await {
            Ok(field) => Ok(field.map(|field| PartStream {
                content_type: field.content_type().map(ToString::to_string),
                field,
                failure: self.failure.clone(),
            })),
            Err(error) => Err(problem(&self.failure, &error)),
        }
    }

    /// The rest of the body, each part read whole.
    pub async fn collect(mut self) -> Result<MultipartForm, Problem> {
        let mut parts = Vec::new();
        while let Some(part) = self.next_part().await? {
            let name = part.name().map(str::to_owned);
            let file_name = part.file_name().map(str::to_owned);
            let content_type = part.content_type().map(str::to_owned);
            let data = part.bytes().await?;
            parts.push(Part {
                name,
                file_name,
                content_type,
                data,
            });
        }
        Ok(MultipartForm { parts })
    }
}

#[cfg(feature = "server")]
/// One part of a [`MultipartStream`], its content read as it arrives.
pub struct PartStream {
    field: multer::Field<'static>,
    content_type: Option<String>,
    failure: Arc<Mutex<Option<Problem>>>,
}

#[cfg(feature = "server")]
impl std::fmt::Debug for PartStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartStream")
            .field("name", &self.name())
            .field("file_name", &self.file_name())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "server")]
impl PartStream {
    /// The form field's name (`Content-Disposition: form-data; name=...`).
    pub fn name(&self) -> Option<&str> {
        self.field.name()
    }

    /// The uploaded file's name, when the part is a file.
    pub fn file_name(&self) -> Option<&str> {
        self.field.file_name()
    }

    /// The part's own `Content-Type`.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The next chunk of the part's content; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Problem> {
        self.field
            .chunk()
            .await
            .map_err(|error| problem(&self.failure, &error))
    }

    /// The rest of the part's content, whole.
    pub async fn bytes(self) -> Result<Bytes, Problem> {
        let PartStream { field, failure, .. } = self;
        field
            .bytes()
            .await
            .map_err(|error| problem(&failure, &error))
    }
}

#[cfg(feature = "server")]
/// The body's own problem when it ended early (413, 408), else 400 naming multer's error.
fn problem(failure: &Mutex<Option<Problem>>, error: &multer::Error) -> Problem {
    failure
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .unwrap_or_else(|| {
            Problem::new(StatusCode::BAD_REQUEST).with_detail(format!("multipart body: {error}"))
        })
}

#[cfg(all(test, feature = "server"))]
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
