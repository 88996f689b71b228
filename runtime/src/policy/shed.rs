//! Load shedding (`x-specjet.max-in-flight`): above the bound a request is answered 503 with
//! `Retry-After` at once, rather than waiting in a queue that only grows under overload.
//!
//! A tower layer rather than an axum `from_fn` middleware: a request that passes costs one
//! semaphore permit, not a boxed future and a boxed copy of the rest of the stack.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};

use crate::request::problem::Problem;

/// The requests in flight, bounded: the layer.
#[derive(Debug, Clone)]
pub(crate) struct InFlight {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl InFlight {
    pub(crate) fn new(limit: usize) -> InFlight {
        InFlight {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// The answer to a request over the bound.
    fn refusal(&self) -> Response {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail(format!(
                "the service is handling its limit of {} requests; retry shortly",
                self.limit
            ))
            .with_retry_after(1)
            .into_response()
    }
}

impl<S> Layer<S> for InFlight {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Shed<S> {
        Shed {
            inner,
            in_flight: self.clone(),
        }
    }
}

/// The service [`InFlight`] wraps a route in.
#[derive(Debug, Clone)]
pub(crate) struct Shed<S> {
    inner: S,
    in_flight: InFlight,
}

impl<S> Service<Request> for Shed<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Shedding<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Shedding<S::Future> {
        match self.in_flight.permits.clone().try_acquire_owned() {
            Ok(permit) => Shedding::Admitted {
                answer: self.inner.call(request),
                _permit: permit,
            },
            Err(_) => Shedding::Refused {
                answer: Some(self.in_flight.refusal()),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of a request let in (holding its slot until it is answered), or the refusal.
    #[project = SheddingProjection]
    pub(crate) enum Shedding<F> {
        Admitted { #[pin] answer: F, _permit: OwnedSemaphorePermit },
        Refused { answer: Option<Response> },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Shedding<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            SheddingProjection::Admitted { answer, .. } => answer.poll(cx),
            SheddingProjection::Refused { answer } => match answer.take() {
                Some(answer) => Poll::Ready(Ok(answer)),
                // Polled again after it finished: nothing more to answer.
                None => Poll::Pending,
            },
        }
    }
}
