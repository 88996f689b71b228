//! `x-specjet.batch`: where the batch endpoint is and how much one batch may hold.

/// Settings of the batch endpoint (`x-specjet.batch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSettings {
    /// The endpoint's path (`path`).
    pub path: String,
    /// Items one batch may hold (`max-requests`).
    pub max_requests: usize,
    /// Items run at once (`concurrency`).
    pub concurrency: usize,
    /// The largest batch body, in bytes (`max-body-size`).
    pub max_body_size: usize,
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            path: "/batch".to_owned(),
            max_requests: 20,
            concurrency: 8,
            max_body_size: 1 << 20,
        }
    }
}
