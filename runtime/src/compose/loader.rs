//! A DataLoader: the keys that concurrent callers ask for together are coalesced, without
//! duplicates, into one call of a batch function, and each caller gets its own value. N
//! lookups of one kind (the products of twenty batch items, the owners of a page of orders)
//! become one query instead of N.
//!
//! "Together" costs a lone caller a yield, not a timer: a batch leaves once the callers that
//! are ready to run have run, so an idle service answers within microseconds of a service
//! without a loader (see `crate::compose::coalesce` for what the yield costs). Under load, while [`MAX_RUNNING`] batches of a loader are at the database, new keys
//! wait for one of them to come back and leave with it as one batch: the busier the service,
//! the bigger the batches, with no window to tune.
//!
//! ```ignore
//! let products = Loader::new("products", move |ids: Vec<i64>| {
//!     let pool = pool.clone();
//!     async move {
//!         let rows: Vec<(i64, String)> = /* SELECT id, name FROM products WHERE id IN (...) */;
//!         Ok(rows.into_iter().collect())
//!     }
//! });
//! let name = products.load(7).await?; // Option<String>: `None` when the batch had no such key
//! ```

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use http::StatusCode;

use crate::compose::coalesce::{Coalescer, Limits};
use crate::request::problem::Problem;

/// How long a loader waits for more keys after the first one, unless told otherwise: none
/// (the keys of callers ready at the same time still share a batch).
pub const DEFAULT_WINDOW: Duration = Duration::ZERO;
/// The batches of one loader at the database at once; keys asked meanwhile wait for one.
pub const MAX_RUNNING: usize = 2;
/// The most keys one call of the batch function gets, unless told otherwise.
pub const DEFAULT_MAX_BATCH: usize = 1000;

type Answer<V> = Result<Option<V>, Problem>;

/// Coalesces lookups by key into batches; cheap to clone (clones share the batches).
pub struct Loader<K, V> {
    batches: Coalescer<K, Answer<V>>,
}

impl<K, V> Clone for Loader<K, V> {
    fn clone(&self) -> Self {
        Loader {
            batches: self.batches.clone(),
        }
    }
}

impl<K, V> std::fmt::Debug for Loader<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("name", &self.batches.name())
            .field("window", &self.batches.limits().window)
            .field("max_batch", &self.batches.limits().max_batch)
            .finish_non_exhaustive()
    }
}

impl<K, V> Loader<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    /// A loader whose batches `load` answers: given the distinct keys of a batch, it returns
    /// the values it found (a key it leaves out loads as `None`). `name` labels the metrics
    /// `specjet_loader_batches_total` and `specjet_loader_keys_total`.
    pub fn new<F, Fut>(name: &'static str, load: F) -> Loader<K, V>
    where
        F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<HashMap<K, V>, Problem>> + Send + 'static,
    {
        Loader::with_limits(name, DEFAULT_WINDOW, DEFAULT_MAX_BATCH, load)
    }

    /// A loader that waits `window` for more keys after the first one of a batch, and sends a
    /// batch at once when it holds `max_batch` keys.
    pub fn with_limits<F, Fut>(
        name: &'static str,
        window: Duration,
        max_batch: usize,
        load: F,
    ) -> Loader<K, V>
    where
        F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<HashMap<K, V>, Problem>> + Send + 'static,
    {
        let limits = Limits {
            window,
            max_batch,
            max_running: MAX_RUNNING,
        };
        let batches = Coalescer::new(name, limits, move |keys: Vec<K>| {
            // Each key once, whatever the number of its callers.
            let mut seen = HashSet::with_capacity(keys.len());
            let distinct: Vec<K> = keys
                .iter()
                .filter(|key| seen.insert(*key))
                .cloned()
                .collect();
            metrics::counter!("specjet_loader_batches_total", "loader" => name).increment(1);
            metrics::counter!("specjet_loader_keys_total", "loader" => name)
                .increment(distinct.len() as u64);
            let loaded = load(distinct);
            async move {
                let loaded = loaded.await;
                keys.iter()
                    .map(|key| match &loaded {
                        Ok(values) => Ok(values.get(key).cloned()),
                        Err(problem) => Err(problem.clone()),
                    })
                    .collect()
            }
        });
        Loader { batches }
    }

    /// The value of `key`, loaded in a batch with the keys other callers ask for meanwhile;
    /// `None` when the batch function did not return it, the batch's error when it failed.
    /// A batch function that panics answers 500.
    pub async fn load(&self, key: K) -> Result<Option<V>, Problem> {
        self.batches.call(key).await.unwrap_or_else(|| Err(lost()))
    }

    /// The values of `keys`, in their order, loaded in one batch (with other callers' keys).
    pub async fn load_many(&self, keys: Vec<K>) -> Result<Vec<Option<V>>, Problem> {
        futures_util::future::try_join_all(keys.into_iter().map(|key| self.load(key))).await
    }
}

fn lost() -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR).with_detail("a batched lookup failed")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A loader of `key * 10` that leaves out 13, counting its batches and keys.
    fn tens(batches: Arc<AtomicUsize>, keys: Arc<AtomicUsize>) -> Loader<u32, u32> {
        Loader::new("tens", move |ids: Vec<u32>| {
            batches.fetch_add(1, Ordering::SeqCst);
            keys.fetch_add(ids.len(), Ordering::SeqCst);
            async move {
                Ok(ids
                    .into_iter()
                    .filter(|id| *id != 13)
                    .map(|id| (id, id * 10))
                    .collect())
            }
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_lookups_become_one_batch_without_duplicates() {
        let (batches, keys) = (Arc::default(), Arc::default());
        let loader = tens(Arc::clone(&batches), Arc::clone(&keys));
        let lookups = [1, 2, 3, 2, 1, 13].map(|id| loader.load(id));
        let answers: Vec<_> = futures_util::future::join_all(lookups)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            answers,
            [Some(10), Some(20), Some(30), Some(20), Some(10), None]
        );
        assert_eq!(batches.load(Ordering::SeqCst), 1);
        assert_eq!(keys.load(Ordering::SeqCst), 4, "1, 2, 3 and 13, once each");
        // Later lookups are a batch of their own.
        assert_eq!(loader.load(5).await.unwrap(), Some(50));
        assert_eq!(batches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_full_batch_is_sent_at_once() {
        let batches = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&batches);
        let loader =
            Loader::with_limits("full", Duration::from_secs(60), 3, move |ids: Vec<u32>| {
                counter.fetch_add(1, Ordering::SeqCst);
                async move { Ok(ids.into_iter().map(|id| (id, id)).collect()) }
            });
        let started = std::time::Instant::now();
        let values = loader.load_many(vec![1, 2, 3]).await.unwrap();
        assert_eq!(values, [Some(1), Some(2), Some(3)]);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "not held for the window"
        );
        assert_eq!(batches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keys_asked_while_the_running_batches_are_out_leave_together_after_them() {
        let sizes: Arc<Mutex<Vec<usize>>> = Arc::default();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let loader = {
            let (sizes, gate) = (Arc::clone(&sizes), Arc::clone(&gate));
            Loader::new("gated", move |ids: Vec<u32>| {
                let (sizes, gate) = (Arc::clone(&sizes), Arc::clone(&gate));
                async move {
                    let call = {
                        let mut sizes = sizes.lock().unwrap();
                        sizes.push(ids.len());
                        sizes.len()
                    };
                    if call <= MAX_RUNNING {
                        // The first batches stay at the "database" until the gate opens.
                        let _ = gate.acquire().await;
                    }
                    Ok(ids.into_iter().map(|id| (id, id)).collect())
                }
            })
        };
        let started = |count: usize| {
            let sizes = Arc::clone(&sizes);
            async move {
                while sizes.lock().unwrap().len() < count {
                    tokio::task::yield_now().await;
                }
            }
        };
        let spawn = |id: u32| {
            let loader = loader.clone();
            tokio::spawn(async move { loader.load(id).await })
        };
        let mut lookups = vec![spawn(1)];
        started(1).await;
        lookups.push(spawn(2));
        started(2).await;
        lookups.extend([3, 4, 5].map(spawn));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(*sizes.lock().unwrap(), [1, 1], "3, 4 and 5 wait");
        gate.add_permits(MAX_RUNNING);
        for (lookup, id) in lookups.into_iter().zip(1..) {
            assert_eq!(lookup.await.unwrap().unwrap(), Some(id));
        }
        assert_eq!(*sizes.lock().unwrap(), [1, 1, 3]);
    }

    #[tokio::test]
    async fn a_failing_or_panicking_batch_answers_every_caller() {
        let failing: Loader<u32, u32> = Loader::new("failing", |_ids: Vec<u32>| async {
            Err(Problem::new(StatusCode::SERVICE_UNAVAILABLE))
        });
        let answers = futures_util::future::join(failing.load(1), failing.load(2)).await;
        assert_eq!(answers.0.unwrap_err().status, 503);
        assert_eq!(answers.1.unwrap_err().status, 503);

        let panicking: Loader<u32, u32> = Loader::new("panicking", |ids: Vec<u32>| async move {
            assert!(ids.is_empty(), "the batch function fails");
            Ok(HashMap::new())
        });
        assert_eq!(panicking.load(1).await.unwrap_err().status, 500);
    }
}
