//! `InMemoryLockStore`: FIFO ticket locks for one server process.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusa_core::actions::BoxFuture;
use rusa_core::stores::{LockStore, LockTicket, StoreError};
use tokio::sync::Notify;
use tokio::time::Instant;

const STORE: &str = "InMemoryLockStore";

/// Serialises the messages of a conversation inside one process: tickets are served in
/// the order they were issued; a holder that does not release within `lifetime` loses
/// the lock.
#[derive(Default)]
pub struct InMemoryLockStore {
    conversations: Mutex<HashMap<String, Arc<Conversation>>>,
}

#[derive(Default)]
struct Conversation {
    state: Mutex<Tickets>,
    changed: Notify,
}

#[derive(Default)]
struct Tickets {
    last_issued: u64,
    /// Live tickets: `None` while waiting, the expiry once holding.
    live: BTreeMap<u64, Option<Instant>>,
}

/// Gives a waiting ticket back if the waiting future is dropped.
struct Pending<'a> {
    store: &'a InMemoryLockStore,
    conversation_id: &'a str,
    ticket: u64,
    armed: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.store.remove(self.conversation_id, self.ticket);
        }
    }
}

impl InMemoryLockStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next ticket of a conversation (the first step of [`LockStore::lock`]).
    pub fn issue_ticket(&self, conversation_id: &str) -> u64 {
        let mut map = self.conversations.lock().unwrap_or_else(|p| p.into_inner());
        let conv = map.entry(conversation_id.to_owned()).or_default();
        let mut state = conv.state.lock().unwrap_or_else(|p| p.into_inner());
        state.last_issued += 1;
        let ticket = state.last_issued;
        state.live.insert(ticket, None);
        ticket
    }

    /// Waits until `ticket` is the lowest live ticket of the conversation (the second
    /// step of [`LockStore::lock`]); gives the ticket back after `wait`.
    pub async fn wait_for_ticket(
        &self,
        conversation_id: &str,
        ticket: u64,
        lifetime: Duration,
        wait: Duration,
    ) -> Result<LockTicket, StoreError> {
        let mut pending = Pending {
            store: self,
            conversation_id,
            ticket,
            armed: true,
        };
        let Some(conv) = self
            .conversations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(conversation_id)
            .cloned()
        else {
            return Err(StoreError::Backend {
                store: STORE,
                message: format!("ticket {ticket} was not issued for this conversation"),
            });
        };
        let start = Instant::now();
        let deadline = start + wait;
        loop {
            let changed = conv.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let now = Instant::now();
            let holder_expiry = {
                let mut state = conv.state.lock().unwrap_or_else(|p| p.into_inner());
                let before = state.live.len();
                state
                    .live
                    .retain(|_, expiry| expiry.is_none_or(|e| e > now));
                if state.live.len() != before {
                    // The id only at debug level: lines above it never name a user.
                    tracing::warn!("a conversation lock outlived its lifetime; freed it");
                    tracing::debug!(conversation_id, "freed an outlived conversation lock");
                }
                match state.live.first_key_value() {
                    Some((&lowest, _)) if lowest == ticket => {
                        state.live.insert(ticket, Some(now + lifetime));
                        pending.armed = false;
                        return Ok(LockTicket {
                            conversation_id: conversation_id.to_owned(),
                            ticket,
                        });
                    }
                    Some((_, expiry)) => *expiry,
                    None => None,
                }
            };
            if now >= deadline {
                return Err(StoreError::LockTimeout {
                    store: STORE,
                    waited: now - start,
                });
            }
            let wake = holder_expiry.map_or(deadline, |e| e.min(deadline));
            let _ = tokio::time::timeout_at(wake, changed).await;
        }
    }

    fn remove(&self, conversation_id: &str, ticket: u64) {
        let mut map = self.conversations.lock().unwrap_or_else(|p| p.into_inner());
        let Some(conv) = map.get(conversation_id).cloned() else {
            return;
        };
        let empty = {
            let mut state = conv.state.lock().unwrap_or_else(|p| p.into_inner());
            state.live.remove(&ticket);
            state.live.is_empty()
        };
        if empty {
            map.remove(conversation_id);
        }
        conv.changed.notify_waiters();
    }
}

impl LockStore for InMemoryLockStore {
    fn class_name(&self) -> &'static str {
        STORE
    }

    fn lock<'a>(
        &'a self,
        conversation_id: &'a str,
        lifetime: Duration,
        wait: Duration,
    ) -> BoxFuture<'a, Result<LockTicket, StoreError>> {
        Box::pin(async move {
            let ticket = self.issue_ticket(conversation_id);
            self.wait_for_ticket(conversation_id, ticket, lifetime, wait)
                .await
        })
    }

    fn release<'a>(&'a self, ticket: &'a LockTicket) -> BoxFuture<'a, Result<(), StoreError>> {
        self.remove(&ticket.conversation_id, ticket.ticket);
        Box::pin(std::future::ready(Ok(())))
    }

    fn extend<'a>(
        &'a self,
        ticket: &'a LockTicket,
        lifetime: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let conv = self
            .conversations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ticket.conversation_id)
            .cloned();
        let extended = conv.is_some_and(|conv| {
            let mut state = conv.state.lock().unwrap_or_else(|p| p.into_inner());
            match state.live.get_mut(&ticket.ticket) {
                Some(expiry) => {
                    *expiry = Some(Instant::now() + lifetime);
                    true
                }
                None => false,
            }
        });
        Box::pin(std::future::ready(if extended {
            Ok(())
        } else {
            Err(StoreError::Backend {
                store: STORE,
                message: "the lock to extend is no longer held".into(),
            })
        }))
    }
}
