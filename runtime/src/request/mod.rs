//! The request and its answer: parameters and bodies read (`extract`, `request_body`,
//! `multipart`, `stream`), checked against the spec (`contract`), and answers written
//! (`respond`, `problem`, `reject`). Without the `server` feature, what a client shares:
//! problems, media types and multipart forms.

#[cfg(feature = "server")]
pub mod contract;
#[cfg(feature = "server")]
#[doc(hidden)] // what generated `Request::read` calls; not a stable API
pub mod extract;
pub mod media;
pub mod multipart;
pub mod problem;
#[cfg(feature = "server")]
pub mod reject;
#[cfg(feature = "server")]
pub(crate) mod request_body;
#[cfg(feature = "server")]
#[doc(hidden)] // what generated `IntoResponse` impls call; not a stable API
pub mod respond;
#[cfg(feature = "server")]
pub mod stream;
