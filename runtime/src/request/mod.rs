//! The request and its answer: parameters and bodies read (`extract`, `request_body`,
//! `multipart`, `stream`), checked against the spec (`contract`), and answers written
//! (`respond`, `problem`, `reject`).

pub mod contract;
#[doc(hidden)] // what generated `Request::read` calls; not a stable API
pub mod extract;
pub mod multipart;
pub mod problem;
pub mod reject;
pub(crate) mod request_body;
#[doc(hidden)] // what generated `IntoResponse` impls call; not a stable API
pub mod respond;
pub mod stream;
