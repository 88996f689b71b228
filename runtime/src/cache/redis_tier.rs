//! The shared tier: entries in Redis, so every replica sees what one stored, and a pub/sub
//! channel that carries invalidations to every replica's in-process tier.
//!
//! Redis is never allowed to fail a request: every command has a short timeout, any error is
//! a miss (or a skipped store), and the connection is (re)established in the background.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::entry::Entry;

/// How long one Redis command may take before the cache carries on without it.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(50);
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct RedisTier {
    connection: Arc<RwLock<Option<ConnectionManager>>>,
    prefix: Arc<str>,
}

impl RedisTier {
    /// Starts connecting to `url` in the background; `invalidated` is called with every tag
    /// another replica (or this one) invalidates. `None` for an unusable URL or when no tokio
    /// runtime is running.
    pub fn start(
        url: &str,
        prefix: &str,
        invalidated: impl Fn(String) + Send + Sync + 'static,
    ) -> Option<RedisTier> {
        let client = match redis::Client::open(url) {
            Ok(client) => client,
            Err(error) => {
                tracing::warn!(%error, "REDIS_URL is not usable; caching in process only");
                return None;
            }
        };
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let tier = RedisTier {
            connection: Arc::new(RwLock::new(None)),
            prefix: prefix.into(),
        };
        let slot = Arc::downgrade(&tier.connection);
        let connect_client = client.clone();
        runtime.spawn(async move {
            loop {
                let Some(slot) = slot.upgrade() else {
                    return;
                };
                let attempt = tokio::time::timeout(
                    Duration::from_secs(2),
                    connect_client.get_connection_manager(),
                )
                .await;
                if let Ok(Ok(manager)) = attempt {
                    if let Ok(mut guard) = slot.write() {
                        *guard = Some(manager);
                    }
                    return;
                }
                drop(slot);
                tokio::time::sleep(RECONNECT_DELAY).await;
            }
        });
        let channel = tier.channel();
        let alive = Arc::downgrade(&tier.connection);
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

    fn connection(&self) -> Option<ConnectionManager> {
        self.connection.read().ok().and_then(|guard| guard.clone())
    }

    /// Whether a connection has been established (it may still fail per command).
    pub fn is_connected(&self) -> bool {
        self.connection().is_some()
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

    async fn run<T: redis::FromRedisValue>(
        &self,
        command: impl FnOnce() -> redis::Pipeline,
    ) -> Option<T> {
        let mut connection = self.connection()?;
        let pipeline = command();
        match tokio::time::timeout(COMMAND_TIMEOUT, pipeline.query_async::<T>(&mut connection))
            .await
        {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) => {
                tracing::debug!(%error, "redis command failed");
                None
            }
            Err(_) => {
                tracing::debug!("redis command timed out");
                None
            }
        }
    }

    /// The entry under `key`; `None` on a miss, an error, a timeout or undecodable data.
    pub async fn get(&self, key: &str) -> Option<Entry> {
        let redis_key = self.key(key);
        let (bytes,): (Option<Vec<u8>>,) = self
            .run(|| {
                let mut pipe = redis::pipe();
                pipe.cmd("GET").arg(redis_key);
                pipe
            })
            .await?;
        Entry::decode(&bytes?)
    }

    /// Stores `entry` for its lifetime and indexes it under its tags.
    pub async fn set(&self, key: &str, entry: &Entry) {
        let redis_key = self.key(key);
        let millis = entry.lifetime().as_millis().max(1) as u64;
        let tag_keys: Vec<String> = entry.tags.iter().map(|tag| self.tag_key(tag)).collect();
        let encoded = entry.encode();
        let _: Option<()> = self
            .run(|| {
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

    /// Deletes every entry tagged `tag` and tells every replica to drop it from memory.
    pub async fn invalidate(&self, tag: &str) {
        let tag_key = self.tag_key(tag);
        let members: Option<(Vec<String>,)> = self
            .run(|| {
                let mut pipe = redis::pipe();
                pipe.cmd("SMEMBERS").arg(&tag_key);
                pipe
            })
            .await;
        let members = members.map(|(m,)| m).unwrap_or_default();
        let channel = self.channel();
        let _: Option<()> = self
            .run(|| {
                let mut pipe = redis::pipe();
                if !members.is_empty() {
                    pipe.cmd("DEL").arg(&members).ignore();
                }
                pipe.cmd("DEL").arg(&tag_key).ignore();
                pipe.cmd("PUBLISH").arg(&channel).arg(tag).ignore();
                pipe
            })
            .await;
    }
}
