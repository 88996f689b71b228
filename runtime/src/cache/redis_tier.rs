//! The shared tier: entries in Redis, so every replica sees what one stored, and a pub/sub
//! channel that carries invalidations to every replica's in-process tier.
//!
//! Redis is never allowed to fail a request: every command has a short timeout, any error is
//! a miss (or a skipped store), and the connection is (re)established in the background.

use std::time::Duration;

use super::entry::Entry;
use crate::coalesce::Coalescer;
use crate::redis_conn::{SharedRedis, RECONNECT_DELAY};

/// The tier's commands of concurrent requests, each kind coalesced into one round trip.
#[derive(Clone)]
pub(super) struct RedisTier {
    prefix: std::sync::Arc<str>,
    redis: SharedRedis,
    lookups: Coalescer<String, Option<Vec<u8>>>,
    stores: Coalescer<Store, ()>,
    invalidations: Coalescer<Vec<String>, ()>,
}

/// One entry to store: its key, encoding, lifetime and tag sets.
struct Store {
    key: String,
    encoded: Vec<u8>,
    millis: u64,
    tag_keys: Vec<String>,
}

/// Deletes the entries of every tag set in `KEYS` and the sets, then publishes `ARGV[2]` on
/// channel `ARGV[1]`: a write's invalidations in one round trip.
const INVALIDATE: &str = r"
for _, tag_key in ipairs(KEYS) do
  local members = redis.call('SMEMBERS', tag_key)
  for first = 1, #members, 512 do
    redis.call('DEL', unpack(members, first, math.min(first + 511, #members)))
  end
end
redis.call('DEL', unpack(KEYS))
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 0
";

/// One invalidation message: the replica that sent it and the tags it invalidated.
#[derive(serde::Serialize, serde::Deserialize)]
struct Message<'a> {
    from: &'a str,
    #[serde(borrow)]
    tags: Vec<std::borrow::Cow<'a, str>>,
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
        let origin: std::sync::Arc<str> = replica_name().into();
        let prefix: std::sync::Arc<str> = prefix.into();
        let channel = channel(&prefix);
        let tier = RedisTier {
            lookups: lookups(redis.clone()),
            stores: stores(redis.clone()),
            invalidations: invalidations(redis.clone(), prefix.clone(), origin.clone()),
            redis,
            prefix,
        };
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
                                received(&payload, &origin, &invalidated);
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

    fn tag_key(&self, tag: &str) -> String {
        tag_key(&self.prefix, tag)
    }

    /// The entry under `key`; `None` on a miss, an error, a timeout or undecodable data.
    pub(super) async fn get(&self, key: &str) -> Option<Entry> {
        let bytes = self.lookups.call(self.key(key)).await??;
        Entry::decode(&bytes)
    }

    /// Stores `entry` for its lifetime and indexes it under its tags.
    pub(super) async fn set(&self, key: &str, entry: &Entry) {
        let store = Store {
            key: self.key(key),
            encoded: entry.encode(),
            millis: entry.lifetime().as_millis().max(1) as u64,
            tag_keys: entry.tags.iter().map(|tag| self.tag_key(tag)).collect(),
        };
        self.stores.call(store).await;
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

/// Concurrent lookups: one `MGET`.
fn lookups(redis: SharedRedis) -> Coalescer<String, Option<Vec<u8>>> {
    Coalescer::new(
        "redis lookups",
        SharedRedis::BATCHES,
        move |keys: Vec<String>| {
            let redis = redis.clone();
            async move {
                let count = keys.len();
                let mut mget = redis::cmd("MGET");
                mget.arg(keys);
                let found: Option<Vec<Option<Vec<u8>>>> = redis
                    .run(|mut connection| async move { mget.query_async(&mut connection).await })
                    .await;
                found.unwrap_or_else(|| vec![None; count])
            }
        },
    )
}

/// Concurrent stores: one pipeline.
fn stores(redis: SharedRedis) -> Coalescer<Store, ()> {
    Coalescer::new(
        "redis stores",
        SharedRedis::BATCHES,
        move |stores: Vec<Store>| {
            let redis = redis.clone();
            let count = stores.len();
            let mut pipe = redis::pipe();
            for store in stores {
                pipe.cmd("SET")
                    .arg(&store.key)
                    .arg(store.encoded)
                    .arg("PX")
                    .arg(store.millis)
                    .ignore();
                for tag_key in &store.tag_keys {
                    pipe.cmd("SADD").arg(tag_key).arg(&store.key).ignore();
                    // A tag set lives as long as the longest entry in it (roughly).
                    pipe.cmd("PEXPIRE")
                        .arg(tag_key)
                        .arg(store.millis.saturating_mul(2))
                        .ignore();
                }
            }
            async move {
                let _: Option<()> = redis.query(pipe).await;
                vec![(); count]
            }
        },
    )
}

/// The invalidations of concurrent writes: one script, one message to the other replicas.
/// `origin` names this replica in the message, so that it skips its own (it forgot those tags
/// before it published them).
fn invalidations(
    redis: SharedRedis,
    prefix: std::sync::Arc<str>,
    origin: std::sync::Arc<str>,
) -> Coalescer<Vec<String>, ()> {
    let script = std::sync::Arc::new(redis::Script::new(INVALIDATE));
    let channel = channel(&prefix);
    Coalescer::new(
        "redis invalidations",
        SharedRedis::BATCHES,
        move |writes: Vec<Vec<String>>| {
            let (redis, script) = (redis.clone(), script.clone());
            let count = writes.len();
            let mut tags: Vec<String> = writes.into_iter().flatten().collect();
            tags.sort_unstable();
            tags.dedup();
            let message = Message {
                from: &origin,
                tags: tags.iter().map(|tag| tag.as_str().into()).collect(),
            };
            let message = serde_json::to_string(&message).unwrap_or_default();
            let tag_keys: Vec<String> = tags.iter().map(|tag| tag_key(&prefix, tag)).collect();
            let channel = channel.clone();
            async move {
                let mut invocation = script.prepare_invoke();
                for tag_key in tag_keys {
                    invocation.key(tag_key);
                }
                invocation.arg(channel).arg(message);
                let _: Option<i64> =
                    redis
                        .run(|mut connection| async move {
                            invocation.invoke_async(&mut connection).await
                        })
                        .await;
                vec![(); count]
            }
        },
    )
}

/// The key of the set that indexes the entries of `tag`.
fn tag_key(prefix: &str, tag: &str) -> String {
    format!("{prefix}:t:{tag}")
}

/// A name for this replica that no other one picks: random, from std's per-process hash keys.
fn replica_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// Hands every tag of an invalidation message to `invalidated`, unless this replica sent it.
/// A payload that is not a message is one tag (what replicas of an earlier version send).
fn received(payload: &str, origin: &str, invalidated: &impl Fn(String)) {
    match serde_json::from_str::<Message>(payload) {
        Ok(message) if message.from == origin => {}
        Ok(message) => {
            for tag in message.tags {
                invalidated(tag.into_owned());
            }
        }
        Err(_) => invalidated(payload.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::{received, Message};

    fn deliver(payload: &str) -> Vec<String> {
        let seen = Mutex::new(Vec::new());
        received(payload, "me", &|tag| seen.lock().unwrap().push(tag));
        seen.into_inner().unwrap()
    }

    #[test]
    fn a_message_invalidates_its_tags_on_every_replica_but_its_sender() {
        let message = |from| {
            serde_json::to_string(&Message {
                from,
                tags: vec!["user:1".into(), "odd\ntag \"quoted\"".into()],
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
