//! `InMemoryTrackerStore`: conversations in a map, lost when the server stops.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rusa_core::Event;
use rusa_core::actions::BoxFuture;
use rusa_core::stores::{StoreError, TrackerStore};

/// Keeps conversations in memory (the default when endpoints.yml configures no store).
#[derive(Default)]
pub struct InMemoryTrackerStore {
    conversations: RwLock<HashMap<String, Arc<RwLock<Vec<Event>>>>>,
}

impl InMemoryTrackerStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn conversation(&self, sender_id: &str) -> Option<Arc<RwLock<Vec<Event>>>> {
        self.conversations
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(sender_id)
            .cloned()
    }

    fn conversation_or_new(&self, sender_id: &str) -> Arc<RwLock<Vec<Event>>> {
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
        let events = self.conversation(sender_id).and_then(|conv| {
            let events = conv.read().unwrap_or_else(|p| p.into_inner());
            (!events.is_empty()).then(|| events.clone())
        });
        Box::pin(std::future::ready(Ok(events)))
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
                .extend_from_slice(events);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn replace<'a>(
        &'a self,
        sender_id: &'a str,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let conv = self.conversation_or_new(sender_id);
        *conv.write().unwrap_or_else(|p| p.into_inner()) = events.to_vec();
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
