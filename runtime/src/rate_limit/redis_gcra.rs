//! Budgets in Redis: every window of a policy is checked and taken in one atomic script
//! (GCRA: one "theoretical arrival time" per key and window, in microseconds of Redis' own
//! clock), so every replica shares one budget and no replica's clock matters.

use std::time::Duration;

use super::{Decision, RateLimitPolicy};
use crate::redis_conn::SharedRedis;

/// KEYS: one per window. ARGV: cost, then per window its emission interval and burst.
/// Returns {allowed, window (0-based), remaining, reset µs, retry µs}; nothing is taken
/// unless every window allows the call.
const SCRIPT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local cost = tonumber(ARGV[1])
local tats = {}
local refused, refused_window, retry = false, 0, 0
local best_window, best_remaining, best_reset = 0, -1, 0
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local stored = redis.call('GET', KEYS[i])
  local tat = now
  if stored then tat = math.max(tonumber(stored) or now, now) end
  local new_tat = tat + cost * interval
  local allow_at = new_tat - burst * interval
  if allow_at > now then
    if not refused or allow_at - now > retry then
      refused, refused_window, retry = true, i - 1, allow_at - now
    end
  else
    tats[i] = new_tat
    local remaining = math.floor((burst * interval - (new_tat - now)) / interval)
    if best_remaining < 0 or remaining < best_remaining then
      best_window, best_remaining, best_reset = i - 1, remaining, new_tat - now
    end
  end
end
if refused then
  local interval = tonumber(ARGV[2 * refused_window + 2])
  local burst = tonumber(ARGV[2 * refused_window + 3])
  return {0, refused_window, 0, burst * interval, retry}
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], tats[i], 'PX', math.max(1, math.ceil((tats[i] - now) / 1000)))
end
return {1, best_window, best_remaining, best_reset, 0}
";

#[derive(Clone)]
pub(crate) struct RedisBudgets {
    redis: SharedRedis,
    prefix: std::sync::Arc<str>,
    script: std::sync::Arc<redis::Script>,
}

impl RedisBudgets {
    pub(crate) fn new(redis: SharedRedis, prefix: &str) -> RedisBudgets {
        RedisBudgets {
            redis,
            prefix: prefix.into(),
            script: std::sync::Arc::new(redis::Script::new(SCRIPT)),
        }
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.redis.is_connected()
    }

    /// Takes `policy.cost` units from `key` in every window; `None` when Redis did not
    /// answer in time.
    pub(crate) async fn take(&self, policy: &RateLimitPolicy, key: &str) -> Option<Decision> {
        let mut invocation = self.script.prepare_invoke();
        for window in policy.windows {
            // The braces keep every window of one key in one cluster slot.
            invocation.key(format!(
                "{}:rl:{{{}:{key}}}:{}/{}",
                self.prefix,
                policy.name,
                window.limit,
                window.period.as_millis()
            ));
        }
        invocation.arg(policy.cost.max(1));
        for window in policy.windows {
            invocation
                .arg(
                    u64::try_from(window.interval().as_micros())
                        .unwrap_or(u64::MAX)
                        .max(1),
                )
                .arg(window.burst.max(1));
        }
        let (allowed, window, remaining, reset, retry): (i64, i64, i64, i64, i64) = self
            .redis
            .run(|mut connection| async move { invocation.invoke_async(&mut connection).await })
            .await?;
        let micros = |value: i64| Duration::from_micros(u64::try_from(value).unwrap_or(0));
        Some(Decision {
            allowed: allowed == 1,
            window: usize::try_from(window).unwrap_or(0),
            remaining: u64::try_from(remaining).unwrap_or(0),
            reset: micros(reset),
            retry_after: micros(retry),
        })
    }
}
