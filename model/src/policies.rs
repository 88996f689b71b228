//! Everything the spec (or the code, which wins) says of how one operation is served: its
//! cache, the entries it drops, its rate limit, compression, timeout, batch group and body
//! limit.

use std::time::Duration;

use crate::cache::{CachePolicy, InvalidationTarget};
use crate::form::{Form, Static};
use crate::rate_limit::RateLimitPolicy;
use crate::tag::TagTemplate;

/// How long a handler may take when no `x-timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One operation's policies. A new per-operation annotation is one more field here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policies<F: Form = Static> {
    /// Response caching (`x-cache`); only GET and HEAD operations have one.
    pub cache: Option<CachePolicy<F>>,
    /// Cached operations whose entries this one drops when it succeeds
    /// (`x-cache-invalidates`).
    pub invalidates: F::List<InvalidationTarget<F>>,
    /// Cache tag templates (`pet:{petId}`, naming this operation's path parameters, or
    /// values of its answer) whose entries a success drops
    /// (`x-cache-invalidates: {tags: [...]}`).
    pub invalidate_tags: F::List<TagTemplate<F>>,
    /// The rate limit (`x-rate-limit`), the operation's own or a named root policy's.
    pub rate_limit: Option<RateLimitPolicy<F>>,
    /// Whether responses may be compressed (`x-compress`).
    pub compress: bool,
    /// How long the handler may take (`x-timeout`): past it, it is dropped and the answer
    /// is 504. `None`: unbounded.
    pub timeout: Option<Duration>,
    /// The batch group whose endpoint may call the operation (`x-batch-group`).
    pub batch_group: Option<F::Text>,
    /// The most bytes its request body may have (`x-max-body-size`), in place of the
    /// service's limit (`x-specjet.compression.max-request-size` for a body read whole,
    /// `x-specjet.server.max-upload-size` for one read as a stream); past it, 413.
    pub max_body_size: Option<u64>,
}

/// In a service a policy is `const` data, copied freely.
impl Copy for Policies<Static> {}

impl Policies<Static> {
    /// What an operation gets when its spec says nothing: no caching, no invalidation, no
    /// limit, compressed, [`DEFAULT_TIMEOUT`].
    pub const DEFAULT: Policies = Policies {
        timeout: Some(DEFAULT_TIMEOUT),
        ..Policies::NONE
    };

    /// No caching, no invalidation, no limit, no timeout; compressed like every response.
    pub const NONE: Policies = Policies {
        cache: None,
        invalidates: &[],
        invalidate_tags: &[],
        rate_limit: None,
        compress: true,
        timeout: None,
        batch_group: None,
        max_body_size: None,
    };
}

impl<F: Form> Default for Policies<F> {
    /// What an operation gets when its spec says nothing ([`Policies::DEFAULT`]).
    fn default() -> Self {
        Policies {
            cache: None,
            invalidates: Default::default(),
            invalidate_tags: Default::default(),
            rate_limit: None,
            compress: true,
            timeout: Some(DEFAULT_TIMEOUT),
            batch_group: None,
            max_body_size: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::Owned;

    #[test]
    fn both_forms_default_alike() {
        let owned = Policies::<Owned>::default();
        let service = Policies::DEFAULT;
        assert_eq!(owned.timeout, service.timeout);
        assert_eq!(owned.compress, service.compress);
        assert_eq!(owned.max_body_size, service.max_body_size);
        assert!(owned.invalidates.is_empty() && service.invalidates.is_empty());
        assert_eq!(
            CachePolicy::with_ttl(Duration::from_secs(1)).statuses,
            CachePolicy::new(Duration::from_secs(1)).statuses.to_vec()
        );
    }
}
