//! The shared tier: entries in Redis, so every replica sees what one stored, and a pub/sub
//! channel that carries invalidations to every replica's in-process tier.
//!
//! Redis is never allowed to fail a request: every command has a short timeout, any error is
//! a miss (or a skipped store), and the connection is (re)established in the background.

use std::time::Duration;

use super::entry::Entry;
use crate::redis_conn::{SharedRedis, RECONNECT_DELAY};

#[derive(Clone)]
pub(super) struct RedisTier {
    redis: SharedRedis,
    prefix: std::sync::Arc<str>,
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
        let tier = RedisTier {
            redis,
            prefix: prefix.into(),
        };
        let channel = tier.channel();
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
                            if let Ok(tag) = message.get_payload::<String>() {
                                invalidated(tag);
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
        format!("{}:t:{tag}", self.prefix)
    }

    fn channel(&self) -> String {
        format!("{}:invalidate", self.prefix)
    }

    /// The entry under `key`; `None` on a miss, an error, a timeout or undecodable data.
    pub(super) async fn get(&self, key: &str) -> Option<Entry> {
        let redis_key = self.key(key);
        let (bytes,): (Option<Vec<u8>>,) = self
            .redis
            .query({
                let mut pipe = redis::pipe();
                pipe.cmd("GET").arg(redis_key);
                pipe
            })
            .await?;
        Entry::decode(&bytes?)
    }

    /// Stores `entry` for its lifetime and indexes it under its tags.
    pub(super) async fn set(&self, key: &str, entry: &Entry) {
        let redis_key = self.key(key);
        let millis = entry.lifetime().as_millis().max(1) as u64;
        let tag_keys: Vec<String> = entry.tags.iter().map(|tag| self.tag_key(tag)).collect();
        let encoded = entry.encode();
        let _: Option<()> = self
            .redis
            .query({
                let mut pipe = redis::pipe();
                pipe.cmd("SET")
                    .arg(&redis_key)
                    .arg(encoded)
                    .arg("PX")
                    .arg(millis)
                    .ignore();
                for tag_key in &tag_keys {
                    pipe.cmd("SADD").arg(tag_key).arg(&redis_key).ignore();
                    // A tag set lives as long as the longest entry in it (roughly).
                    pipe.cmd("PEXPIRE")
                        .arg(tag_key)
                        .arg(millis.saturating_mul(2))
                        .ignore();
                }
                pipe
            })
            .await;
    }

    /// Deletes every entry tagged with one of `tags` and tells every replica to drop them from
    /// memory: one round trip reads the tags' members, one deletes and publishes.
    pub(super) async fn invalidate(&self, tags: &[String]) {
        let tag_keys: Vec<String> = tags.iter().map(|tag| self.tag_key(tag)).collect();
        let members: Option<Vec<Vec<String>>> = self
            .redis
            .query({
                let mut pipe = redis::pipe();
                for tag_key in &tag_keys {
                    pipe.cmd("SMEMBERS").arg(tag_key);
                }
                pipe
            })
            .await;
        let members: Vec<String> = members.into_iter().flatten().flatten().collect();
        let channel = self.channel();
        let _: Option<()> = self
            .redis
            .query({
                let mut pipe = redis::pipe();
                if !members.is_empty() {
                    pipe.cmd("DEL").arg(&members).ignore();
                }
                pipe.cmd("DEL").arg(&tag_keys).ignore();
                for tag in tags {
                    pipe.cmd("PUBLISH").arg(&channel).arg(tag).ignore();
                }
                pipe
            })
            .await;
    }
}
