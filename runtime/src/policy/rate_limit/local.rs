//! In-process budgets: one keyed GCRA limiter (`governor`) per window of a policy.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use super::{Decision, Window};

type Keyed =
    RateLimiter<String, DashMapStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// How often idle keys are dropped: governor's keyed state otherwise grows with every
/// client ever seen.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The budgets of one policy, per key, in every window.
pub(crate) struct LocalBudget {
    windows: Vec<(Window, Keyed)>,
    clock: DefaultClock,
    started: Instant,
    last_sweep_secs: AtomicU64,
}

impl LocalBudget {
    pub(crate) fn new(windows: &[Window]) -> LocalBudget {
        let clock = DefaultClock::default();
        let windows = windows
            .iter()
            .map(|window| {
                let burst = NonZeroU32::new(window.burst.max(1)).unwrap_or(NonZeroU32::MIN);
                // `interval` is never zero, so `with_period` always gives a quota.
                let quota = Quota::with_period(window.interval())
                    .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
                    .allow_burst(burst);
                let limiter = RateLimiter::dashmap_with_clock(quota, clock.clone())
                    .with_middleware::<StateInformationMiddleware>();
                (*window, limiter)
            })
            .collect();
        LocalBudget {
            windows,
            clock,
            started: Instant::now(),
            last_sweep_secs: AtomicU64::new(0),
        }
    }

    /// Takes `cost` units from `key` in every window, window after window: a refusal by a
    /// later window leaves the units an earlier one gave (as separate limiters would).
    pub(crate) fn take(&self, key: &str, cost: u32) -> Decision {
        self.sweep();
        let cost = NonZeroU32::new(cost.max(1)).unwrap_or(NonZeroU32::MIN);
        let key = key.to_owned();
        let mut tightest: Option<Decision> = None;
        for (index, (window, limiter)) in self.windows.iter().enumerate() {
            let decision = match limiter.check_key_n(&key, cost) {
                Ok(Ok(snapshot)) => {
                    let remaining = u64::from(snapshot.remaining_burst_capacity());
                    let used = u64::from(window.burst).saturating_sub(remaining);
                    Decision {
                        allowed: true,
                        window: index,
                        remaining,
                        reset: window.interval().saturating_mul(clamp_u32(used)),
                        retry_after: Duration::ZERO,
                    }
                }
                Ok(Err(not_until)) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    return Decision {
                        allowed: false,
                        window: index,
                        remaining: 0,
                        reset: window.interval().saturating_mul(window.burst),
                        retry_after: wait,
                    };
                }
                // A call costing more than the burst can never pass.
                Err(_) => {
                    return Decision {
                        allowed: false,
                        window: index,
                        remaining: 0,
                        reset: window.period,
                        retry_after: window.period,
                    }
                }
            };
            if tightest
                .as_ref()
                .is_none_or(|tightest| decision.remaining < tightest.remaining)
            {
                tightest = Some(decision);
            }
        }
        tightest.unwrap_or(Decision {
            allowed: true,
            window: 0,
            remaining: u64::MAX,
            reset: Duration::ZERO,
            retry_after: Duration::ZERO,
        })
    }

    /// Drops the keys whose budget is whole again, at most once per [`SWEEP_EVERY`].
    fn sweep(&self) {
        self.sweep_at(self.started.elapsed().as_secs());
    }

    fn sweep_at(&self, now: u64) {
        let last = self.last_sweep_secs.load(Ordering::Relaxed);
        if now < last + SWEEP_EVERY.as_secs() {
            return;
        }
        if self
            .last_sweep_secs
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            for (_, limiter) in &self.windows {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
    }

    /// Keys currently held (for tests of the sweep).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.windows.iter().map(|(_, limiter)| limiter.len()).sum()
    }
}

fn clamp_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_allows_its_burst_then_refuses_with_the_wait() {
        let budget = LocalBudget::new(&[Window::new(3, Duration::from_secs(60))]);
        let remaining: Vec<u64> = (0..3).map(|_| budget.take("a", 1).remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = budget.take("a", 1);
        assert!(!refused.allowed);
        // One unit comes back every 20 s.
        assert!(refused.retry_after > Duration::from_secs(19));
        assert!(refused.retry_after <= Duration::from_secs(20));
        // Another key has its own budget.
        assert!(budget.take("b", 1).allowed);
    }

    #[test]
    fn the_tightest_window_is_reported_and_costs_count() {
        let budget = LocalBudget::new(&[
            Window::new(100, Duration::from_secs(60)),
            Window::new(5, Duration::from_secs(1)),
        ]);
        let decision = budget.take("k", 2);
        assert!(decision.allowed);
        assert_eq!((decision.window, decision.remaining), (1, 3));
        assert!(budget.take("k", 3).allowed);
        let refused = budget.take("k", 1);
        assert!(!refused.allowed);
        assert_eq!(refused.window, 1);
        // More than the burst can never pass.
        assert!(!budget.take("other", 6).allowed);
    }

    #[test]
    fn idle_keys_are_dropped() {
        let budget = LocalBudget::new(&[Window::new(1000, Duration::from_millis(1))]);
        for key in 0..100 {
            budget.take(&key.to_string(), 1);
        }
        assert_eq!(budget.len(), 100);
        std::thread::sleep(Duration::from_millis(20));
        // Not yet: sweeps are spaced out.
        budget.sweep_at(1);
        assert_eq!(budget.len(), 100);
        budget.sweep_at(SWEEP_EVERY.as_secs());
        assert_eq!(budget.len(), 0);
    }
}
