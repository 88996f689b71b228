//! Calls that concurrent callers make at once, gathered into one call of a batch function:
//! the keys of a loader become one query, the rate-limit checks and cache invalidations of
//! concurrent writes one Redis round trip.
//!
//! A lone caller pays one yield, no timer: it leads its own batch and, after the yield (the
//! callers already woken add their items first), runs it in its own task. The yield is not
//! free on a multi-threaded runtime (tokio polls its I/O driver for it, and may wake another
//! thread): in the shop at one connection, about a fifth of a lone read's CPU. Under load,
//! while `max_running` batches are out, new items wait and leave together when one comes back:
//! the busier the service, the bigger the batches, with no window to tune.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::{self, Either};
use futures_util::FutureExt;
use tokio::sync::oneshot;

type BatchFuture<O> = Pin<Box<dyn Future<Output = Vec<O>> + Send>>;
type BatchFn<I, O> = dyn Fn(Vec<I>) -> BatchFuture<O> + Send + Sync;

/// When a batch leaves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// How long a batch waits for more items after its first; zero: a yield.
    pub(crate) window: Duration,
    /// A batch with this many items leaves at once.
    pub(crate) max_batch: usize,
    /// Batches out at once; items that come meanwhile wait for one of them.
    pub(crate) max_running: usize,
}

/// Gathers items into batches; cheap to clone (clones share the batches).
pub(crate) struct Coalescer<I, O> {
    shared: Arc<Shared<I, O>>,
}

impl<I, O> Clone for Coalescer<I, O> {
    fn clone(&self) -> Self {
        Coalescer {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// A coalescer that does not keep its batch function (and what it holds) alive.
pub(crate) struct WeakCoalescer<I, O> {
    shared: std::sync::Weak<Shared<I, O>>,
}

impl<I, O> WeakCoalescer<I, O> {
    /// The coalescer, while any clone of it is alive.
    pub(crate) fn upgrade(&self) -> Option<Coalescer<I, O>> {
        self.shared.upgrade().map(|shared| Coalescer { shared })
    }
}

impl<I, O> Coalescer<I, O> {
    /// A handle for a background task that must end with the coalescer.
    pub(crate) fn downgrade(&self) -> WeakCoalescer<I, O> {
        WeakCoalescer {
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// The name given at construction.
    pub(crate) fn name(&self) -> &'static str {
        self.shared.name
    }

    /// When its batches leave.
    pub(crate) fn limits(&self) -> Limits {
        self.shared.limits
    }
}

struct Shared<I, O> {
    /// Names the batches in the log when a batch function panics.
    name: &'static str,
    run: Box<BatchFn<I, O>>,
    limits: Limits,
    state: Mutex<State<I, O>>,
}

/// The batch being gathered (its number, so that a leader that waited knows whether it was
/// sent meanwhile), and the number of batches out.
struct State<I, O> {
    generation: u64,
    pending: Batch<I, O>,
    running: usize,
}

struct Batch<I, O> {
    items: Vec<I>,
    callers: Vec<oneshot::Sender<O>>,
}

impl<I, O> Batch<I, O> {
    fn empty() -> Self {
        Batch {
            items: Vec::new(),
            callers: Vec::new(),
        }
    }
}

impl<I, O> Coalescer<I, O>
where
    I: Send + 'static,
    O: Send + 'static,
{
    /// Batches that `run` answers: given the items of a batch, it returns one output per item,
    /// in their order.
    pub(crate) fn new<F, Fut>(name: &'static str, limits: Limits, run: F) -> Coalescer<I, O>
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<O>> + Send + 'static,
    {
        Coalescer {
            shared: Arc::new(Shared {
                name,
                run: Box::new(move |items| Box::pin(run(items))),
                limits: Limits {
                    max_batch: limits.max_batch.max(1),
                    max_running: limits.max_running.max(1),
                    ..limits
                },
                state: Mutex::new(State {
                    generation: 0,
                    pending: Batch::empty(),
                    running: 0,
                }),
            }),
        }
    }

    /// `item`'s output, computed in a batch with the items other callers give meanwhile;
    /// `None` when the batch function panicked or left it out.
    pub(crate) async fn call(&self, item: I) -> Option<O> {
        let (sender, receiver) = oneshot::channel();
        let role = {
            let mut state = lock(&self.shared);
            state.pending.items.push(item);
            state.pending.callers.push(sender);
            let count = state.pending.items.len();
            if count >= self.shared.limits.max_batch {
                Role::SendFull(take(&mut state))
            } else if count == 1 {
                Role::Lead(state.generation)
            } else {
                Role::Wait
            }
        };
        match role {
            Role::SendFull(batch) => send_in_task(&self.shared, batch),
            Role::Lead(generation) => return self.lead(generation, receiver).await,
            Role::Wait => {}
        }
        receiver.await.ok()
    }

    /// Waits for the batch this caller opened to fill, then sends it: in this task when it
    /// holds this caller's item alone, else in a task of its own (a caller may go away; the
    /// others' items must not go with it).
    async fn lead(&self, generation: u64, mut receiver: oneshot::Receiver<O>) -> Option<O> {
        let mut leader = Leader {
            shared: &self.shared,
            generation,
            armed: true,
        };
        let window = self.shared.limits.window;
        let wait = std::pin::pin!(async move {
            if window.is_zero() {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(window).await;
            }
        });
        // A batch that fills up leaves before its window ends, and answers its leader.
        if let Either::Left((answer, _)) = future::select(&mut receiver, wait).await {
            leader.armed = false;
            return answer.ok();
        }
        leader.armed = false;
        let batch = {
            let mut state = lock(&self.shared);
            // Sent meanwhile (it filled up), or a running batch sends it when it comes back.
            if state.generation != generation || state.running >= self.shared.limits.max_running {
                None
            } else {
                Some(take(&mut state))
            }
        };
        match batch {
            Some(batch) if batch.items.len() == 1 => {
                let _running = Running(&self.shared);
                dispatch(&self.shared, batch).await;
            }
            Some(batch) => send_in_task(&self.shared, batch),
            None => {}
        }
        receiver.await.ok()
    }
}

enum Role<I, O> {
    SendFull(Batch<I, O>),
    Lead(u64),
    Wait,
}

/// A leader still waiting: if it goes away (its request was dropped), the batch it opened is
/// sent by a task of its own.
struct Leader<'a, I: Send + 'static, O: Send + 'static> {
    shared: &'a Arc<Shared<I, O>>,
    generation: u64,
    armed: bool,
}

impl<I: Send + 'static, O: Send + 'static> Drop for Leader<'_, I, O> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let batch = {
            let mut state = lock(self.shared);
            if state.generation != self.generation
                || state.running >= self.shared.limits.max_running
                || state.pending.items.is_empty()
            {
                return;
            }
            take(&mut state)
        };
        send_in_task(self.shared, batch);
    }
}

/// A batch out: when it ends (or its task goes away), the items that came meanwhile leave in a
/// task of their own.
struct Running<'a, I: Send + 'static, O: Send + 'static>(&'a Arc<Shared<I, O>>);

impl<I: Send + 'static, O: Send + 'static> Drop for Running<'_, I, O> {
    fn drop(&mut self) {
        let next = {
            let mut state = lock(self.0);
            state.running -= 1;
            if state.pending.items.is_empty() {
                return;
            }
            take(&mut state)
        };
        send_in_task(self.0, next);
    }
}

fn lock<I, O>(shared: &Shared<I, O>) -> std::sync::MutexGuard<'_, State<I, O>> {
    shared.state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The pending batch, counted as running, leaving an empty one of the next generation.
fn take<I, O>(state: &mut State<I, O>) -> Batch<I, O> {
    state.generation += 1;
    state.running += 1;
    std::mem::replace(&mut state.pending, Batch::empty())
}

/// Sends `batch` (counted as running) from a task of its own. With no runtime to spawn on
/// (one shutting down), it is dropped uncounted: its callers get no answer, and the batches
/// after it are not held up.
fn send_in_task<I: Send + 'static, O: Send + 'static>(
    shared: &Arc<Shared<I, O>>,
    batch: Batch<I, O>,
) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            let shared = Arc::clone(shared);
            runtime.spawn(async move {
                let _running = Running(&shared);
                dispatch(&shared, batch).await;
            });
        }
        Err(_) => lock(shared).running -= 1,
    }
}

/// Calls the batch function once and answers every caller. A batch function that panics
/// leaves its callers without an answer (`None`) instead of waiting.
async fn dispatch<I, O>(shared: &Shared<I, O>, batch: Batch<I, O>) {
    let Batch { items, callers } = batch;
    let outputs = std::panic::AssertUnwindSafe(async { (shared.run)(items).await })
        .catch_unwind()
        .await;
    match outputs {
        Ok(outputs) => {
            for (caller, output) in callers.into_iter().zip(outputs) {
                // A caller that went away needs no answer.
                let _ = caller.send(output);
            }
        }
        Err(_) => tracing::error!(batch = shared.name, "a batch function panicked"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn limits(max_running: usize) -> Limits {
        Limits {
            window: Duration::ZERO,
            max_batch: 100,
            max_running,
        }
    }

    /// Doubles its items, recording each batch's size; each batch waits at `gate` when given.
    fn doubler(
        sizes: Arc<Mutex<Vec<usize>>>,
        gate: Option<Arc<tokio::sync::Semaphore>>,
    ) -> Coalescer<u32, u32> {
        Coalescer::new("doubler", limits(1), move |items: Vec<u32>| {
            sizes.lock().unwrap().push(items.len());
            let gate = gate.clone();
            async move {
                if let Some(gate) = gate {
                    let _ = gate.acquire().await.map(|permit| permit.forget());
                }
                items.into_iter().map(|item| item * 2).collect()
            }
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_at_once_share_one_batch_and_each_gets_its_own_output() {
        let sizes: Arc<Mutex<Vec<usize>>> = Arc::default();
        let coalescer = doubler(Arc::clone(&sizes), None);
        let calls = (1..=5).map(|item| coalescer.call(item));
        let outputs = futures_util::future::join_all(calls).await;
        assert_eq!(outputs, [Some(2), Some(4), Some(6), Some(8), Some(10)]);
        assert_eq!(*sizes.lock().unwrap(), [5]);
        // A lone caller is a batch of its own, run in its own task.
        assert_eq!(coalescer.call(7).await, Some(14));
        assert_eq!(*sizes.lock().unwrap(), [5, 1]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn items_given_while_a_batch_is_out_leave_together_when_it_comes_back() {
        let sizes: Arc<Mutex<Vec<usize>>> = Arc::default();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let coalescer = doubler(Arc::clone(&sizes), Some(Arc::clone(&gate)));
        let first = tokio::spawn({
            let coalescer = coalescer.clone();
            async move { coalescer.call(1).await }
        });
        while sizes.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        let later: Vec<_> = (2..=4)
            .map(|item| {
                let coalescer = coalescer.clone();
                tokio::spawn(async move { coalescer.call(item).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(*sizes.lock().unwrap(), [1], "2, 3 and 4 wait for the first");
        gate.add_permits(2);
        assert_eq!(first.await.unwrap(), Some(2));
        for (call, item) in later.into_iter().zip(2..) {
            assert_eq!(call.await.unwrap(), Some(item * 2));
        }
        assert_eq!(*sizes.lock().unwrap(), [1, 3]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_leader_that_goes_away_does_not_strand_the_others() {
        // The leader waits a window; it is dropped while it waits, with a second item pending.
        let batches = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&batches);
        let coalescer: Coalescer<u32, u32> = Coalescer::new(
            "windowed",
            Limits {
                window: Duration::from_millis(100),
                ..limits(1)
            },
            move |items: Vec<u32>| {
                counter.fetch_add(1, Ordering::SeqCst);
                async move { items }
            },
        );
        let leader = tokio::spawn({
            let coalescer = coalescer.clone();
            async move { coalescer.call(1).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let follower = tokio::spawn({
            let coalescer = coalescer.clone();
            async move { coalescer.call(2).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        leader.abort();
        let answer = tokio::time::timeout(Duration::from_secs(2), follower)
            .await
            .expect("the follower is answered")
            .unwrap();
        assert_eq!(answer, Some(2));
        assert_eq!(batches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_panicking_batch_leaves_its_callers_unanswered_not_waiting() {
        let coalescer: Coalescer<u32, u32> =
            Coalescer::new("panicking", limits(1), |items: Vec<u32>| async move {
                assert!(!items.contains(&1), "the batch function fails on 1");
                items
            });
        let outputs = futures_util::future::join(coalescer.call(1), coalescer.call(2)).await;
        assert_eq!(outputs, (None, None));
        // The next batch runs: the panic did not leave a batch counted as running.
        assert_eq!(coalescer.call(3).await, Some(3));
    }
}
