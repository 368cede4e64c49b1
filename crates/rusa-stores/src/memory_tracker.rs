//! `InMemoryTrackerStore`: conversations in a map, lost when the server stops.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rusa_core::Event;
use rusa_core::actions::BoxFuture;
use rusa_core::stores::{Loaded, StoreError, TrackerStore};

/// One event as compact JSON: far smaller than the parsed event tree (a parse with its
/// intent ranking is hundreds of small JSON values), so a server keeps many conversations in
/// little memory. Decoding on read costs a few microseconds per event.
type Stored = Box<[u8]>;

/// One conversation: its events, and the version of its last write.
#[derive(Default)]
struct Conversation {
    events: Vec<Stored>,
    version: u64,
}

type Shared = Arc<RwLock<Conversation>>;

/// Keeps conversations in memory (the default when endpoints.yml configures no store).
#[derive(Default)]
pub struct InMemoryTrackerStore {
    conversations: RwLock<HashMap<String, Shared>>,
    /// The last version given out; versions never repeat, even across conversations.
    versions: AtomicU64,
}

fn encode(events: &[Event]) -> Vec<Stored> {
    events
        .iter()
        .map(|e| serde_json::to_vec(e).unwrap_or_default().into_boxed_slice())
        .collect()
}

fn decode(stored: &[Stored]) -> Result<Vec<Event>, StoreError> {
    stored
        .iter()
        .map(|bytes| {
            serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
                store: "InMemoryTrackerStore",
                message: e.to_string(),
            })
        })
        .collect()
}

impl InMemoryTrackerStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn next_version(&self) -> u64 {
        self.versions.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn conversation(&self, sender_id: &str) -> Option<Shared> {
        self.conversations
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(sender_id)
            .cloned()
    }

    fn conversation_or_new(&self, sender_id: &str) -> Shared {
        if let Some(found) = self.conversation(sender_id) {
            return found;
        }
        let mut map = self
            .conversations
            .write()
            .unwrap_or_else(|p| p.into_inner());
        Arc::clone(map.entry(sender_id.to_owned()).or_default())
    }
}

impl TrackerStore for InMemoryTrackerStore {
    fn class_name(&self) -> &'static str {
        "InMemoryTrackerStore"
    }

    fn retrieve<'a>(
        &'a self,
        sender_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<Event>>, StoreError>> {
        let result = match self.conversation(sender_id) {
            Some(conv) => {
                let stored = conv.read().unwrap_or_else(|p| p.into_inner());
                if stored.events.is_empty() {
                    Ok(None)
                } else {
                    decode(&stored.events).map(Some)
                }
            }
            None => Ok(None),
        };
        Box::pin(std::future::ready(result))
    }

    fn load<'a>(
        &'a self,
        sender_id: &'a str,
        known: Option<u64>,
    ) -> BoxFuture<'a, Result<Loaded, StoreError>> {
        let result = match self.conversation(sender_id) {
            None => Ok(Loaded::Events {
                events: Vec::new(),
                version: Some(0),
            }),
            Some(conv) => {
                let stored = conv.read().unwrap_or_else(|p| p.into_inner());
                if known == Some(stored.version) {
                    Ok(Loaded::Unchanged)
                } else {
                    decode(&stored.events).map(|events| Loaded::Events {
                        events,
                        version: Some(stored.version),
                    })
                }
            }
        };
        Box::pin(std::future::ready(result))
    }

    fn append<'a>(
        &'a self,
        sender_id: &'a str,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        let version = if events.is_empty() {
            self.conversation(sender_id).map_or(0, |conv| {
                conv.read().unwrap_or_else(|p| p.into_inner()).version
            })
        } else {
            let conv = self.conversation_or_new(sender_id);
            let mut conv = conv.write().unwrap_or_else(|p| p.into_inner());
            conv.events.extend(encode(events));
            conv.version = self.next_version();
            conv.version
        };
        Box::pin(std::future::ready(Ok(Some(version))))
    }

    fn replace<'a>(
        &'a self,
        sender_id: &'a str,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let conv = self.conversation_or_new(sender_id);
        let mut conv = conv.write().unwrap_or_else(|p| p.into_inner());
        conv.events = encode(events);
        conv.version = if events.is_empty() {
            0
        } else {
            self.next_version()
        };
        Box::pin(std::future::ready(Ok(())))
    }

    fn version<'a>(&'a self, sender_id: &'a str) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        let version = self.conversation(sender_id).map_or(0, |conv| {
            conv.read().unwrap_or_else(|p| p.into_inner()).version
        });
        Box::pin(std::future::ready(Ok(Some(version))))
    }

    fn keys(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        let map = self.conversations.read().unwrap_or_else(|p| p.into_inner());
        let keys = map
            .iter()
            .filter(|(_, conv)| {
                !conv
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .events
                    .is_empty()
            })
            .map(|(k, _)| k.clone())
            .collect();
        Box::pin(std::future::ready(Ok(keys)))
    }
}
