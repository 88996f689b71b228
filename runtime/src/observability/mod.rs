//! What the service tells about itself: metrics and their histograms, request ids and
//! access logs (`observe`, `logging`), `Server-Timing` (`timing`), OTLP traces (`otlp`), and
//! the counts behind them (`tally`).

pub(crate) mod histogram;
pub mod logging;
pub mod metrics;
pub mod observe;
pub(crate) mod otlp;
pub(crate) mod tally;
pub(crate) mod timing;
