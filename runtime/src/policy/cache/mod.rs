//! Response caching from the spec's `x-cache` annotations: an in-process tier (moka, bounded
//! in bytes), a shared Redis tier, single-flight for cold keys, stale-while-revalidate,
//! `ETag`/`If-None-Match` validation and tag-based invalidation.
//!
//! [`Cache`] is one `Clone` handle over shared state. The generated router serves each
//! operation's [`CachePolicy`] and [`InvalidationTarget`]s from its operations table, through
//! the one policy layer of [`crate::Services::apply`].

mod entry;
mod generations;
mod key;
mod layer;
mod redis_tier;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use entry::etag_for;
use entry::{Entry, Freshness};
use generations::Generations;
pub(crate) use layer::{invalidate_after, serve, timing_desc, Drops, Prepared, CACHE_STATUS};
use redis_tier::RedisTier;
use tokio::sync::watch;

use crate::backend::redis_conn::SharedRedis;

pub use specjet_model::cache::{Backend, CacheSettings};
pub use specjet_model::tag::{Tag, TagPiece};

pub use specjet_model::cache::Scope;

/// The caching policy of one operation (`x-cache`), as a service holds it.
pub type CachePolicy = specjet_model::CachePolicy<specjet_model::Static>;

/// An operation whose entries a mutating operation drops, and the path parameters the two
/// share, as (name, capture key in the mutating operation's route).
pub type InvalidationTarget = specjet_model::InvalidationTarget<specjet_model::Static>;

/// One cached operation: its id, policy, whether it is secured, and its path parameters as
/// (name, route capture key) pairs, which tag its entries for invalidation.
#[derive(Debug, Clone)]
pub(crate) struct CacheRoute {
    pub(crate) operation: &'static str,
    pub(crate) policy: CachePolicy,
    pub(crate) secured: bool,
    pub(crate) params: &'static [(&'static str, &'static str)],
    pub(crate) types: &'static [crate::ParamType],
    /// Query parameters with a default (name, value): absent, they key as their default.
    pub(crate) query_defaults: &'static [(&'static str, &'static str)],
    /// Scalar query parameters that are not text (name, type): their values key as read.
    pub(crate) query_types: &'static [(&'static str, crate::ParamType)],
}

/// Counts per tier and outcome, for tests and metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Fresh entries found in process (304s included).
    pub memory_hits: AtomicU64,
    /// Fresh entries found in Redis (304s included).
    pub redis_hits: AtomicU64,
    /// Stale entries served while a refresh runs.
    pub stale_hits: AtomicU64,
    /// Requests that found no usable entry (collapsed ones included).
    pub misses: AtomicU64,
    /// Misses answered with the entry another request for the same key computed.
    pub collapsed: AtomicU64,
    /// Fresh hits answered 304 because `If-None-Match` matched.
    pub not_modified: AtomicU64,
    /// Entries written.
    pub stored: AtomicU64,
    /// Tags invalidated.
    pub invalidations: AtomicU64,
}

/// What a read noted as it began ([`Cache::begin_read`]).
pub(crate) struct ReadBegan {
    since: u64,
    counts: Vec<u64>,
}

/// What the fetch of one key found.
pub(crate) enum Found {
    Memory(Arc<Entry>),
    Redis(Arc<Entry>),
}

/// The cache: cheap to clone, every clone shares the same tiers.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("settings", &self.inner.settings)
            .field("redis", &self.inner.redis.is_some())
            .finish_non_exhaustive()
    }
}

struct Inner {
    settings: CacheSettings,
    memory: Option<moka::sync::Cache<String, Stamped>>,
    /// The tags invalidated, and when: what kills entries in memory and answers in the making.
    generations: Generations,
    redis: Option<RedisTier>,
    inflight: Mutex<HashMap<String, watch::Receiver<Flight>>>,
    stats: Stats,
}

/// Keeps the tags of `by_tag` whose value (a time, or a count that grows with time) is above
/// the median, and returns that median: what a bounded map of tags forgets first is what
/// happened longest ago. Values all equal are all forgotten.
fn keep_newer_half(by_tag: &mut HashMap<String, u64>) -> u64 {
    let mut values: Vec<u64> = by_tag.values().copied().collect();
    if values.is_empty() {
        return 0;
    }
    let middle = values.len() / 2;
    let cutoff = *values.select_nth_unstable(middle).1;
    by_tag.retain(|_, value| *value > cutoff);
    cutoff
}

/// The state of a key being computed: pending, then the entry (or `None` when the response
/// was not cacheable and every waiter must ask the handler itself).
#[derive(Clone)]
pub(crate) enum Flight {
    Pending,
    Done(Option<Arc<Entry>>),
}

/// An entry in memory, with the invalidation clock's time from before its answer was made.
#[derive(Clone)]
struct Stamped {
    entry: Arc<Entry>,
    since: u64,
}

struct Lifetime;

impl moka::Expiry<String, Stamped> for Lifetime {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Stamped,
        _now: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.entry.lifetime().saturating_sub(value.entry.age()))
    }
}

impl Cache {
    /// A cache with these settings; the Redis tier is used when `redis_url` is given and the
    /// backend is not `Memory`.
    pub fn new(settings: CacheSettings, redis_url: Option<&str>) -> Cache {
        Cache::with_redis(settings, redis_url.and_then(SharedRedis::connect))
    }

    /// A cache over an existing Redis connection (or none).
    pub fn with_redis(settings: CacheSettings, redis: Option<SharedRedis>) -> Cache {
        let memory = (settings.backend != Backend::Redis).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(settings.capacity_bytes)
                .weigher(|key: &String, stamped: &Stamped| {
                    u32::try_from(key.len() + stamped.entry.weight()).unwrap_or(u32::MAX)
                })
                .expire_after(Lifetime)
                .build()
        });
        let inner = Arc::new_cyclic(|weak: &std::sync::Weak<Inner>| {
            let redis = match (settings.backend, redis) {
                (Backend::Memory, _) | (_, None) => None,
                (_, Some(redis)) => {
                    let weak = weak.clone();
                    RedisTier::start(redis, &settings.key_prefix, move |tag| {
                        if let Some(inner) = weak.upgrade() {
                            Cache { inner }.forget_locally(&tag);
                        }
                    })
                }
            };
            Inner {
                settings,
                memory,
                generations: Generations::default(),
                redis,
                inflight: Mutex::new(HashMap::new()),
                stats: Stats::default(),
            }
        });
        Cache { inner }
    }

    /// The settings the cache was made with.
    pub fn settings(&self) -> &CacheSettings {
        &self.inner.settings
    }

    /// The counters of every clone of this cache.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// Whether entries go to a Redis tier (one was given and the backend is not `Memory`).
    pub fn uses_redis(&self) -> bool {
        self.inner.redis.is_some()
    }

    /// Whether the Redis tier has a connection.
    /// Whether the Redis tier is skipped for now: Redis stopped answering and the circuit
    /// breaker is open until a background probe gets an answer.
    pub fn redis_skipped(&self) -> bool {
        self.inner.redis.as_ref().is_some_and(RedisTier::is_skipped)
    }

    /// Whether the Redis tier has a connection.
    pub fn redis_connected(&self) -> bool {
        self.inner
            .redis
            .as_ref()
            .is_some_and(RedisTier::is_connected)
    }

    /// The entry under `key`, whose tags are `tags`, from the first tier that holds a usable
    /// one.
    pub(crate) async fn lookup(&self, key: &str, tags: &[String]) -> Option<Found> {
        let since = self.inner.generations.now();
        if let Some(memory) = &self.inner.memory {
            if let Some(stamped) = memory.get(key) {
                if self
                    .inner
                    .generations
                    .is_current(&stamped.entry.tags, stamped.since)
                {
                    return Some(Found::Memory(stamped.entry));
                }
                memory.invalidate(key);
            }
        }
        let redis = self.inner.redis.as_ref()?;
        let entry = Arc::new(redis.get(key, tags).await?);
        if entry.freshness() == Freshness::Expired {
            return None;
        }
        self.remember(key, entry.clone(), since);
        Some(Found::Redis(entry))
    }

    /// What a read of an answer tagged `tags` notes as it begins, before its handler runs: the
    /// invalidation clock's time, and (with Redis) its tags' invalidation counts as this
    /// replica knows them. [`Cache::store`] keeps the answer only if no invalidation of its
    /// tags came in between, here or on another replica.
    pub(crate) fn begin_read(&self, tags: &[String]) -> ReadBegan {
        ReadBegan {
            since: self.inner.generations.now(),
            counts: self
                .inner
                .redis
                .as_ref()
                .map(|redis| redis.counts(tags))
                .unwrap_or_default(),
        }
    }

    /// Keeps `entry` under `key` in both tiers, read as `began` says. `false` when it was read
    /// before a write that already invalidated it: neither tier may hold it (and when the
    /// write's invalidation reached Redis but not yet this replica, no lookup takes it).
    ///
    /// The Redis store leaves in the background: the answer does not wait a round trip for it.
    /// It may land after a write's invalidation of its tags (here or on another replica), but
    /// the entry carries the counts its read began with, so no lookup takes it then.
    pub(crate) fn store(&self, key: &str, entry: Arc<Entry>, began: ReadBegan) -> bool {
        if !self.inner.generations.is_current(&entry.tags, began.since) {
            return false;
        }
        self.inner.stats.stored.fetch_add(1, Ordering::Relaxed);
        self.remember(key, entry.clone(), began.since);
        if let Some(redis) = &self.inner.redis {
            // Refused when Redis is too far behind: the entry is then in memory only.
            redis.set(key, entry, began.counts);
        }
        true
    }

    /// Waits until every Redis store begun so far has landed (or failed): after it, another
    /// replica finds what this one stored.
    pub async fn redis_settled(&self) {
        if let Some(redis) = &self.inner.redis {
            redis.settled().await;
        }
    }

    fn remember(&self, key: &str, entry: Arc<Entry>, since: u64) {
        if let Some(memory) = &self.inner.memory {
            memory.insert(key.to_owned(), Stamped { entry, since });
        }
    }

    /// Drops every entry under the spec's tag `tag` with its values (`user:7`, for entries of
    /// operations with `x-cache: {tags: ["user:{userId}"]}` read for user 7), in both tiers
    /// and (through Redis) on every replica: what a handler calls after a change the spec's
    /// invalidations do not name.
    pub async fn invalidate(&self, tag: &str) {
        self.invalidate_all(&[key::spec_tag(tag)]).await;
    }

    /// Drops the entries of each of `tags` (as entries carry them), with one round trip to
    /// Redis in all.
    pub(crate) async fn invalidate_all(&self, tags: &[String]) {
        if tags.is_empty() {
            return;
        }
        self.inner
            .stats
            .invalidations
            .fetch_add(tags.len() as u64, Ordering::Relaxed);
        for tag in tags {
            self.forget_locally(tag);
        }
        if let Some(redis) = &self.inner.redis {
            redis.invalidate(tags).await;
        }
    }

    /// Kills this replica's entries of `tag` in memory, and any answer to `tag` being made
    /// now (whatever the tiers: an answer read before the invalidation is stored in none).
    fn forget_locally(&self, tag: &str) {
        self.inner.generations.invalidate(tag);
    }

    /// Joins the computation of `key`: `Ok(guard)` when this caller computes it, `Err(rx)`
    /// to wait for the caller that already does.
    pub(crate) fn begin(&self, key: &str) -> Result<FlightGuard, watch::Receiver<Flight>> {
        let mut inflight = self
            .inner
            .inflight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(receiver) = inflight.get(key) {
            return Err(receiver.clone());
        }
        let (sender, receiver) = watch::channel(Flight::Pending);
        inflight.insert(key.to_owned(), receiver);
        Ok(FlightGuard {
            cache: self.clone(),
            key: key.to_owned(),
            sender: Some(sender),
        })
    }
}

/// Held by the caller computing a key; waiters are released when it finishes or is dropped
/// (a cancelled request never leaves others waiting).
pub(crate) struct FlightGuard {
    cache: Cache,
    key: String,
    sender: Option<watch::Sender<Flight>>,
}

impl FlightGuard {
    pub(crate) fn finish(mut self, entry: Option<Arc<Entry>>) {
        if let Some(sender) = self.sender.take() {
            let _ = sender.send(Flight::Done(entry));
        }
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            let _ = sender.send(Flight::Done(None));
        }
        if let Ok(mut inflight) = self.cache.inner.inflight.lock() {
            inflight.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::entry::{now_millis, Windows};
    use super::*;

    /// An entry under the spec's tag `tag`.
    fn tagged(tag: &str) -> Arc<Entry> {
        Arc::new(Entry::new(
            200,
            Vec::new(),
            Bytes::from_static(b"{}"),
            now_millis(),
            Windows {
                ttl: Duration::from_secs(60),
                stale_while_revalidate: Duration::ZERO,
                stale_if_error: Duration::ZERO,
            },
            vec![key::spec_tag(tag)],
        ))
    }

    #[tokio::test]
    async fn an_answer_read_before_a_write_is_neither_stored_nor_served() {
        let cache = Cache::new(CacheSettings::default(), None);
        // Read before the write's invalidation arrived, stored after it: not stored.
        let tags = |tag: &str| [key::spec_tag(tag)];
        let read = cache.begin_read(&tags("stats:7"));
        cache.invalidate("stats:7").await;
        cache.store("stats-7", tagged("stats:7"), read);
        assert!(cache.lookup("stats-7", &tags("stats:7")).await.is_none());

        // Stored first, then invalidated: no longer served.
        let read = cache.begin_read(&tags("stats:7"));
        cache.store("stats-7", tagged("stats:7"), read);
        assert!(cache.lookup("stats-7", &tags("stats:7")).await.is_some());
        let read = cache.begin_read(&tags("stats:8"));
        cache.store("stats-8", tagged("stats:8"), read);
        cache.invalidate("stats:7").await;
        assert!(cache.lookup("stats-7", &tags("stats:7")).await.is_none());
        assert!(
            cache.lookup("stats-8", &tags("stats:8")).await.is_some(),
            "other tags stay"
        );
    }
}
