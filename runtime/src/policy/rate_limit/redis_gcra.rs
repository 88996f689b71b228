//! Budgets in Redis: every window of a policy is checked and taken in one atomic script
//! (GCRA: one "theoretical arrival time" per key and window, in microseconds of Redis' own
//! clock), so every replica shares one budget and no replica's clock matters.

use std::time::Duration;

use super::{Decision, RateLimitPolicy};
use crate::backend::redis_conn::SharedRedis;
use crate::compose::coalesce::Coalescer;

/// The takes of concurrent requests, one after the other in one atomic script.
/// ARGV: the number of takes, then per take its number of windows, its cost, and per window
/// its emission interval and burst; KEYS: every take's windows, in order.
/// Returns per take {allowed, window (0-based), remaining, reset µs, retry µs}; nothing is
/// taken from a take's windows unless every one of them allows it.
const SCRIPT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local results = {}
local key, arg = 0, 2
for take = 1, tonumber(ARGV[1]) do
  local windows = tonumber(ARGV[arg])
  local cost = tonumber(ARGV[arg + 1])
  local first = arg + 2
  local tats = {}
  local refused, refused_window, retry = false, 0, 0
  local best_window, best_remaining, best_reset = 0, -1, 0
  for i = 1, windows do
    local interval = tonumber(ARGV[first + 2 * (i - 1)])
    local burst = tonumber(ARGV[first + 2 * (i - 1) + 1])
    local stored = redis.call('GET', KEYS[key + i])
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
  local answer
  if refused then
    local interval = tonumber(ARGV[first + 2 * refused_window])
    local burst = tonumber(ARGV[first + 2 * refused_window + 1])
    answer = {0, refused_window, 0, burst * interval, retry}
  else
    for i = 1, windows do
      redis.call('SET', KEYS[key + i], tats[i], 'PX', math.max(1, math.ceil((tats[i] - now) / 1000)))
    end
    answer = {1, best_window, best_remaining, best_reset, 0}
  end
  for _, value in ipairs(answer) do results[#results + 1] = value end
  key = key + windows
  arg = first + 2 * windows
end
return results
";

/// Budgets in Redis; the takes of concurrent requests share one round trip.
#[derive(Clone)]
pub(crate) struct RedisBudgets {
    redis: SharedRedis,
    prefix: std::sync::Arc<str>,
    takes: Coalescer<Take, Option<Decision>>,
}

/// One request's take: the key of each window, the cost, and each window's emission interval
/// (µs) and burst.
struct Take {
    keys: Vec<String>,
    cost: u32,
    windows: Vec<(u64, u32)>,
}

impl RedisBudgets {
    pub(crate) fn new(redis: SharedRedis, prefix: &str) -> RedisBudgets {
        RedisBudgets {
            takes: takes(redis.clone()),
            redis,
            prefix: prefix.into(),
        }
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.redis.is_connected()
    }

    pub(crate) fn is_skipped(&self) -> bool {
        self.redis.is_skipped()
    }

    /// Takes `policy.cost` units from `key` in every window; `None` when Redis did not
    /// answer in time.
    pub(crate) async fn take(&self, policy: &RateLimitPolicy, key: &str) -> Option<Decision> {
        let take = Take {
            // The braces keep every window of one key in one cluster slot.
            keys: policy
                .windows
                .iter()
                .map(|window| {
                    format!(
                        "{}:rl:{{{}:{key}}}:{}/{}",
                        self.prefix,
                        policy.name,
                        window.limit,
                        window.period.as_millis()
                    )
                })
                .collect(),
            cost: policy.cost.max(1),
            windows: policy
                .windows
                .iter()
                .map(|window| {
                    let interval = u64::try_from(window.interval().as_micros()).unwrap_or(u64::MAX);
                    (interval.max(1), window.burst.max(1))
                })
                .collect(),
        };
        self.takes.call(take).await?
    }
}

/// Concurrent takes: one script call.
fn takes(redis: SharedRedis) -> Coalescer<Take, Option<Decision>> {
    let script = std::sync::Arc::new(redis::Script::new(SCRIPT));
    Coalescer::new(
        "redis rate limits",
        SharedRedis::BATCHES,
        move |takes: Vec<Take>| {
            let (redis, script) = (redis.clone(), script.clone());
            let count = takes.len();
            async move {
                let mut invocation = script.prepare_invoke();
                invocation.arg(count);
                for take in takes {
                    invocation.arg(take.windows.len()).arg(take.cost);
                    for (interval, burst) in take.windows {
                        invocation.arg(interval).arg(burst);
                    }
                    for key in take.keys {
                        invocation.key(key);
                    }
                }
                let answers: Option<Vec<i64>> =
                    redis
                        .run(|mut connection| async move {
                            invocation.invoke_async(&mut connection).await
                        })
                        .await;
                let Some(answers) = answers else {
                    return vec![None; count];
                };
                let micros = |value: i64| Duration::from_micros(u64::try_from(value).unwrap_or(0));
                let mut decisions: Vec<Option<Decision>> = answers
                    .chunks_exact(5)
                    .map(|answer| {
                        Some(Decision {
                            allowed: answer[0] == 1,
                            window: usize::try_from(answer[1]).unwrap_or(0),
                            remaining: u64::try_from(answer[2]).unwrap_or(0),
                            reset: micros(answer[3]),
                            retry_after: micros(answer[4]),
                        })
                    })
                    .collect();
                decisions.resize(count, None);
                decisions
            }
        },
    )
}
