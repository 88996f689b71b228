//! The policies served per operation and per caller: who calls (`caller`, `security`), rate
//! limits, the response cache, and load shedding (`shed`, with the load signals of `load`).

pub mod cache;
pub mod caller;
pub(crate) mod load;
pub mod rate_limit;
pub mod security;
pub(crate) mod shed;
