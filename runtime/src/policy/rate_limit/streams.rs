//! `streams-per-caller`: how many streams (server-sent events, item streams) one caller holds
//! open at once on this replica. A rate limit counts a stream's call once, however long it
//! runs; this bounds what one caller holds instead. The caller is the verified principal,
//! else the client's address, as for a rate limit keyed on `principal`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};
use http_body_util::BodyExt;

use crate::policy::caller::ClientIp;
use crate::request::problem::Problem;

/// What a caller refused a stream is told to wait before trying again.
const RETRY_AFTER_SECONDS: u32 = 5;

/// The streams each caller holds open, by caller key, and how many one may hold.
#[derive(Debug, Clone)]
pub(crate) struct StreamSlots {
    limit: u32,
    held: Arc<Mutex<HashMap<String, u32>>>,
}

/// One stream held by one caller, given back when dropped: with the answer's body (sent, or
/// its client gone) once [`StreamSlot::hold`] has put it there.
pub(crate) struct StreamSlot {
    held: Arc<Mutex<HashMap<String, u32>>>,
    caller: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.caller) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.caller);
            }
        }
    }
}

impl StreamSlot {
    /// `response` holding the slot until its body is dropped.
    pub(crate) fn hold(self, response: Response) -> Response {
        response.map(move |body| {
            Body::new(body.map_frame(move |frame| {
                let _held = &self;
                frame
            }))
        })
    }
}

impl StreamSlots {
    /// At most `limit` streams per caller.
    pub(crate) fn new(limit: u32) -> StreamSlots {
        StreamSlots {
            limit,
            held: Arc::default(),
        }
    }

    /// A slot for one more stream of the caller of `parts`, or why not.
    pub(crate) fn take(
        &self,
        client_ip: &ClientIp,
        parts: &http::request::Parts,
    ) -> Result<StreamSlot, TooManyStreams> {
        let caller = crate::policy::security::caller_key(client_ip, parts);
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(caller.clone()).or_insert(0);
        if *count >= self.limit {
            return Err(TooManyStreams(self.limit));
        }
        *count += 1;
        Ok(StreamSlot {
            held: self.held.clone(),
            caller,
        })
    }
}

/// The caller holds as many streams as it may (the bound).
#[derive(Debug)]
pub(crate) struct TooManyStreams(u32);

/// 429, with `Retry-After`.
impl IntoResponse for TooManyStreams {
    fn into_response(self) -> Response {
        let TooManyStreams(limit) = self;
        let mut response = Problem::new(StatusCode::TOO_MANY_REQUESTS)
            .with_detail(format!(
                "a caller holds at most {limit} streams at once; close one first"
            ))
            .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        response
    }
}
