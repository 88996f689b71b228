//! Sending the mix: at a fixed number of connections (each sends its next call when the last
//! is answered), or at a fixed rate, where every call's latency counts from when it should
//! have been sent (a service that stalls is charged for the calls it held up, as wrk2 and oha
//! count; coordinated omission), and recording each call's latency and answer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use specjet::client::{Answer, Client, ClientError};
use tokio::time::Instant;

use crate::plan::Target;

/// How calls are paced.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pace {
    /// This many calls in flight at all times.
    Connections(usize),
    /// This many calls a second, at most `in_flight` at once.
    Rate {
        /// Calls a second.
        per_second: f64,
        /// The most in flight: past it, sends wait (and their latency grows).
        in_flight: usize,
    },
}

/// What was seen of one operation.
#[derive(Debug)]
pub(crate) struct Seen {
    /// Latencies in microseconds.
    pub(crate) latency: Histogram<u64>,
    /// Answers by status.
    pub(crate) statuses: BTreeMap<u16, u64>,
    /// Calls without an answer, by why.
    pub(crate) errors: BTreeMap<&'static str, u64>,
}

impl Seen {
    fn new() -> Seen {
        Seen {
            // 1 µs to 5 minutes, 3 significant figures.
            latency: Histogram::new_with_bounds(1, 300_000_000, 3).expect("fixed, valid bounds"),
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
        }
    }

    /// Calls in all.
    pub(crate) fn calls(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.errors.values().sum::<u64>()
    }
}

/// A run's record.
#[derive(Debug)]
pub(crate) struct Record {
    /// Per target, in the order of the targets.
    pub(crate) seen: Vec<Seen>,
    /// The measured time (after the warm-up).
    pub(crate) measured: Duration,
}

struct Shared {
    client: Client,
    targets: Vec<Target>,
    /// The mix: target indices, each as often as its weight.
    schedule: Vec<usize>,
    next: AtomicUsize,
    seen: Vec<Mutex<Seen>>,
    /// Calls answered so far (warm-up included), for the progress line.
    done: AtomicU64,
    failed: AtomicU64,
    measure_from: Instant,
}

impl Shared {
    fn pick(&self) -> usize {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.schedule[n % self.schedule.len()]
    }

    /// Sends one call of target `index` and records it, its latency counted from `since`.
    async fn call(&self, index: usize, since: Instant) {
        let result = self.client.send(self.targets[index].call()).await;
        let latency = since.elapsed();
        self.done.fetch_add(1, Ordering::Relaxed);
        if result
            .as_ref()
            .map_or(true, |answer| answer.status() >= 500)
        {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        if since < self.measure_from {
            return;
        }
        let Ok(mut seen) = self.seen[index].lock() else {
            return;
        };
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        // Past the histogram's top: counted at its top.
        seen.latency.saturating_record(micros);
        record(&mut seen, &result);
    }
}

fn record(seen: &mut Seen, result: &Result<Answer, ClientError>) {
    match result {
        Ok(answer) => *seen.statuses.entry(answer.status()).or_default() += 1,
        Err(error) => {
            let why = match error {
                ClientError::Connect { .. } => "connect",
                ClientError::Transport { .. } => "transport",
                ClientError::Timeout { .. } => "timeout",
                ClientError::Encode { .. } => "encode",
                ClientError::Decode { .. } => "decode",
            };
            *seen.errors.entry(why).or_default() += 1;
        }
    }
}

/// Runs the mix of `targets` through `client` for `warmup` and then `duration`, paced as
/// `pace` says; `progress` is told each second's totals.
pub(crate) async fn run(
    client: Client,
    targets: Vec<Target>,
    pace: Pace,
    warmup: Duration,
    duration: Duration,
    progress: impl Fn(Duration, u64, u64) + Send + 'static,
) -> Record {
    let schedule: Vec<usize> = targets
        .iter()
        .enumerate()
        .flat_map(|(index, target)| std::iter::repeat_n(index, target.weight as usize))
        .collect();
    let started = Instant::now();
    let shared = Arc::new(Shared {
        client,
        seen: targets.iter().map(|_| Mutex::new(Seen::new())).collect(),
        targets,
        schedule,
        next: AtomicUsize::new(0),
        done: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        measure_from: started + warmup,
    });
    let end = started + warmup + duration;
    let reporter = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval_at(started + Duration::from_secs(1), Duration::from_secs(1));
            loop {
                let at = tick.tick().await;
                progress(
                    at - started,
                    shared.done.load(Ordering::Relaxed),
                    shared.failed.load(Ordering::Relaxed),
                );
            }
        })
    };
    if !shared.schedule.is_empty() {
        match pace {
            Pace::Connections(connections) => at_connections(&shared, connections, end).await,
            Pace::Rate {
                per_second,
                in_flight,
            } => at_rate(&shared, per_second, in_flight, started, end).await,
        }
    }
    reporter.abort();
    let measured = Instant::now().saturating_duration_since(shared.measure_from);
    // Every call has ended; what the progress task still holds is a handle, not a call.
    let seen = shared
        .seen
        .iter()
        .map(|seen| {
            let mut seen = seen.lock().unwrap_or_else(|poison| poison.into_inner());
            std::mem::replace(&mut *seen, Seen::new())
        })
        .collect();
    Record { seen, measured }
}

async fn at_connections(shared: &Arc<Shared>, connections: usize, end: Instant) {
    let workers: Vec<_> = (0..connections.max(1))
        .map(|_| {
            let shared = shared.clone();
            tokio::spawn(async move {
                while Instant::now() < end {
                    let index = shared.pick();
                    shared.call(index, Instant::now()).await;
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
}

/// How late tokio's timer may wake a task on time.
const TIMER_RESOLUTION: Duration = Duration::from_millis(1);

async fn at_rate(
    shared: &Arc<Shared>,
    per_second: f64,
    in_flight: usize,
    started: Instant,
    end: Instant,
) {
    let interval = Duration::from_secs_f64(1.0 / per_second.max(0.001));
    let permits = Arc::new(tokio::sync::Semaphore::new(in_flight.max(1)));
    let mut sent: u32 = 0;
    while let Some(intended) = interval
        .checked_mul(sent)
        .and_then(|offset| started.checked_add(offset))
        .filter(|intended| *intended < end)
    {
        sent = sent.saturating_add(1);
        tokio::time::sleep_until(intended).await;
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        // Late past the timer's resolution (1 ms), the call was held up (by calls still in
        // flight, or a busy machine): its latency counts from when it should have gone. Within
        // it, from when it went, so that the timer's granularity is not charged to the service.
        let now = Instant::now();
        let since = if now.saturating_duration_since(intended) > TIMER_RESOLUTION {
            intended
        } else {
            now
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let index = shared.pick();
            shared.call(index, since).await;
            drop(permit);
        });
    }
    // Every call sent is answered (or ends at its deadline) before the record closes.
    let all = u32::try_from(in_flight.max(1)).unwrap_or(u32::MAX);
    let _ = permits.acquire_many(all).await;
}
