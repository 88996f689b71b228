//! The service generated from `tests/compile/specs/streams.yaml`: server-sent events (JSON and
//! text data), items as NDJSON and as a JSON text sequence, each sent as the handler yields
//! it (not at the end), never cached, event streams never compressed, a silent producer
//! ending an item stream at the operation's `x-timeout`, and `Last-Event-ID` handed to the
//! handler of a reconnecting client; and uploads read as they arrive, bounded by
//! `max-upload-size` and `body-timeout` rather than by the limit on bodies read whole; and
//! at most `streams-per-caller` streams held by one caller.

use std::time::Duration;

use futures_util::StreamExt;
use specjet::axum::body::Body;
use specjet::http::{Request, StatusCode};
use specjet::serde_json;
use specjet::stream::{Event, EventStream, ItemStream};
use specjet_compile_tests::streams::operations::{
    download, export, import_records, log, note, ticks, upload, upload_photo,
};
use specjet_compile_tests::streams::types::{Received, Record};
use specjet_compile_tests::streams::{router_with, settings, Api};
use tokio::sync::mpsc;
use tower::ServiceExt;

/// The handlers; `ticks` sends what the test pushes into its channel, after the event the
/// client last received.
#[derive(Clone)]
struct Handlers {
    ticks: std::sync::Arc<std::sync::Mutex<Option<mpsc::Receiver<i64>>>>,
    /// The size of each chunk of an upload, as the handler reads it.
    upload_chunks: mpsc::UnboundedSender<usize>,
}

impl Api for Handlers {
    async fn upload(&self, request: upload::Request) -> upload::Response {
        let (media, mut chunks) = match request.body {
            upload::Body::Binary(chunks) => ("octet-stream", chunks),
            upload::Body::Png(chunks) => ("png", chunks),
        };
        let mut received = Received {
            bytes: 0,
            chunks: 0,
            media: media.to_owned(),
        };
        while let Some(chunk) = chunks.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                // Past `max-upload-size` or stalled: the answer is the stream's problem.
                Err(problem) => return problem.into(),
            };
            received.bytes += chunk.len() as i64;
            received.chunks += 1;
            let _ = self.upload_chunks.send(chunk.len());
        }
        upload::Response::Ok(received)
    }

    async fn import_records(&self, request: import_records::Request) -> import_records::Response {
        let (media, mut records) = match request.body {
            import_records::Body::XNdjson(records) => ("x-ndjson", records),
            import_records::Body::JsonSeq(records) => ("json-seq", records),
        };
        let mut received = Received {
            bytes: 0,
            chunks: 0,
            media: media.to_owned(),
        };
        while let Some(record) = records.next().await {
            let record = match record {
                Ok(record) => record,
                Err(problem) => return problem.into(),
            };
            received.bytes += record.id;
            received.chunks += 1;
            let _ = self.upload_chunks.send(record.id as usize);
        }
        import_records::Response::Ok(received)
    }

    async fn upload_photo(&self, request: upload_photo::Request) -> upload_photo::Response {
        let mut form = request.body;
        let mut received = Received {
            bytes: 0,
            chunks: 0,
            media: String::new(),
        };
        loop {
            let mut part = match form.next_part().await {
                Ok(Some(part)) => part,
                Ok(None) => break,
                Err(problem) => return problem.into(),
            };
            if part.name() == Some("caption") {
                match part.bytes().await {
                    Ok(caption) => received.media = String::from_utf8_lossy(&caption).into(),
                    Err(problem) => return problem.into(),
                }
                continue;
            }
            loop {
                match part.chunk().await {
                    Ok(Some(chunk)) => {
                        received.bytes += chunk.len() as i64;
                        received.chunks += 1;
                        let _ = self.upload_chunks.send(chunk.len());
                    }
                    Ok(None) => break,
                    Err(problem) => return problem.into(),
                }
            }
        }
        upload_photo::Response::Ok(received)
    }

    async fn note(&self, _request: note::Request) -> note::Response {
        note::Response::NoContent
    }

    async fn ticks(&self, request: ticks::Request) -> ticks::Response {
        let resume_after: i64 = request
            .last_event_id
            .as_deref()
            .and_then(|id| id.parse().ok())
            .unwrap_or(0);
        let receiver = self.ticks.lock().unwrap().take().expect("one stream");
        let events = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|n| (n, receiver))
        })
        .filter(move |n| std::future::ready(*n > resume_after))
        .map(|n| Event::new(ticks::OkBody { n }).with_id(n.to_string()));
        ticks::Response::Ok(EventStream::new(events))
    }

    async fn log(&self, _request: log::Request) -> log::Response {
        let lines = ["started", "two\nlines"].map(|line| Event::new(line.to_owned()));
        log::Response::Ok(EventStream::new(futures_util::stream::iter(lines)))
    }

    async fn download(&self, request: download::Request) -> download::Response {
        if request.whole {
            // Whole bytes are a stream of one chunk.
            return download::Response::Ok(specjet::bytes::Bytes::from_static(b"whole").into());
        }
        let chunks = futures_util::stream::iter(["chunk 1, ", "chunk 2"])
            .map(|chunk| Ok(specjet::bytes::Bytes::from(chunk)));
        download::Response::Ok(specjet::stream::ByteStream::new(chunks))
    }

    async fn export(&self, request: export::Request) -> export::Response {
        let count = i64::from(request.count);
        let records = futures_util::stream::iter(0..count).map(|id| Record {
            id,
            name: format!("record {id}"),
        });
        let sequence = request
            .parts
            .headers
            .get("accept")
            .is_some_and(|accept| accept == "application/json-seq");
        export::Response::Ok(if sequence {
            export::OkBody::JsonSeq(ItemStream::new(records))
        } else if count == 0 {
            // A producer that never yields: the operation's `x-timeout` (500 ms) ends it.
            export::OkBody::XNdjson(ItemStream::new(futures_util::stream::pending()))
        } else {
            export::OkBody::XNdjson(ItemStream::new(records))
        })
    }
}

fn service() -> (specjet::axum::Router, mpsc::Sender<i64>) {
    let (router, ticks, _) = service_with_uploads();
    (router, ticks)
}

/// The service, the sender of its ticks and the receiver of the chunk sizes its uploads read.
fn service_with_uploads() -> (
    specjet::axum::Router,
    mpsc::Sender<i64>,
    mpsc::UnboundedReceiver<usize>,
) {
    let (sender, receiver) = mpsc::channel(16);
    let (upload_chunks, chunk_sizes) = mpsc::unbounded_channel();
    let handlers = Handlers {
        ticks: std::sync::Arc::new(std::sync::Mutex::new(Some(receiver))),
        upload_chunks,
    };
    let router = router_with(handlers, &specjet::Services::new(settings(), None));
    (router, sender, chunk_sizes)
}

/// A `PUT /uploads` of `media` whose body is what the test sends into the returned channel,
/// as it sends it; dropping the sender ends the body.
fn upload_request(media: &str) -> (Request<Body>, mpsc::Sender<specjet::bytes::Bytes>) {
    sent_request("/uploads", media)
}

/// A `PUT` or `POST` (`/records`) of `media` to `path` whose body is what the test sends
/// into the returned channel.
fn sent_request(path: &str, media: &str) -> (Request<Body>, mpsc::Sender<specjet::bytes::Bytes>) {
    let (sender, receiver) = mpsc::channel::<specjet::bytes::Bytes>(4);
    let chunks = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(chunk), receiver))
    });
    let method = if path == "/records" { "POST" } else { "PUT" };
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", media)
        .body(Body::from_stream(chunks))
        .unwrap();
    (request, sender)
}

async fn json_of(response: specjet::http::Response<Body>) -> serde_json::Value {
    let body = specjet::axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

fn get(path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn events_arrive_as_they_are_sent_and_resume_after_the_last_event_id() {
    let (router, ticks) = service();
    // Even asked with compression: each event must reach the client when it is sent.
    let response = router
        .oneshot(get(
            "/ticks",
            &[("accept-encoding", "gzip"), ("last-event-id", "1")],
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(response.headers().get("content-encoding").is_none());
    assert!(
        response.headers().get("cache-status").is_none(),
        "never cached, though the spec says x-cache-ttl"
    );
    let mut body = response.into_body().into_data_stream();
    ticks.send(1).await.unwrap(); // before the client's last event: skipped
    ticks.send(2).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(2), body.next())
        .await
        .expect("the event arrives before the stream ends")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"id: 2\ndata: {\"n\":2}\n\n");
    ticks.send(3).await.unwrap();
    let second = body.next().await.unwrap().unwrap();
    assert_eq!(&second[..], b"id: 3\ndata: {\"n\":3}\n\n");
    drop(ticks);
    assert!(body.next().await.is_none(), "ends with its producer");
}

#[tokio::test]
async fn text_events_and_items_are_framed_as_their_media_types_say() {
    let (router, _) = service();
    let response = router.clone().oneshot(get("/log", &[])).await.unwrap();
    let text = specjet::axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(&text[..], b"data: started\n\ndata: two\ndata: lines\n\n");

    let response = router.clone().oneshot(get("/export", &[])).await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let lines = specjet::axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&lines),
        "{\"id\":0,\"name\":\"record 0\"}\n{\"id\":1,\"name\":\"record 1\"}\n{\"id\":2,\"name\":\"record 2\"}\n"
    );
    let response = router
        .clone()
        .oneshot(get(
            "/export?count=2",
            &[("accept", "application/json-seq")],
        ))
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/json-seq");
    let sequence = specjet::axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&sequence),
        "\u{1e}{\"id\":0,\"name\":\"record 0\"}\n\u{1e}{\"id\":1,\"name\":\"record 1\"}\n"
    );
}

#[tokio::test]
async fn a_silent_producer_ends_at_the_operations_timeout_and_streams_are_counted() {
    let (router, _) = service();
    let started = std::time::Instant::now();
    let response = router
        .clone()
        .oneshot(get("/export?count=0", &[]))
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the first byte came at once"
    );
    let body = specjet::axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert!(body.is_empty());
    let took = started.elapsed();
    assert!(
        (Duration::from_millis(450)..Duration::from_secs(3)).contains(&took),
        "ended after its 500 ms x-timeout of silence: {took:?}"
    );
    let big = router
        .oneshot(get("/export?count=1000", &[]))
        .await
        .unwrap();
    let _ = specjet::axum::body::to_bytes(big.into_body(), usize::MAX)
        .await
        .unwrap();
    let metrics = specjet::metrics::render().await;
    let metrics = specjet::axum::body::to_bytes(metrics.into_body(), usize::MAX)
        .await
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("specjet_stream_items_total{operation=\"export\"}")),
        "{metrics}"
    );
    assert!(
        metrics.contains("specjet_stream_duration_seconds"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_binary_answer_is_a_byte_stream_or_whole_bytes() {
    let (router, _) = service();
    for (path, expected) in [
        ("/download", "chunk 1, chunk 2"),
        ("/download?whole=true", "whole"),
    ] {
        let response = router.clone().oneshot(get(path, &[])).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"],
            "application/octet-stream"
        );
        let body = specjet::axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&body[..], expected.as_bytes(), "{path}");
    }
}

#[tokio::test]
async fn an_upload_reaches_the_handler_as_it_arrives_past_the_limit_on_whole_bodies() {
    let (router, _, mut chunk_sizes) = service_with_uploads();
    let (request, body) = upload_request("application/octet-stream");
    let answer = tokio::spawn(router.clone().oneshot(request));
    body.send(vec![1u8; 4096].into()).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(2), chunk_sizes.recv())
        .await
        .expect("the handler reads the first chunk before the body ends");
    assert_eq!(first, Some(4096));
    body.send(vec![2u8; 8192].into()).await.unwrap();
    drop(body);
    let response = answer.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // 12 KiB: more than `max-request-size` (1 KiB), which bounds bodies read whole only.
    assert_eq!(
        json_of(response).await,
        serde_json::json!({"bytes": 12288, "chunks": 2, "media": "octet-stream"})
    );

    // A JSON body is still read whole, and bounded by `max-request-size`.
    let note = Request::post("/notes")
        .header("content-type", "application/json")
        .body(Body::from(format!(
            "{{\"id\": 1, \"name\": \"{}\"}}",
            "n".repeat(2048)
        )))
        .unwrap();
    let response = router.oneshot(note).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn an_upload_past_max_upload_size_ends_in_413_and_a_stalled_one_in_408() {
    let (router, _, _chunk_sizes) = service_with_uploads();
    let (request, body) = upload_request("image/png");
    let answer = tokio::spawn(router.clone().oneshot(request));
    // 64 KiB is the limit: the ninth chunk of 8 KiB passes it.
    let sent = tokio::spawn(async move {
        for _ in 0..16 {
            if body.send(vec![0u8; 8192].into()).await.is_err() {
                break; // the service stopped reading
            }
        }
    });
    let response = answer.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let problem = json_of(response).await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("65536")),
        "{problem}"
    );
    sent.await.unwrap();

    let (request, body) = upload_request("application/octet-stream");
    let started = std::time::Instant::now();
    let answer = tokio::spawn(router.clone().oneshot(request));
    body.send(vec![0u8; 100].into()).await.unwrap();
    // ... and then nothing, the connection held open: `body-timeout` (300 ms) ends it.
    let response = tokio::time::timeout(Duration::from_secs(3), answer)
        .await
        .expect("a stalled upload is answered")
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(started.elapsed() >= Duration::from_millis(250));
    drop(body);

    let missing = Request::put("/uploads")
        .header("content-type", "application/octet-stream")
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(missing).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (request, _body) = upload_request("text/plain");
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn a_caller_holds_at_most_streams_per_caller_streams_at_once() {
    let (router, _) = service();
    let from = |ip: &str| {
        let mut request = get("/export?count=0", &[]);
        let peer: std::net::SocketAddr = format!("{ip}:40000").parse().unwrap();
        request
            .extensions_mut()
            .insert(specjet::axum::extract::ConnectInfo(peer));
        request
    };
    // Two silent streams held open by one client (each would end after 500 ms of silence).
    let first = router.clone().oneshot(from("10.0.0.1")).await.unwrap();
    let second = router.clone().oneshot(from("10.0.0.1")).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::OK);
    let third = router.clone().oneshot(from("10.0.0.1")).await.unwrap();
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(third.headers().contains_key("retry-after"));
    // Another client is not held back by the first one's streams.
    let other = router.clone().oneshot(from("10.0.0.2")).await.unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    // A client gone (its answer's body dropped) gives its stream back.
    drop(first);
    let again = router.clone().oneshot(from("10.0.0.1")).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    // Answers that are not streams are not counted.
    let download = router.oneshot(get("/download", &[])).await.unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    drop((second, other, again));
}

#[tokio::test]
async fn records_reach_the_handler_one_by_one_as_they_arrive() {
    let (router, _, mut ids) = service_with_uploads();
    let (request, body) = sent_request("/records", "application/x-ndjson");
    let answer = tokio::spawn(router.clone().oneshot(request));
    // The first record whole and half of the second: the first is read at once.
    body.send("{\"id\": 1, \"name\": \"a\"}\n{\"id\": 2,".into())
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(2), ids.recv())
        .await
        .expect("the first record is read before the body ends");
    assert_eq!(first, Some(1));
    body.send(" \"name\": \"b\"}\n\n{\"id\": 4, \"name\": \"d\"}".into())
        .await
        .unwrap();
    drop(body);
    let response = answer.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        json_of(response).await,
        serde_json::json!({"bytes": 7, "chunks": 3, "media": "x-ndjson"}),
        "a blank line is skipped, the last record needs no newline"
    );

    // A JSON text sequence (RFC 7464).
    let sequence = Request::post("/records")
        .header("content-type", "application/json-seq")
        .body(Body::from(
            "\u{1e}{\"id\": 5, \"name\": \"e\"}\n\u{1e}{\"id\": 6, \"name\": \"f\"}\n",
        ))
        .unwrap();
    let response = router.clone().oneshot(sequence).await.unwrap();
    assert_eq!(
        json_of(response).await,
        serde_json::json!({"bytes": 11, "chunks": 2, "media": "json-seq"})
    );

    // A record that does not fit its schema ends the stream with 422 naming it.
    let wrong = Request::post("/records")
        .header("content-type", "application/x-ndjson")
        .body(Body::from(
            "{\"id\": 1, \"name\": \"a\"}\n{\"id\": \"two\", \"name\": \"b\"}\n",
        ))
        .unwrap();
    let response = router.oneshot(wrong).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem = json_of(response).await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|detail| detail.starts_with("item 2")),
        "{problem}"
    );
}

#[tokio::test]
async fn a_form_with_a_file_is_read_part_by_part_as_it_arrives() {
    let (router, _, mut chunk_sizes) = service_with_uploads();
    let media = "multipart/form-data; boundary=XyZ";
    let (request, body) = sent_request("/photos", media);
    let answer = tokio::spawn(router.clone().oneshot(request));
    body.send(
        "--XyZ\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nat the beach\r\n\
         --XyZ\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
            .into(),
    )
    .await
    .unwrap();
    body.send(vec![7u8; 4000].into()).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(2), chunk_sizes.recv())
        .await
        .expect("the photo's first bytes are read before the body ends")
        .unwrap();
    assert!(first > 0 && first <= 4000, "{first}");
    body.send(vec![7u8; 8000].into()).await.unwrap();
    body.send("\r\n--XyZ--\r\n".into()).await.unwrap();
    drop(body);
    let response = answer.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let received = json_of(response).await;
    assert_eq!(received["bytes"], 12000, "{received}");
    assert_eq!(received["media"], "at the beach");

    // A file past `max-upload-size` (64 KiB) ends in 413, as it arrives.
    let (request, body) = sent_request("/photos", media);
    let answer = tokio::spawn(router.clone().oneshot(request));
    let sent = tokio::spawn(async move {
        let head = "--XyZ\r\nContent-Disposition: form-data; name=\"photo\"\r\n\r\n";
        if body.send(head.into()).await.is_err() {
            return;
        }
        for _ in 0..16 {
            if body.send(vec![0u8; 8192].into()).await.is_err() {
                break;
            }
        }
    });
    let response = answer.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    sent.await.unwrap();

    // A body that is not multipart with that boundary: 400.
    let broken = Request::put("/photos")
        .header("content-type", media)
        .body(Body::from("no boundary here"))
        .unwrap();
    let response = router.oneshot(broken).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_upload_longer_than_its_timeout_is_not_cut_while_its_chunks_keep_coming() {
    let (router, _, _chunk_sizes) = service_with_uploads();
    let (request, body) = upload_request("application/octet-stream");
    let started = std::time::Instant::now();
    let answer = tokio::spawn(router.oneshot(request));
    // Eight chunks 150 ms apart: 1.2 s in all, three times the operation's `x-timeout`
    // (400 ms), each pause within `body-timeout` (300 ms).
    for _ in 0..8 {
        body.send(vec![1u8; 1024].into()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    drop(body);
    let response = answer.await.unwrap().unwrap();
    assert!(started.elapsed() > Duration::from_millis(1000));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json_of(response).await["bytes"], 8192);
}
