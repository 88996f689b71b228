//! Invalidation of the in-process tier by tag, in constant time: an invalidation moves a
//! clock and notes the tag's time; an entry in memory carries the clock's time from before its
//! handler ran, and is dead once any of its tags was invalidated after that.
//!
//! Scanning the tier for the entries of a tag (moka's `invalidate_entries_if`) costs every
//! later read a check against every pending predicate: under a few writes a second, reads
//! slowed from thousands a second to tens. Stamping before the handler runs also closes the
//! race of a read that fetched old rows, then stored them after the write's invalidation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

/// Past this many distinct tags invalidated, the tags are forgotten and every entry stamped
/// before then dies with them: memory stays bounded, at the cost of a cold tier once in a while.
const MAX_TAGS: usize = 1 << 16;

#[derive(Debug, Default)]
pub(super) struct Generations {
    clock: AtomicU64,
    /// The clock's time of each tag's latest invalidation; tags never invalidated are absent.
    latest: RwLock<HashMap<String, u64>>,
    /// Entries stamped before this time are dead whatever their tags.
    floor: AtomicU64,
}

impl Generations {
    /// The time to stamp on an entry whose handler starts now.
    pub(super) fn now(&self) -> u64 {
        self.clock.load(Ordering::Acquire)
    }

    /// Whether an entry with `tags`, stamped `since`, outlived no invalidation of its tags.
    pub(super) fn is_current(&self, tags: &[String], since: u64) -> bool {
        if since < self.floor.load(Ordering::Acquire) {
            return false;
        }
        if tags.is_empty() || self.now() <= since {
            return true;
        }
        let latest = self
            .latest
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tags.iter()
            .all(|tag| latest.get(tag).is_none_or(|at| *at <= since))
    }

    /// Every entry tagged `tag` stamped before now is dead.
    pub(super) fn invalidate(&self, tag: &str) {
        let mut latest = self
            .latest
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = self.clock.fetch_add(1, Ordering::AcqRel) + 1;
        latest.insert(tag.to_owned(), at);
        if latest.len() > MAX_TAGS {
            self.floor.store(at, Ordering::Release);
            latest.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn an_entry_dies_with_an_invalidation_of_one_of_its_tags_after_its_stamp() {
        let generations = Generations::default();
        let before = generations.now();
        generations.invalidate("user:1");
        let after = generations.now();
        assert!(!generations.is_current(&tags(&["orders:1", "user:1"]), before));
        assert!(generations.is_current(&tags(&["orders:1", "user:1"]), after));
        assert!(generations.is_current(&tags(&["user:2"]), before));
        assert!(generations.is_current(&[], before));
    }

    #[test]
    fn a_read_that_started_before_a_write_stores_a_dead_entry() {
        let generations = Generations::default();
        let stamp = generations.now(); // the handler reads the old rows...
        generations.invalidate("stats:7"); // ...the write commits and invalidates...
        assert!(!generations.is_current(&tags(&["stats:7"]), stamp)); // ...the old rows die
    }

    #[test]
    fn past_the_bound_the_tags_are_forgotten_and_older_entries_die() {
        let generations = Generations::default();
        let old = generations.now();
        for n in 0..=MAX_TAGS {
            generations.invalidate(&format!("user:{n}"));
        }
        assert!(generations.latest.read().unwrap().is_empty());
        assert!(!generations.is_current(&tags(&["product:1"]), old));
        assert!(!generations.is_current(&[], old));
        assert!(generations.is_current(&tags(&["user:1"]), generations.now()));
    }
}
