//! The traits of the stores a server keeps conversations in, the locks that serialise one
//! conversation's messages, and the brokers that publish events. Implementations live in
//! `rusa-stores`; the message processor only knows these traits.
//!
//! All methods are async through [`BoxFuture`] (object-safe, runtime-agnostic).

use std::time::Duration;

use crate::actions::BoxFuture;
use crate::events::Event;

/// Why a store or broker operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing service could not be reached or answered with an error.
    #[error("{store}: {message}")]
    Backend {
        store: &'static str,
        message: String,
    },
    /// Stored data could not be decoded.
    #[error("{store}: stored data is invalid: {message}")]
    Corrupt {
        store: &'static str,
        message: String,
    },
    /// The lock was not granted within the wait limit.
    #[error("{store}: conversation is locked: waited {waited:?}")]
    LockTimeout {
        store: &'static str,
        waited: Duration,
    },
}

/// Keeps the events of conversations. Appending only the new events of a turn keeps a
/// turn's cost independent of the conversation's length.
///
/// A store may also tell a conversation's *version*: a number that changes whenever its
/// stored events change, by this process or another. A server keeps recent trackers in
/// memory and, before a turn, asks only for the version; it re-reads the events only when
/// the version is not the one it saved. `0` means the conversation has no events.
pub trait TrackerStore: Send + Sync {
    /// The class name Rasa users know (`SQLTrackerStore`, ...), used in span names.
    fn class_name(&self) -> &'static str;

    /// All events of a conversation in order, or `None` when it has none.
    fn retrieve<'a>(
        &'a self,
        sender_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<Event>>, StoreError>>;

    /// Appends events (the new events of one turn) to a conversation; answers the
    /// conversation's version afterwards, or `None` when the store keeps no versions.
    fn append<'a>(
        &'a self,
        sender_id: &'a str,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>>;

    /// The conversation's current version (`Some(0)`: no events), or `None` when the store
    /// keeps no versions (then every turn reads all events).
    fn version<'a>(&'a self, sender_id: &'a str) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        let _ = sender_id;
        Box::pin(std::future::ready(Ok(None)))
    }

    /// The conversation's events and version, or [`Loaded::Unchanged`] when its version is
    /// still `known` (the version of a copy the caller keeps). Stores that can answer in one
    /// round trip do; by default this is [`TrackerStore::version`] and, unless unchanged,
    /// [`TrackerStore::retrieve`].
    fn load<'a>(
        &'a self,
        sender_id: &'a str,
        known: Option<u64>,
    ) -> BoxFuture<'a, Result<Loaded, StoreError>> {
        Box::pin(async move {
            let version = self.version(sender_id).await?;
            if version.is_some() && version == known {
                return Ok(Loaded::Unchanged);
            }
            let events = if version == Some(0) {
                Vec::new()
            } else {
                self.retrieve(sender_id).await?.unwrap_or_default()
            };
            Ok(Loaded::Events { events, version })
        })
    }

    /// Replaces all events of a conversation (`PUT /conversations/{id}/tracker/events`).
    fn replace<'a>(
        &'a self,
        sender_id: &'a str,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The ids of all stored conversations.
    fn keys(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>>;
}

/// What [`TrackerStore::load`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    /// The conversation is still at the version the caller knows.
    Unchanged,
    /// Its events (none for a new conversation) and the version they are at (`None` when
    /// the store keeps no versions).
    Events {
        events: Vec<Event>,
        version: Option<u64>,
    },
}

/// Proof of holding a conversation's lock; give it back with [`LockStore::release`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockTicket {
    pub conversation_id: String,
    pub ticket: u64,
}

/// Serialises the messages of one conversation: tickets are served first come, first served
/// (FIFO), and a lock frees itself after `lifetime` if its holder died.
pub trait LockStore: Send + Sync {
    fn class_name(&self) -> &'static str;

    /// Waits for the conversation's lock (at most `wait`); the lock expires after `lifetime`.
    fn lock<'a>(
        &'a self,
        conversation_id: &'a str,
        lifetime: Duration,
        wait: Duration,
    ) -> BoxFuture<'a, Result<LockTicket, StoreError>>;

    /// Releases a lock taken with [`LockStore::lock`].
    fn release<'a>(&'a self, ticket: &'a LockTicket) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Makes a held lock expire `lifetime` from now: the holder of a turn that runs longer
    /// than the lifetime (a slow action server) calls it while the turn runs. An error
    /// means the lock is lost. The default keeps the first lifetime.
    fn extend<'a>(
        &'a self,
        ticket: &'a LockTicket,
        lifetime: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let _ = (ticket, lifetime);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Publishes conversation events, one message per event: the event JSON plus `sender_id`
/// (and the message's `metadata`). A broker that is down never fails a turn: it buffers
/// (bounded), retries, and counts what it had to drop.
pub trait EventBroker: Send + Sync {
    fn class_name(&self) -> &'static str;

    /// Hands one message to the broker; returns without waiting for the network.
    fn publish(&self, message: serde_json::Value);

    /// Waits at most `budget` for buffered messages to go out (at shutdown).
    fn flush(&self, budget: Duration) -> BoxFuture<'_, ()>;

    /// Messages dropped since start because the buffer was full.
    fn dropped(&self) -> u64;

    /// Messages handed to [`EventBroker::publish`] that are not delivered yet (buffered or
    /// being sent); with [`EventBroker::dropped`] it tells a batch job such as `rusa export`
    /// how much did not arrive.
    fn pending(&self) -> usize;
}

/// The broker message of an event: its JSON with `sender_id` added.
pub fn broker_message(sender_id: &str, event: &Event) -> serde_json::Value {
    let mut value = serde_json::to_value(event).unwrap_or(serde_json::Value::Null);
    if let Some(obj) = value.as_object_mut() {
        obj.insert(
            "sender_id".into(),
            serde_json::Value::String(sender_id.to_owned()),
        );
    }
    value
}
