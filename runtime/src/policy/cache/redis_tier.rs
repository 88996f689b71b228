//! The shared tier: entries in Redis, so every replica sees what one stored, and a pub/sub
//! channel that carries invalidations to every replica's in-process tier.
//!
//! Redis is never allowed to fail a request: every command has a short timeout, any error is
//! a miss (or a skipped store), and the connection is (re)established in the background.
//!
//! An answer read before a write is never served from Redis after the write's invalidation:
//! every invalidation moves its tags' counts in Redis; a replica learns the counts (from the
//! messages, its own invalidations and its lookups), a read notes the counts it knows as it
//! begins, its entry carries them into Redis, and a lookup, which fetches the tags' counts with
//! the entry in the same `MGET`, takes an entry whose tags moved since its read for a miss.
//! Without it, a replica that had not yet heard of another's write could put an answer read
//! before it back into Redis, for every replica to serve until its ttl.
//!
//! An invalidation that does not reach Redis (Redis down or paused, the breaker open, a
//! timeout) is kept ([`Unsent`]) and replayed before this replica reads Redis again: until it
//! has landed, every lookup is a miss. Whatever Redis did meanwhile (restarted empty or with
//! its data, failed over), no entry older than an invalidation this replica made is served
//! from it. The comparison also takes the counts this replica knows, so a Redis that comes
//! back with older counts than it gave out (an older snapshot) cannot make a stale entry
//! current again.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::entry::Entry;
use crate::backend::redis_conn::{SharedRedis, PROBE_INTERVAL, RECONNECT_DELAY};
use crate::compose::coalesce::{Coalescer, WeakCoalescer};

/// The tier's commands of concurrent requests, each kind coalesced into one round trip.
#[derive(Clone)]
pub(super) struct RedisTier {
    prefix: Arc<str>,
    redis: SharedRedis,
    lookups: Coalescer<Lookup, Found>,
    /// Entries on their way to Redis, for [`write_stores`].
    stores: mpsc::UnboundedSender<Store>,
    /// One permit per entry on its way: at most [`MAX_STORES`].
    stores_on_their_way: Arc<Semaphore>,
    invalidations: Coalescer<Vec<String>, ()>,
    counts: Arc<Counts>,
    unsent: Arc<Unsent>,
}

/// One entry to store under `key` (in Redis' key space), with the counts its read saw.
struct Store {
    key: String,
    entry: Arc<Entry>,
    seen: Vec<u64>,
    /// Given back once the entry has landed (or failed).
    _on_its_way: OwnedSemaphorePermit,
}

/// Entries on their way to Redis at once, at most: past it (Redis is behind), an entry is
/// kept in memory only, so a slow Redis costs entries, never the service's memory.
const MAX_STORES: usize = 1024;

/// The most entries one pipeline of [`write_stores`] carries.
const MAX_STORES_PER_TRIP: usize = 512;

/// One entry to look up, and the counts of its tags.
struct Lookup {
    key: String,
    count_keys: Vec<String>,
}

/// What a lookup found: the stored bytes, and the counts of the tags.
type Found = (Option<Vec<u8>>, Vec<Option<Vec<u8>>>);

/// The invalidation count of each tag as this replica last learned it. Bounded: past
/// [`MAX_COUNTS`] tags it forgets the older half; a tag it does not know counts 0 (an entry it
/// stores then is taken for a miss by the next lookup, which teaches the count).
#[derive(Default)]
pub(super) struct Counts(Mutex<HashMap<String, u64>>);

const MAX_COUNTS: usize = 1 << 16;

impl Counts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The counts of `tags`, as a read that begins now notes them.
    fn of(&self, tags: &[String]) -> Vec<u64> {
        let known = self.lock();
        tags.iter()
            .map(|tag| known.get(tag).copied().unwrap_or(0))
            .collect()
    }

    /// Learns that `tag` was invalidated `count` times (or more).
    fn learn(&self, tag: &str, count: u64) {
        if count == 0 {
            return;
        }
        let mut known = self.lock();
        if let Some(known) = known.get_mut(tag) {
            *known = (*known).max(count);
            return;
        }
        if known.len() >= MAX_COUNTS {
            // A count is at least the microseconds of its tag's last invalidation: the tags
            // invalidated lately, the likely ones to be read again, are kept. A tag forgotten
            // costs its next read one miss.
            super::keep_newer_half(&mut known);
        }
        known.insert(tag.to_owned(), count);
    }
}

/// Invalidations that did not reach Redis, replayed before this replica reads Redis again.
/// Bounded: past [`MAX_UNSENT`] tags it remembers that it lost some, and the replay drops
/// every entry of the tier instead.
#[derive(Default)]
pub(super) struct Unsent {
    tags: Mutex<BTreeSet<String>>,
    /// Whether any is kept: read on every lookup, without the lock.
    any: AtomicBool,
    /// More than [`MAX_UNSENT`] tags were lost: the replay drops every entry.
    overflowed: AtomicBool,
}

const MAX_UNSENT: usize = 1 << 16;

impl Unsent {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.tags.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn any(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// Keeps `tags`, whose invalidation did not land, for the next replay.
    fn keep(&self, tags: Vec<String>, overflowed: bool) {
        if tags.is_empty() && !overflowed {
            return;
        }
        let mut kept = self.lock();
        kept.extend(tags);
        if overflowed || kept.len() > MAX_UNSENT {
            kept.clear();
            self.overflowed.store(true, Ordering::Release);
        }
        self.any.store(true, Ordering::Release);
    }

    /// Takes every kept tag, and whether some were lost, for a replay.
    fn take(&self) -> (Vec<String>, bool) {
        let mut kept = self.lock();
        let overflowed = self.overflowed.swap(false, Ordering::AcqRel);
        self.any.store(false, Ordering::Release);
        (std::mem::take(&mut *kept).into_iter().collect(), overflowed)
    }
}

/// Deletes the entries of every tag set and the sets, moves each tag's count, and publishes
/// the tags and their counts: a write's invalidations in one round trip. KEYS: the tag sets,
/// then as many counts; ARGV: the channel, this replica's name, the tags. A count moves past
/// the clock's microseconds, so that it never goes back when its key expires (after a week,
/// longer than any entry read before it lives in practice).
const INVALIDATE: &str = r"
local n = #KEYS / 2
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tags, counts = {}, {}
for i = 1, n do
  local members = redis.call('SMEMBERS', KEYS[i])
  for first = 1, #members, 512 do
    redis.call('DEL', unpack(members, first, math.min(first + 511, #members)))
  end
  redis.call('DEL', KEYS[i])
  local count = math.max(tonumber(redis.call('GET', KEYS[n + i]) or '0') + 1, now)
  counts[i] = string.format('%d', count)
  redis.call('SET', KEYS[n + i], counts[i], 'PX', 604800000)
  tags[i] = ARGV[2 + i]
end
redis.call('PUBLISH', ARGV[1], cjson.encode({from = ARGV[2], tags = tags, counts = counts}))
return counts
";

/// One invalidation message: the replica that sent it, the tags it invalidated and their
/// counts after it (absent from replicas of an earlier version). The invalidation script
/// writes it; Rust only reads it (and writes it in tests).
#[derive(serde::Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
struct Message<'a> {
    from: &'a str,
    #[serde(borrow)]
    tags: Vec<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    counts: Vec<std::borrow::Cow<'a, str>>,
}

impl RedisTier {
    /// Uses `redis` for entries; `invalidated` is called with every tag another replica (or
    /// this one) invalidates. `None` when no tokio runtime is running.
    pub(super) fn start(
        redis: SharedRedis,
        prefix: &str,
        invalidated: impl Fn(String) + Send + Sync + 'static,
    ) -> Option<RedisTier> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let client = redis.client().clone();
        let alive = redis.liveness();
        let origin: Arc<str> = replica_name().into();
        let prefix: Arc<str> = prefix.into();
        let channel = channel(&prefix);
        let counts = Arc::new(Counts::default());
        let unsent = Arc::new(Unsent::default());
        let (stores, queue) = mpsc::unbounded_channel();
        runtime.spawn(write_stores(redis.clone(), prefix.clone(), queue));
        let stores_on_their_way = Arc::new(Semaphore::new(MAX_STORES));
        let tier = RedisTier {
            lookups: lookups(redis.clone()),
            stores,
            stores_on_their_way: stores_on_their_way.clone(),
            invalidations: invalidations(Invalidations {
                redis: redis.clone(),
                prefix: prefix.clone(),
                origin: origin.clone(),
                counts: counts.clone(),
                unsent: unsent.clone(),
                stores_on_their_way,
            }),
            redis,
            prefix,
            counts: counts.clone(),
            unsent,
        };
        runtime.spawn(replay_unsent(
            tier.invalidations.downgrade(),
            tier.unsent.clone(),
        ));
        runtime.spawn(async move {
            use futures_util::StreamExt;
            while alive.strong_count() > 0 {
                if let Ok(Ok(mut pubsub)) =
                    tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub()).await
                {
                    if pubsub.subscribe(&channel).await.is_ok() {
                        let mut messages = pubsub.on_message();
                        while let Some(message) = messages.next().await {
                            if alive.strong_count() == 0 {
                                return;
                            }
                            if let Ok(payload) = message.get_payload::<String>() {
                                received(&payload, &origin, &counts, &invalidated);
                            }
                        }
                    }
                }
                tokio::time::sleep(RECONNECT_DELAY).await;
            }
        });
        Some(tier)
    }

    /// Whether a connection has been established (it may still fail per command).
    pub(super) fn is_connected(&self) -> bool {
        self.redis.is_connected()
    }

    /// Whether the connection's breaker is open (commands skip Redis for now).
    pub(super) fn is_skipped(&self) -> bool {
        self.redis.is_skipped()
    }

    fn key(&self, key: &str) -> String {
        format!("{}:e:{key}", self.prefix)
    }

    /// The invalidation counts of `tags` this replica knows: what a read beginning now notes
    /// and its entry carries, so that lookups take the entry for a miss once one moves.
    pub(super) fn counts(&self, tags: &[String]) -> Vec<u64> {
        self.counts.of(tags)
    }

    /// The entry under `key`, whose tags are `tags`; `None` on a miss, an error, a timeout,
    /// undecodable data, or an entry read before an invalidation of one of its tags.
    pub(super) async fn get(&self, key: &str, tags: &[String]) -> Option<Entry> {
        let lookup = Lookup {
            key: self.key(key),
            count_keys: tags
                .iter()
                .map(|tag| count_key(&self.prefix, tag))
                .collect(),
        };
        if self.unsent.any() {
            // An invalidation of this replica's has not reached Redis: until it has, Redis may
            // hold what it should have dropped.
            if self.is_skipped() {
                return None;
            }
            self.invalidations.call(Vec::new()).await;
            if self.unsent.any() {
                return None;
            }
        }
        let (bytes, now) = self.lookups.call(lookup).await?;
        for (tag, count) in tags.iter().zip(&now) {
            self.counts.learn(tag, parse_count(count.as_deref()));
        }
        // The counts as this replica knows them now: Redis' unless Redis gave out higher ones
        // before and lost them (an older snapshot), which must not make old entries current.
        let now = self.counts.of(tags);
        let (seen, entry) = decode(&bytes?)?;
        let current = entry.tags == tags
            && seen.len() == now.len()
            && seen.iter().zip(&now).all(|(seen, now)| seen >= now);
        current.then_some(entry)
    }

    /// Sends `entry` to Redis for its lifetime, indexed under its tags, with the counts its
    /// read noted (`seen`, from [`RedisTier::counts`]), without waiting for it: it leaves with
    /// the entries stored meanwhile in one round trip. `false` when [`MAX_STORES`] are on their
    /// way already (the entry is not sent).
    pub(super) fn set(&self, key: &str, entry: Arc<Entry>, seen: Vec<u64>) -> bool {
        let Ok(permit) = self.stores_on_their_way.clone().try_acquire_owned() else {
            return false;
        };
        self.stores
            .send(Store {
                key: self.key(key),
                entry,
                seen,
                _on_its_way: permit,
            })
            .is_ok()
    }

    /// Waits until every entry sent so far has landed in Redis (or failed): after it, another
    /// replica finds what this one stored.
    pub(super) async fn settled(&self) {
        let all = u32::try_from(MAX_STORES).unwrap_or(u32::MAX);
        // Every permit back: no entry is on its way.
        drop(self.stores_on_their_way.acquire_many(all).await);
    }

    /// Deletes every entry tagged with one of `tags` and tells every other replica to drop
    /// them from memory, in one round trip (shared with the writes made meanwhile).
    pub(super) async fn invalidate(&self, tags: &[String]) {
        self.invalidations.call(tags.to_vec()).await;
    }
}

fn channel(prefix: &str) -> String {
    format!("{prefix}:invalidate")
}

/// Concurrent lookups, entries and counts: one `MGET`.
fn lookups(redis: SharedRedis) -> Coalescer<Lookup, Found> {
    Coalescer::new(
        "redis lookups",
        SharedRedis::BATCHES,
        move |lookups: Vec<Lookup>| {
            let redis = redis.clone();
            async move {
                let mut mget = redis::cmd("MGET");
                for lookup in &lookups {
                    mget.arg(&lookup.key).arg(&lookup.count_keys);
                }
                let found: Option<Vec<Option<Vec<u8>>>> = redis
                    .run(|mut connection| async move { mget.query_async(&mut connection).await })
                    .await;
                let mut found = found.unwrap_or_default().into_iter();
                lookups
                    .iter()
                    .map(|lookup| {
                        let entry = found.next().flatten();
                        let counts = (0..lookup.count_keys.len())
                            .map(|_| found.next().flatten())
                            .collect();
                        (entry, counts)
                    })
                    .collect()
            }
        },
    )
}

/// Writes the entries [`RedisTier::set`] sends, one pipeline per round trip: the entries sent
/// while one is at Redis leave together in the next. A task of its own, rather than one per
/// entry, so that an answer's store costs its request a channel send; it ends with the tier.
async fn write_stores(
    redis: SharedRedis,
    prefix: Arc<str>,
    mut queue: mpsc::UnboundedReceiver<Store>,
) {
    let mut stores = Vec::with_capacity(MAX_STORES_PER_TRIP);
    while queue.recv_many(&mut stores, MAX_STORES_PER_TRIP).await > 0 {
        let mut pipe = redis::pipe();
        for store in &stores {
            let millis = store.entry.lifetime().as_millis().max(1) as u64;
            pipe.cmd("SET")
                .arg(&store.key)
                .arg(encode(&store.seen, &store.entry))
                .arg("PX")
                .arg(millis)
                .ignore();
            for tag in &store.entry.tags {
                let tag_key = tag_key(&prefix, tag);
                pipe.cmd("SADD").arg(&tag_key).arg(&store.key).ignore();
                // A tag set lives as long as the longest entry in it (roughly).
                pipe.cmd("PEXPIRE")
                    .arg(&tag_key)
                    .arg(millis.saturating_mul(2))
                    .ignore();
            }
        }
        let _: Option<()> = redis.query(pipe).await;
        // Their permits go back: these entries have landed (or failed).
        stores.clear();
    }
}

/// An entry as the tier stores it: the counts its read saw, then the entry.
fn encode(seen: &[u64], entry: &Entry) -> Vec<u8> {
    let entry = entry.encode();
    let mut out = Vec::with_capacity(COUNTS_MAGIC.len() + 2 + seen.len() * 8 + entry.len());
    out.extend_from_slice(COUNTS_MAGIC);
    out.extend_from_slice(&(seen.len() as u16).to_be_bytes());
    for count in seen {
        out.extend_from_slice(&count.to_be_bytes());
    }
    out.extend_from_slice(&entry);
    out
}

/// The counts and entry [`encode`] wrote; `None` for anything else.
fn decode(bytes: &[u8]) -> Option<(Vec<u64>, Entry)> {
    let rest = bytes.strip_prefix(COUNTS_MAGIC)?;
    let (length, mut rest) = rest.split_first_chunk::<2>()?;
    let mut seen = Vec::with_capacity(u16::from_be_bytes(*length).into());
    for _ in 0..u16::from_be_bytes(*length) {
        let (count, after) = rest.split_first_chunk::<8>()?;
        seen.push(u64::from_be_bytes(*count));
        rest = after;
    }
    Some((seen, Entry::decode(rest)?))
}

/// Marks what [`encode`] writes.
const COUNTS_MAGIC: &[u8] = b"sjn1";

/// A count as Redis holds it (decimal text); absent or unreadable, 0.
fn parse_count(count: Option<&[u8]>) -> u64 {
    count
        .and_then(|count| std::str::from_utf8(count).ok())
        .and_then(|count| count.parse().ok())
        .unwrap_or(0)
}

/// What the invalidations of a tier need.
#[derive(Clone)]
struct Invalidations {
    redis: SharedRedis,
    prefix: Arc<str>,
    /// Names this replica in the message, so that it skips its own (it forgot those tags
    /// before it published them, and learns their counts from the script's reply).
    origin: Arc<str>,
    counts: Arc<Counts>,
    unsent: Arc<Unsent>,
    stores_on_their_way: Arc<Semaphore>,
}

/// The invalidations of concurrent writes, with those kept unsent: one script, one message to
/// the other replicas. Tags whose invalidation does not land are kept again.
fn invalidations(tier: Invalidations) -> Coalescer<Vec<String>, ()> {
    let script = Arc::new(redis::Script::new(INVALIDATE));
    let channel: Arc<str> = channel(&tier.prefix).into();
    Coalescer::new(
        "redis invalidations",
        SharedRedis::BATCHES,
        move |writes: Vec<Vec<String>>| {
            let (tier, script, channel) = (tier.clone(), script.clone(), channel.clone());
            let count = writes.len();
            let mut tags: Vec<String> = writes.into_iter().flatten().collect();
            let (unsent, lost) = tier.unsent.take();
            tags.extend(unsent);
            tags.sort_unstable();
            tags.dedup();
            async move {
                if lost && !drop_every_entry(&tier).await {
                    tier.unsent.keep(tags, true);
                    return vec![(); count];
                }
                if tags.is_empty() {
                    return vec![(); count];
                }
                let Invalidations {
                    redis,
                    prefix,
                    origin,
                    counts,
                    ..
                } = &tier;
                let mut invocation = script.prepare_invoke();
                for tag in &tags {
                    invocation.key(tag_key(prefix, tag));
                }
                for tag in &tags {
                    invocation.key(count_key(prefix, tag));
                }
                invocation.arg(&*channel).arg(&**origin);
                for tag in &tags {
                    invocation.arg(tag);
                }
                let moved: Option<Vec<String>> =
                    redis
                        .run(|mut connection| async move {
                            invocation.invoke_async(&mut connection).await
                        })
                        .await;
                match moved {
                    Some(moved) => {
                        for (tag, count) in tags.iter().zip(moved) {
                            if let Ok(count) = count.parse() {
                                counts.learn(tag, count);
                            }
                        }
                    }
                    // It may have run (a timeout); replayed, it only moves the counts again.
                    None => tier.unsent.keep(tags, false),
                }
                vec![(); count]
            }
        },
    )
}

/// Deletes every entry of the tier (and its tag sets), for a replica that lost track of the
/// invalidations it could not send. The stores on their way land first, so that none read
/// before those invalidations lands after. `false` when Redis did not answer throughout.
async fn drop_every_entry(tier: &Invalidations) -> bool {
    let all = u32::try_from(MAX_STORES).unwrap_or(u32::MAX);
    let _no_stores = tier.stores_on_their_way.acquire_many(all).await;
    for pattern in [
        format!("{}:e:*", tier.prefix),
        format!("{}:t:*", tier.prefix),
    ] {
        let mut cursor = 0u64;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000);
            let Some((next, keys)): Option<(u64, Vec<String>)> = tier
                .redis
                .run(|mut connection| async move { scan.query_async(&mut connection).await })
                .await
            else {
                return false;
            };
            if !keys.is_empty() {
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(&keys);
                let unlinked: Option<u64> = tier
                    .redis
                    .run(|mut connection| async move { unlink.query_async(&mut connection).await })
                    .await;
                if unlinked.is_none() {
                    return false;
                }
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    tracing::warn!(
        "more invalidations than could be kept did not reach redis; every cached entry there was dropped"
    );
    true
}

/// Replays the invalidations kept unsent once Redis answers again, without waiting for a
/// lookup to need it (so that the other replicas hear of them soon too). Ends with the tier.
async fn replay_unsent(invalidations: WeakCoalescer<Vec<String>, ()>, unsent: Arc<Unsent>) {
    loop {
        tokio::time::sleep(PROBE_INTERVAL).await;
        let Some(invalidations) = invalidations.upgrade() else {
            return;
        };
        if unsent.any() {
            // With the breaker open this costs nothing: the tags are kept again at once.
            invalidations.call(Vec::new()).await;
        }
    }
}

/// The key of the set that indexes the entries of `tag`.
fn tag_key(prefix: &str, tag: &str) -> String {
    format!("{prefix}:t:{tag}")
}

/// The key of `tag`'s invalidation count.
fn count_key(prefix: &str, tag: &str) -> String {
    format!("{prefix}:n:{tag}")
}

/// A name for this replica that no other one picks: random, from std's per-process hash keys.
fn replica_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// Hands every tag of an invalidation message to `invalidated` and learns its count, unless
/// this replica sent it. A payload that is not a message is one tag (what replicas of an
/// earlier version send).
fn received(payload: &str, origin: &str, counts: &Counts, invalidated: &impl Fn(String)) {
    match serde_json::from_str::<Message>(payload) {
        Ok(message) if message.from == origin => {}
        Ok(message) => {
            for (index, tag) in message.tags.into_iter().enumerate() {
                if let Some(count) = message.counts.get(index).and_then(|c| c.parse().ok()) {
                    counts.learn(&tag, count);
                }
                invalidated(tag.into_owned());
            }
        }
        Err(_) => invalidated(payload.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::{received, Counts, Message};

    fn deliver(payload: &str) -> Vec<String> {
        let seen = Mutex::new(Vec::new());
        received(payload, "me", &Counts::default(), &|tag| {
            seen.lock().unwrap().push(tag)
        });
        seen.into_inner().unwrap()
    }

    /// Two replicas' tiers on the Redis of `REDIS_URL` (`None` without one), connected.
    async fn two_replicas(name: &str) -> Option<(super::RedisTier, super::RedisTier)> {
        let url = std::env::var("REDIS_URL")
            .ok()
            .filter(|url| !url.is_empty())?;
        let prefix = format!("specjet-test-{name}-{}", std::process::id());
        let tier = || {
            let redis =
                crate::backend::redis_conn::SharedRedis::connect(&url).expect("a redis url");
            super::RedisTier::start(redis, &prefix, |_| {}).expect("a runtime")
        };
        let (a, b) = (tier(), tier());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !(a.is_connected() && b.is_connected()) {
            assert!(std::time::Instant::now() < deadline, "no redis connection");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Some((a, b))
    }

    fn entry(tags: &[String]) -> super::Entry {
        super::Entry::new(
            200,
            Vec::new(),
            bytes::Bytes::from_static(b"{}"),
            crate::policy::cache::entry::now_millis(),
            crate::policy::cache::entry::Windows {
                ttl: std::time::Duration::from_secs(60),
                stale_while_revalidate: std::time::Duration::ZERO,
                stale_if_error: std::time::Duration::ZERO,
            },
            tags.to_vec(),
        )
    }

    #[tokio::test]
    async fn an_answer_read_before_another_replicas_write_is_never_served_from_redis() {
        let Some((a, b)) = two_replicas("race").await else {
            return;
        };
        let tags = vec!["tag:user:7".to_owned(), "getUser".to_owned()];
        // A read on a begins; a write on b invalidates one of its tags; a stores what it read
        // before it, whether or not b's message has reached a yet: no replica is served it.
        let began = a.counts(&tags);
        b.invalidate(&tags[..1]).await;
        assert!(a.set("user-7", std::sync::Arc::new(entry(&tags)), began));
        a.settled().await;
        assert!(b.get("user-7", &tags).await.is_none(), "the stale answer");
        assert!(a.get("user-7", &tags).await.is_none(), "the stale answer");

        // A read that begins after it (a knows the count now, from the message or from its
        // lookup) is served, on every replica.
        let began = a.counts(&tags);
        assert!(a.set("user-7", std::sync::Arc::new(entry(&tags)), began));
        a.settled().await;
        assert!(b.get("user-7", &tags).await.is_some());

        // An entry whose read saw every invalidation of its tags is served: another tag
        // moved, not its.
        let other = vec!["tag:user:8".to_owned()];
        let began = b.counts(&other);
        a.invalidate(&tags[..1]).await;
        assert!(b.set("user-8", std::sync::Arc::new(entry(&other)), began));
        b.settled().await;
        assert!(a.get("user-8", &other).await.is_some());
    }

    #[tokio::test]
    async fn a_replica_that_lost_track_of_its_unsent_invalidations_drops_every_entry() {
        let Some((a, b)) = two_replicas("lost").await else {
            return;
        };
        let tags = vec!["getUser".to_owned()];
        let began = a.counts(&tags);
        assert!(a.set("user-1", std::sync::Arc::new(entry(&tags)), began));
        a.settled().await;
        assert!(b.get("user-1", &tags).await.is_some());
        // More invalidations than it keeps failed: its next lookup replays by dropping all.
        a.unsent.keep(Vec::new(), true);
        assert!(a.get("user-1", &tags).await.is_none());
        assert!(!a.unsent.any(), "the replay landed");
        assert!(b.get("user-1", &tags).await.is_none(), "dropped from redis");
    }

    #[test]
    fn past_the_bound_the_counts_of_the_tags_invalidated_longest_ago_are_forgotten() {
        let counts = Counts::default();
        let bound = u64::try_from(super::MAX_COUNTS).unwrap();
        for count in 1..=bound {
            counts.learn(&format!("tag:{count}"), count);
        }
        counts.learn("tag:new", bound + 1);
        let known = counts.of(&[
            "tag:1".to_owned(),
            format!("tag:{}", bound / 4),
            format!("tag:{}", bound - 1),
            "tag:new".to_owned(),
        ]);
        // The older half is forgotten (counts 0: a read of theirs misses once), the newer
        // half and the tag just learned are known.
        assert_eq!(known, [0, 0, bound - 1, bound + 1]);
        assert!(counts.lock().len() <= super::MAX_COUNTS / 2 + 1);
    }

    #[test]
    fn a_message_invalidates_its_tags_on_every_replica_but_its_sender() {
        let message = |from| {
            serde_json::to_string(&Message {
                from,
                tags: vec!["user:1".into(), "odd\ntag \"quoted\"".into()],
                counts: Vec::new(),
            })
            .unwrap()
        };
        assert_eq!(
            deliver(&message("other")),
            ["user:1", "odd\ntag \"quoted\""]
        );
        assert!(deliver(&message("me")).is_empty());
        // An earlier version's message: the payload is the tag.
        assert_eq!(deliver("user:2"), ["user:2"]);
    }
}
