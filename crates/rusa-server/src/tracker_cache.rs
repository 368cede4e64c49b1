//! Trackers kept in memory between turns, so that a turn in a long conversation does not
//! read and decode every event again.
//!
//! An entry is valid only for the store version it was saved at: before a turn the
//! processor asks the store for the conversation's version (one cheap query) and uses the
//! entry only when they match, so a change made by another server, or directly in the
//! store, is always seen. The cache holds at most a budget of events in all; the least
//! recently used conversations go first.

use std::collections::HashMap;
use std::sync::Mutex;

use rusa_core::DialogueStateTracker;

/// How many events the cache holds in all, by default. A cached event costs about 3 KiB
/// (its parse data as a JSON tree), so this is some 25 MiB at most.
pub const DEFAULT_TRACKER_CACHE_EVENTS: usize = 8_192;

/// Conversations shorter than this are not kept: reading them again costs little, and a
/// server with many new conversations would otherwise fill its memory with them.
pub const MIN_CACHED_EVENTS: usize = 64;

struct Entry {
    tracker: DialogueStateTracker,
    version: u64,
    model_id: String,
    used: u64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    events: usize,
    clock: u64,
}

impl Inner {
    fn remove(&mut self, sender_id: &str) -> Option<Entry> {
        let entry = self.entries.remove(sender_id)?;
        self.events -= entry.tracker.events().len();
        Some(entry)
    }
}

/// A tracker from the cache, with the model it was built for.
pub(crate) struct Cached {
    pub tracker: DialogueStateTracker,
    pub model_id: String,
}

pub(crate) struct TrackerCache {
    inner: Mutex<Inner>,
    budget: usize,
    min_events: usize,
}

impl TrackerCache {
    /// A cache of at most `budget` events (0 turns caching off), of conversations of at
    /// least `min_events` events.
    pub fn new(budget: usize, min_events: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            budget,
            min_events,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the conversation's tracker out if it was saved at `version` (a turn puts it
    /// back with [`TrackerCache::put`]); a stale entry is dropped.
    pub fn take(&self, sender_id: &str, version: u64) -> Option<Cached> {
        let mut inner = self.lock();
        let entry = inner.remove(sender_id)?;
        (entry.version == version).then_some(Cached {
            tracker: entry.tracker,
            model_id: entry.model_id,
        })
    }

    /// A copy of the conversation's tracker if it was saved at `version`.
    pub fn copy(&self, sender_id: &str, version: u64) -> Option<Cached> {
        let inner = self.lock();
        let entry = inner.entries.get(sender_id)?;
        (entry.version == version).then(|| Cached {
            tracker: entry.tracker.clone(),
            model_id: entry.model_id.clone(),
        })
    }

    /// The version the conversation's kept tracker was saved at, if one is kept.
    pub fn version(&self, sender_id: &str) -> Option<u64> {
        self.lock().entries.get(sender_id).map(|e| e.version)
    }

    /// Forgets a conversation.
    pub fn remove(&self, sender_id: &str) {
        self.lock().remove(sender_id);
    }

    /// Keeps a tracker as saved at `version`, evicting the least recently used
    /// conversations when over budget.
    pub fn put(&self, tracker: DialogueStateTracker, version: u64, model_id: &str) {
        let size = tracker.events().len();
        let mut inner = self.lock();
        inner.remove(&tracker.sender_id);
        if size > self.budget || size < self.min_events {
            return;
        }
        inner.clock += 1;
        let used = inner.clock;
        inner.events += size;
        inner.entries.insert(
            tracker.sender_id.clone(),
            Entry {
                tracker,
                version,
                model_id: model_id.to_owned(),
                used,
            },
        );
        if inner.events > self.budget {
            // Down to three quarters at once, so that eviction's sort is paid rarely.
            let mut by_age: Vec<(u64, String)> = inner
                .entries
                .iter()
                .map(|(k, e)| (e.used, k.clone()))
                .collect();
            by_age.sort_unstable();
            let target = self.budget / 4 * 3;
            for (_, key) in by_age {
                if inner.events <= target {
                    break;
                }
                inner.remove(&key);
            }
        }
    }

    /// Conversations and events held (for tests).
    #[cfg(test)]
    fn size(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.entries.len(), inner.events)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rusa_core::{Event, EventKind};

    use super::*;

    fn tracker(sender: &str, events: usize) -> DialogueStateTracker {
        let events = (0..events)
            .map(|i| Event::new(EventKind::Restart, i as f64))
            .collect();
        DialogueStateTracker::from_events(sender, Arc::from(Vec::new()), events)
    }

    #[test]
    fn an_entry_is_valid_only_for_its_version() {
        let cache = TrackerCache::new(100, 1);
        cache.put(tracker("a", 3), 7, "m");
        assert!(cache.copy("a", 8).is_none());
        assert_eq!(
            cache.copy("a", 7).map(|c| c.tracker.events().len()),
            Some(3)
        );
        // Taking a stale version drops the entry.
        assert!(cache.take("a", 8).is_none());
        assert!(cache.copy("a", 7).is_none());
        cache.put(tracker("a", 3), 9, "m");
        let taken = cache.take("a", 9).map(|c| c.model_id);
        assert_eq!(taken.as_deref(), Some("m"));
        assert_eq!(cache.size(), (0, 0));
    }

    #[test]
    fn the_least_recently_used_go_first_when_over_budget() {
        let cache = TrackerCache::new(40, 1);
        for (i, name) in ["a", "b", "c", "d"].into_iter().enumerate() {
            cache.put(tracker(name, 10), i as u64 + 1, "m");
        }
        assert_eq!(cache.size(), (4, 40));
        // "a" is used again, so "b" is now the oldest.
        let a = cache.take("a", 1).expect("cached");
        cache.put(a.tracker, 5, "m");
        cache.put(tracker("e", 10), 6, "m");
        let (conversations, events) = cache.size();
        assert!(events <= 30, "{events} events held");
        assert_eq!(conversations, events / 10);
        assert!(cache.copy("b", 2).is_none());
        assert!(cache.copy("e", 6).is_some());
        assert!(cache.copy("a", 5).is_some());
        // A tracker larger than the whole budget is not kept, nor one below the minimum.
        cache.put(tracker("big", 41), 1, "m");
        assert!(cache.copy("big", 1).is_none());
        let cache = TrackerCache::new(40, 5);
        cache.put(tracker("short", 4), 1, "m");
        assert!(cache.copy("short", 1).is_none());
        cache.put(tracker("long", 5), 1, "m");
        assert!(cache.copy("long", 1).is_some());
    }
}
