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

/// Past this many distinct tags invalidated, the older half of them is forgotten and the entries
/// stamped before the newest of those die with them: memory stays bounded, and only entries
/// older than half the tags' history go (a service that invalidates a tag per user keeps its
/// recent entries, where forgetting every tag would empty the tier each time).
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
            self.forget_older_half(&mut latest);
        }
    }

    /// Forgets the older half of the tags. An entry stamped before the newest of them might
    /// have been killed by one: it dies (the floor); a later one outlived them all, so what
    /// decides it is still kept.
    fn forget_older_half(&self, latest: &mut HashMap<String, u64>) {
        let cutoff = super::keep_newer_half(latest);
        self.floor.fetch_max(cutoff, Ordering::AcqRel);
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
    fn past_the_bound_the_older_half_is_forgotten_and_only_entries_older_than_it_die() {
        let generations = Generations::default();
        let old = generations.now();
        let mut recent = 0;
        for n in 0..=MAX_TAGS {
            if n == MAX_TAGS * 3 / 4 {
                recent = generations.now();
            }
            generations.invalidate(&format!("user:{n}"));
        }
        let kept = generations.latest.read().unwrap().len();
        assert!(
            (MAX_TAGS / 2 - 1..=MAX_TAGS / 2 + 1).contains(&kept),
            "{kept} kept"
        );
        // Stamped before the forgotten invalidations: dead whatever its tags.
        assert!(!generations.is_current(&tags(&["product:1"]), old));
        assert!(!generations.is_current(&[], old));
        // Stamped after them: alive, unless a tag invalidated since says otherwise.
        assert!(generations.is_current(&tags(&["product:1"]), recent));
        assert!(generations.is_current(&tags(&["user:10"]), recent));
        assert!(!generations.is_current(&tags(&[&format!("user:{}", MAX_TAGS - 1)]), recent));
        assert!(generations.is_current(&tags(&["user:1"]), generations.now()));
    }
}
