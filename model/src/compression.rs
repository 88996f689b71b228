//! `x-specjet.compression`: which content-codings are offered, and the request body bound.

/// The largest request body accepted when the spec sets no `max-request-size`, in bytes,
/// counted after decompression.
pub const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Service-wide compression settings (`x-specjet.compression`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressionSettings {
    /// Brotli, for responses and request bodies.
    pub br: bool,
    /// Zstandard, for responses and request bodies.
    pub zstd: bool,
    /// Gzip, for responses and request bodies.
    pub gzip: bool,
    /// Responses smaller than this many bytes are sent as they are (`min-size`).
    pub min_size: u16,
    /// The largest request body accepted, counted after decompression (`max-request-size`).
    pub max_request_size: usize,
}

impl Default for CompressionSettings {
    fn default() -> Self {
        CompressionSettings {
            br: true,
            zstd: true,
            gzip: true,
            min_size: 1024,
            max_request_size: DEFAULT_BODY_LIMIT,
        }
    }
}

impl CompressionSettings {
    /// No compression either way (`compression: false`; the request body bound stays).
    pub fn off() -> Self {
        CompressionSettings {
            br: false,
            zstd: false,
            gzip: false,
            ..CompressionSettings::default()
        }
    }

    /// Whether any coding is offered.
    pub fn enabled(&self) -> bool {
        self.br || self.zstd || self.gzip
    }
}
