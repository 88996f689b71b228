//! Helpers that only generated code calls; not a stable API.

#[cfg(feature = "server")]
mod glue;
mod serde_support;

#[cfg(feature = "server")]
pub use glue::*;
pub use serde_support::*;
