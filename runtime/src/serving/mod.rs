//! From the table to a listening socket: the operations table (`operation`), the one policy
//! layer (`pipeline`), the shared state (`services`, `start`), connections and shutdown
//! (`serve`), probes (`health`), the document and docs (`docs`), CORS, compression, and
//! periodic work (`periodic`).

pub mod compression;
pub mod cors;
pub mod docs;
pub mod health;
pub(crate) mod operation;
pub(crate) mod periodic;
pub(crate) mod pipeline;
pub mod serve;
pub(crate) mod services;
pub(crate) mod start;
