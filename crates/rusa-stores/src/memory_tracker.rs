//! `InMemoryTrackerStore`: conversations in a map, lost when the server stops.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rusa_core::Event;
use rusa_core::actions::BoxFuture;
use rusa_core::stores::{StoreError, TrackerStore};

/// One event as compact JSON: far smaller than the parsed event tree (a parse with its
/// intent ranking is hundreds of small JSON values), so a server keeps many conversations in
/// little memory. Decoding on read costs a few microseconds per event.
type Stored = Box<[u8]>;

/// Keeps conversations in memory (the default when endpoints.yml configures no store).
#[derive(Default)]
pub struct InMemoryTrackerStore {
    conversations: RwLock<HashMap<String, Arc<RwLock<Vec<Stored>>>>>,
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

    fn conversation(&self, sender_id: &str) -> Option<Arc<RwLock<Vec<Stored>>>> {
        self.conversations
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(sender_id)
            .cloned()
    }

    fn conversation_or_new(&self, sender_id: &str) -> Arc<RwLock<Vec<Stored>>> {
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
                if stored.is_empty() {
                    Ok(None)
                } else {
                    decode(&stored).map(Some)
                }
            }
            None => Ok(None),
        };
        Box::pin(std::future::ready(result))
    }

    fn append<'a>(
        &'a self,
        sender_id: &'a str,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        if !events.is_empty() {
            let conv = self.conversation_or_new(sender_id);
            conv.write()
                .unwrap_or_else(|p| p.into_inner())
                .extend(encode(events));
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn replace<'a>(
        &'a self,
        sender_id: &'a str,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let conv = self.conversation_or_new(sender_id);
        *conv.write().unwrap_or_else(|p| p.into_inner()) = encode(events);
        Box::pin(std::future::ready(Ok(())))
    }

    fn keys(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        let map = self.conversations.read().unwrap_or_else(|p| p.into_inner());
        let keys = map
            .iter()
            .filter(|(_, conv)| !conv.read().unwrap_or_else(|p| p.into_inner()).is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        Box::pin(std::future::ready(Ok(keys)))
    }
}
