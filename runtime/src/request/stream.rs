//! Responses that are streams: server-sent events (`text/event-stream`), items one per line
//! (`application/x-ndjson`, `application/jsonl`) or in a JSON text sequence
//! (`application/json-seq`), and bytes (binary media types); and request bodies of binary
//! media types, read as they arrive ([`BodyStream`]).
//!
//! A handler returns a `Stream`; the body pulls from it as the client reads, so a slow
//! client slows the producer and memory stays bounded. Every stream, whatever its kind:
//! - ends when its producer stays silent for the operation's `x-timeout` (an idle timeout,
//!   not a total one; server-sent events send a keep-alive comment every
//!   [`KEEP_ALIVE`] meanwhile and are exempt),
//! - is counted in `specjet_stream_items_total`, `specjet_stream_bytes_total` and
//!   `specjet_stream_duration_seconds` (by operation),
//! - and, for server-sent events, ends at shutdown after a `retry:` hint, so that clients
//!   reconnect (to another replica) with their `Last-Event-ID`.
//!
//! Caches never store a stream (the generator drops `x-cache` from a streaming operation, with
//! a warning) and compression leaves server-sent events alone (each event must reach the
//! client when it is sent); item streams are compressed in chunks.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::stream::{BoxStream, Stream, StreamExt};
use http::{header, HeaderValue};
use serde::Serialize;

pub use crate::request::request_body::BodyStream;

/// How often a server-sent event stream sends a comment while its producer is silent, so that
/// proxies and browsers keep the connection.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The `retry:` hint sent when the service ends an event stream at shutdown.
const RECONNECT_IN: Duration = Duration::from_secs(1);

/// One server-sent event: its data (the spec's event schema), and optionally its id (what the
/// client sends back as `Last-Event-ID` when it reconnects), its event name and a `retry`
/// hint.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<T> {
    /// The event's data.
    pub data: T,
    /// `id:`.
    pub id: Option<String>,
    /// `event:`.
    pub event: Option<String>,
    /// `retry:`.
    pub retry: Option<Duration>,
}

impl<T> Event<T> {
    /// An event of `data`.
    pub fn new(data: T) -> Event<T> {
        Event {
            data,
            id: None,
            event: None,
            retry: None,
        }
    }

    /// With this id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// With this event name.
    pub fn with_event(mut self, event: impl Into<String>) -> Self {
        self.event = Some(event.into());
        self
    }

    /// With this reconnection hint.
    pub fn with_retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }
}

/// A stream of server-sent events of `T`.
pub struct EventStream<T> {
    events: BoxStream<'static, Event<T>>,
}

impl<T> std::fmt::Debug for EventStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventStream")
    }
}

impl<T: Send + 'static> EventStream<T> {
    /// The events `events` yields, sent as they come.
    pub fn new(events: impl Stream<Item = Event<T>> + Send + 'static) -> Self {
        EventStream {
            events: events.boxed(),
        }
    }
}

/// A stream of items of `T`, one JSON text each.
pub struct ItemStream<T> {
    items: BoxStream<'static, Result<T, String>>,
}

impl<T> std::fmt::Debug for ItemStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ItemStream")
    }
}

impl<T: Send + 'static> ItemStream<T> {
    /// The items `items` yields, sent as they come.
    pub fn new(items: impl Stream<Item = T> + Send + 'static) -> Self {
        ItemStream {
            items: items.map(Ok).boxed(),
        }
    }

    /// The items `items` yields until its first error, which ends the stream (logged: the
    /// answer's status is long sent, so a client sees the stream end early).
    pub fn try_new<E: std::fmt::Display>(
        items: impl Stream<Item = Result<T, E>> + Send + 'static,
    ) -> Self {
        ItemStream {
            items: items
                .map(|item| item.map_err(|error| error.to_string()))
                .boxed(),
        }
    }
}

/// A stream of bytes.
pub struct ByteStream {
    chunks: BoxStream<'static, Result<Bytes, std::io::Error>>,
}

impl std::fmt::Debug for ByteStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ByteStream")
    }
}

impl ByteStream {
    /// The chunks `chunks` yields, until the first error, which ends the stream.
    pub fn new(chunks: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static) -> Self {
        ByteStream {
            chunks: chunks.boxed(),
        }
    }
}

impl From<Bytes> for ByteStream {
    fn from(bytes: Bytes) -> Self {
        ByteStream::new(futures_util::stream::once(async move { Ok(bytes) }))
    }
}

impl From<Vec<u8>> for ByteStream {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes).into()
    }
}

/// Tells the event streams of the process that the service is shutting down (after its
/// shutdown delay): each sends a `retry:` hint and ends.
pub(crate) fn end_event_streams() {
    let _ = closing().send(true);
}

fn closing() -> &'static tokio::sync::watch::Sender<bool> {
    static CLOSING: OnceLock<tokio::sync::watch::Sender<bool>> = OnceLock::new();
    CLOSING.get_or_init(|| tokio::sync::watch::channel(false).0)
}

/// What one stream reports when it ends.
struct Tally {
    operation: &'static str,
    started: Instant,
    items: u64,
    bytes: u64,
}

impl Drop for Tally {
    fn drop(&mut self) {
        let operation = self.operation;
        metrics::counter!("specjet_stream_items_total", "operation" => operation)
            .increment(self.items);
        metrics::counter!("specjet_stream_bytes_total", "operation" => operation)
            .increment(self.bytes);
        metrics::histogram!("specjet_stream_duration_seconds", "operation" => operation)
            .record(self.started.elapsed().as_secs_f64());
    }
}

/// A stream of encoded frames with the layers every stream has: an idle timeout (or keep-alive
/// comments), the end at shutdown, the tally.
struct Framed {
    frames: BoxStream<'static, Option<Bytes>>,
    /// Server-sent events: a comment when silent, a `retry:` hint at shutdown.
    events: bool,
    silent_for: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// Ready once the service ends its event streams (server-sent events only).
    closing: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    done: bool,
    tally: Tally,
}

impl Stream for Framed {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(closing) = &mut this.closing {
            if closing.as_mut().poll(cx).is_ready() {
                this.done = true;
                let hint = format!("retry: {}\n\n", RECONNECT_IN.as_millis());
                return Poll::Ready(Some(Ok(Bytes::from(hint))));
            }
        }
        match this.frames.poll_next_unpin(cx) {
            Poll::Ready(Some(Some(frame))) => {
                this.tally.items += 1;
                this.tally.bytes += frame.len() as u64;
                let deadline = tokio::time::Instant::now() + this.silent_for;
                this.timer.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            // The producer failed: the stream ends here.
            Poll::Ready(Some(None)) | Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => {
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                if this.events {
                    let deadline = tokio::time::Instant::now() + this.silent_for;
                    this.timer.as_mut().reset(deadline);
                    Poll::Ready(Some(Ok(Bytes::from_static(b":\n\n"))))
                } else {
                    tracing::debug!(
                        operation = this.tally.operation,
                        "a stream's producer stayed silent past its timeout; ending it"
                    );
                    this.done = true;
                    Poll::Ready(None)
                }
            }
        }
    }
}

fn framed(
    operation: &'static str,
    frames: BoxStream<'static, Option<Bytes>>,
    events: bool,
    idle: Duration,
) -> Framed {
    let silent_for = if events { KEEP_ALIVE } else { idle };
    Framed {
        frames,
        events,
        silent_for,
        timer: Box::pin(tokio::time::sleep(silent_for)),
        closing: events.then(|| {
            let mut closing = closing().subscribe();
            Box::pin(async move {
                while closing.changed().await.is_ok() {
                    if *closing.borrow() {
                        return;
                    }
                }
                // The sender lives for the process: never reached, but never ends a stream.
                std::future::pending::<()>().await;
            }) as Pin<Box<dyn Future<Output = ()> + Send>>
        }),
        done: false,
        tally: Tally {
            operation,
            started: Instant::now(),
            items: 0,
            bytes: 0,
        },
    }
}

fn streamed(
    status: impl crate::request::respond::IntoStatus,
    content_type: &'static str,
    body: Framed,
) -> Response {
    let mut response = (status.into_status(), Body::from_stream(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// One event as `text/event-stream` writes it; `data` is the event's data as text.
fn encode_event<T>(event: &Event<T>, data: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 32);
    if let Some(id) = &event.id {
        // A line break would start another field.
        out.put_slice(b"id: ");
        out.put_slice(id.replace(['\r', '\n'], " ").as_bytes());
        out.put_u8(b'\n');
    }
    if let Some(name) = &event.event {
        out.put_slice(b"event: ");
        out.put_slice(name.replace(['\r', '\n'], " ").as_bytes());
        out.put_u8(b'\n');
    }
    if let Some(retry) = event.retry {
        out.put_slice(format!("retry: {}\n", retry.as_millis()).as_bytes());
    }
    for line in data.split('\n') {
        out.put_slice(b"data: ");
        out.put_slice(line.trim_end_matches('\r').as_bytes());
        out.put_u8(b'\n');
    }
    out.put_u8(b'\n');
    out.freeze()
}

/// `text/event-stream` of events whose data is JSON (the generated `IntoResponse` of a
/// response whose event schema is not a string).
#[doc(hidden)]
pub fn json_events<T: Serialize + Send + 'static>(
    status: impl crate::request::respond::IntoStatus,
    operation: &'static str,
    events: EventStream<T>,
) -> Response {
    let frames = events
        .events
        .map(|event| match serde_json::to_string(&event.data) {
            Ok(data) => Some(encode_event(&event, &data)),
            Err(error) => {
                tracing::error!(%error, "an event's data could not be written as JSON");
                None
            }
        })
        .boxed();
    streamed(
        status,
        "text/event-stream",
        framed(operation, frames, true, KEEP_ALIVE),
    )
}

/// `text/event-stream` of events whose data is text.
#[doc(hidden)]
pub fn text_events<T: AsRef<str> + Send + 'static>(
    status: impl crate::request::respond::IntoStatus,
    operation: &'static str,
    events: EventStream<T>,
) -> Response {
    let frames = events
        .events
        .map(|event| Some(encode_event(&event, event.data.as_ref())))
        .boxed();
    streamed(
        status,
        "text/event-stream",
        framed(operation, frames, true, KEEP_ALIVE),
    )
}

/// How items follow one another, written or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One JSON text per line (`application/x-ndjson`, `application/jsonl`).
    Lines,
    /// Each JSON text after a record separator (RFC 7464, `application/json-seq`).
    RecordSeparated,
}

/// Items one JSON text each, framed as `framing` says; a producer silent for `idle` ends the
/// stream.
#[doc(hidden)]
pub fn items<T: Serialize + Send + 'static>(
    status: impl crate::request::respond::IntoStatus,
    content_type: &'static str,
    operation: &'static str,
    items: ItemStream<T>,
    framing: Framing,
    idle: Duration,
) -> Response {
    let frames = items
        .items
        .map(move |item| {
            let item = item
                .map_err(|error| tracing::warn!(operation, %error, "a stream ended on an error"))
                .ok()?;
            let mut out = Vec::with_capacity(128);
            if framing == Framing::RecordSeparated {
                out.push(0x1e);
            }
            serde_json::to_writer(&mut out, &item)
                .map_err(|error| tracing::error!(%error, "an item could not be written as JSON"))
                .ok()?;
            out.push(b'\n');
            Some(Bytes::from(out))
        })
        .boxed();
    streamed(status, content_type, framed(operation, frames, false, idle))
}

/// Bytes as they come; a producer silent for `idle` ends the stream.
#[doc(hidden)]
pub fn bytes(
    status: impl crate::request::respond::IntoStatus,
    content_type: &'static str,
    operation: &'static str,
    chunks: ByteStream,
    idle: Duration,
) -> Response {
    let frames = chunks
        .chunks
        .map(move |chunk| {
            chunk
                .map_err(|error| tracing::warn!(operation, %error, "a stream ended on an error"))
                .ok()
        })
        .boxed();
    streamed(status, content_type, framed(operation, frames, false, idle))
}

/// A request body of items (`application/x-ndjson`, `application/jsonl`: one JSON text per
/// line; `application/json-seq`: each after a record separator), read as it arrives: a
/// `Stream` of the items, each parsed as it is complete. An item that is not JSON ends the
/// stream with 400, one that does not fit its type with 422, both naming the item (from 1);
/// the body's own bounds end it as [`BodyStream`]'s do (413, 408). Blank lines are skipped.
pub struct ItemReader<T> {
    body: BodyStream,
    framing: Framing,
    /// What arrived of the items not yet complete.
    pending: BytesMut,
    /// Items read so far.
    count: usize,
    /// The body has ended (or the stream has failed).
    done: bool,
    item: std::marker::PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for ItemReader<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemReader")
            .field("framing", &self.framing)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl<T: serde::de::DeserializeOwned> ItemReader<T> {
    /// The items of `body`, framed as `framing` says.
    pub fn new(body: BodyStream, framing: Framing) -> ItemReader<T> {
        ItemReader {
            body,
            framing,
            pending: BytesMut::new(),
            count: 0,
            done: false,
            item: std::marker::PhantomData,
        }
    }

    /// Items read so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The next complete record in `pending` (or, once the body has ended, what is left).
    fn record(&mut self, ended: bool) -> Option<Bytes> {
        loop {
            let separator = match self.framing {
                Framing::Lines => b'\n',
                Framing::RecordSeparated => 0x1e,
            };
            let record = match self.pending.iter().position(|byte| *byte == separator) {
                Some(at) => {
                    let record = self.pending.split_to(at + 1).freeze();
                    record.slice(..at)
                }
                None if ended && !self.pending.is_empty() => self.pending.split().freeze(),
                None => return None,
            };
            if !record.trim_ascii().is_empty() {
                return Some(record);
            }
        }
    }

    fn parse(&mut self, record: &[u8]) -> Result<T, crate::Problem> {
        self.count += 1;
        crate::request::extract::json_body::<T>(record.trim_ascii()).map_err(|problem| {
            let detail = problem.detail.as_deref().unwrap_or("not JSON").to_owned();
            problem.with_detail(format!("item {}: {detail}", self.count))
        })
    }
}

impl<T: serde::de::DeserializeOwned> Stream for ItemReader<T> {
    type Item = Result<T, crate::Problem>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(record) = this.record(this.done) {
                let item = this.parse(&record);
                if item.is_err() {
                    this.done = true;
                    this.pending.clear();
                }
                return Poll::Ready(Some(item));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match this.body.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(chunk))) => this.pending.extend_from_slice(&chunk),
                Poll::Ready(Some(Err(problem))) => {
                    this.done = true;
                    this.pending.clear();
                    return Poll::Ready(Some(Err(problem)));
                }
                Poll::Ready(None) => this.done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    async fn body_of(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn events_are_written_as_text_event_stream_with_their_fields() {
        let events = EventStream::new(futures_util::stream::iter([
            Event::new(serde_json::json!({"n": 1})).with_id("1"),
            Event::new(serde_json::json!({"n": 2}))
                .with_id("2\nforged: field")
                .with_event("order")
                .with_retry(Duration::from_secs(3)),
        ]));
        let response = json_events(StatusCode::OK, "test", events);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert_eq!(
            body_of(response).await,
            "id: 1\ndata: {\"n\":1}\n\nid: 2 forged: field\nevent: order\nretry: 3000\ndata: {\"n\":2}\n\n"
        );
        let text = EventStream::new(futures_util::stream::iter([Event::new(
            "two\nlines".to_owned(),
        )]));
        assert_eq!(
            body_of(text_events(StatusCode::OK, "test", text)).await,
            "data: two\ndata: lines\n\n"
        );
    }

    #[tokio::test]
    async fn items_are_framed_as_lines_or_a_json_text_sequence_and_end_at_an_error() {
        let lines = ItemStream::try_new(futures_util::stream::iter([
            Ok::<_, String>(serde_json::json!({"id": 1})),
            Ok(serde_json::json!("two")),
            Err("the cursor broke".to_owned()),
            Ok(serde_json::json!(4)),
        ]));
        let response = items(
            StatusCode::OK,
            "application/x-ndjson",
            "test",
            lines,
            Framing::Lines,
            Duration::from_secs(5),
        );
        assert_eq!(body_of(response).await, "{\"id\":1}\n\"two\"\n");
        let sequence = ItemStream::new(futures_util::stream::iter([1, 2]));
        let response = items(
            StatusCode::OK,
            "application/json-seq",
            "test",
            sequence,
            Framing::RecordSeparated,
            Duration::from_secs(5),
        );
        assert_eq!(body_of(response).await, "\u{1e}1\n\u{1e}2\n");
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_producer_ends_an_item_stream_and_keeps_an_event_stream_alive() {
        let silent = ItemStream::new(futures_util::stream::pending::<u32>());
        let response = items(
            StatusCode::OK,
            "application/x-ndjson",
            "test",
            silent,
            Framing::Lines,
            Duration::from_secs(2),
        );
        assert_eq!(body_of(response).await, "", "ended after 2 s of silence");

        let silent = EventStream::new(futures_util::stream::pending::<Event<String>>());
        let mut body = text_events(StatusCode::OK, "test", silent)
            .into_body()
            .into_data_stream();
        let first = body.next().await.unwrap().unwrap();
        assert_eq!(&first[..], b":\n\n", "a keep-alive comment after 15 s");
        let second = body.next().await.unwrap().unwrap();
        assert_eq!(&second[..], b":\n\n", "and every 15 s after");
    }
}
