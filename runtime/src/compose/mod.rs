//! Operations made of other calls: `POST /batch` (`batch`, through `dispatch`), composite
//! operations (`fan_out`), and lookups made together (`loader`, `coalesce`).

pub mod batch;
pub(crate) mod coalesce;
pub(crate) mod dispatch;
pub mod fan_out;
pub mod loader;
