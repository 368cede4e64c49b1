//! The server's message processor: one turn under the conversation's lock — get the tracker
//! (from memory when the store's version says it is current, else from the store), run the
//! turn, append only the new events, publish them, release the lock. Each step is a
//! `tracing` span named as in the tracing spec.

use rusa_core::span_status::record_failure;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rusa_core::DialogueStateTracker;
use rusa_core::actions::CustomActionExecutor;
use rusa_core::agent::Agent;
use rusa_core::processor::{ExternalIntent, TurnEnv, UserMessage, system_now};
use rusa_core::responses::BotMessage;
use rusa_core::stores::{
    EventBroker, Loaded, LockStore, LockTicket, StoreError, TrackerStore, broker_message,
};
use rusa_core::{Event, EventKind};
use serde_json::{Map, Value};
use tracing::Instrument as _;

use crate::reminders::{Reminder, Reminders};
use crate::tracker_cache::{DEFAULT_TRACKER_CACHE_EVENTS, MIN_CACHED_EVENTS, TrackerCache};

/// How long a conversation's lock lives before a dead holder's lock frees itself.
pub const DEFAULT_LOCK_LIFETIME: Duration = Duration::from_secs(60);
/// How long a message waits for its conversation's lock.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(60);

/// A message as a channel received it.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    pub sender_id: String,
    pub text: String,
    pub input_channel: String,
    pub metadata: Map<String, Value>,
    pub message_id: Option<String>,
    /// An external event (`trigger_intent`) instead of a text: `text`, `metadata` and
    /// `message_id` are then Rasa's for external events, whatever they hold here.
    pub external: Option<ExternalIntent>,
    /// The due reminder this external event comes from: the turn happens only if the
    /// conversation still wants it ([`Reminder::still_wanted`]).
    pub reminder: Option<Reminder>,
}

/// Why a turn could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("no model is loaded")]
    NoModel,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs turns over the configured stores.
pub struct MessageProcessor {
    agent: RwLock<Option<(Arc<Agent>, PathBuf)>>,
    pub tracker_store: Arc<dyn TrackerStore>,
    pub lock_store: Arc<dyn LockStore>,
    pub broker: Option<Arc<dyn EventBroker>>,
    pub actions: Arc<dyn CustomActionExecutor>,
    pub lock_lifetime: Duration,
    pub lock_wait: Duration,
    cache: TrackerCache,
    reminders: Reminders,
    /// The pulling of a model server named by `PUT /model`, while it runs.
    model_pulling: std::sync::Mutex<Option<tokio::task::AbortHandle>>,
}

impl MessageProcessor {
    pub fn new(
        agent: Option<(Arc<Agent>, PathBuf)>,
        tracker_store: Arc<dyn TrackerStore>,
        lock_store: Arc<dyn LockStore>,
        broker: Option<Arc<dyn EventBroker>>,
        actions: Arc<dyn CustomActionExecutor>,
    ) -> Self {
        Self {
            agent: RwLock::new(agent),
            tracker_store,
            lock_store,
            broker,
            actions,
            lock_lifetime: DEFAULT_LOCK_LIFETIME,
            lock_wait: DEFAULT_LOCK_WAIT,
            cache: TrackerCache::new(DEFAULT_TRACKER_CACHE_EVENTS, MIN_CACHED_EVENTS),
            reminders: Reminders::new(),
            model_pulling: std::sync::Mutex::new(None),
        }
    }

    /// Stops the model server pulling that `PUT /model` started, if any, and starts
    /// `pulling` in its place.
    pub fn replace_model_pulling(&self, pulling: Option<tokio::task::AbortHandle>) {
        let mut slot = self.model_pulling.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = std::mem::replace(&mut *slot, pulling) {
            old.abort();
        }
    }

    /// Schedules and cancels reminders as the `reminder` and `cancel_reminder` events among
    /// `events` (new events of `sender_id`, saved) say; their replies are meant for
    /// `channel`. Nothing happens to due reminders until [`MessageProcessor::run_reminders`]
    /// runs.
    pub fn schedule_reminders(&self, sender_id: &str, channel: &str, events: &[Event]) {
        self.reminders.apply(sender_id, channel, events);
    }

    /// Handles due reminders until the processor is dropped: each as an external event of
    /// its conversation, in a task of its own; the replies of a reminder set from the
    /// callback channel are POSTed to `callback`, others are only stored. Only the first
    /// call runs; later ones return at once.
    pub async fn run_reminders(self: Arc<Self>, callback: Option<rusa_actions::HttpEndpoint>) {
        let receiver = self
            .reminders
            .receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(mut receiver) = receiver else {
            return;
        };
        let weak = Arc::downgrade(&self);
        drop(self);
        while let Some(due) = receiver.recv().await {
            let Some(processor) = weak.upgrade() else {
                return;
            };
            let callback = callback.clone().filter(|_| due.channel == "callback");
            tokio::spawn(async move {
                let sender_id = due.sender_id.clone();
                let incoming = Incoming {
                    sender_id: due.sender_id,
                    input_channel: due.channel,
                    external: Some(ExternalIntent {
                        intent: due.reminder.intent.clone(),
                        entities: due.reminder.entity_list(),
                    }),
                    reminder: Some(due.reminder),
                    ..Incoming::default()
                };
                match processor.handle_message(incoming, None).await {
                    Ok(messages) => {
                        if let Some(endpoint) = callback {
                            crate::callback::deliver_all(&endpoint, &messages, &sender_id).await;
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "a due reminder could not be handled"),
                }
            });
        }
    }

    /// Keeps in memory between turns at most `budget` events of conversations of at least
    /// `min_events` events (by default [`DEFAULT_TRACKER_CACHE_EVENTS`] and
    /// [`MIN_CACHED_EVENTS`]; a budget of 0 keeps nothing).
    pub fn with_tracker_cache(mut self, budget: usize, min_events: usize) -> Self {
        self.cache = TrackerCache::new(budget, min_events);
        self
    }

    /// The loaded model, if any. A turn keeps the `Arc` it started with, so swapping the
    /// model (`PUT /model`) never disturbs a turn in flight.
    pub fn agent(&self) -> Option<Arc<Agent>> {
        self.agent
            .read()
            .ok()
            .and_then(|a| a.as_ref().map(|(agent, _)| agent.clone()))
    }

    /// The loaded model's archive path.
    pub fn model_path(&self) -> Option<PathBuf> {
        self.agent
            .read()
            .ok()
            .and_then(|a| a.as_ref().map(|(_, p)| p.clone()))
    }

    /// Replaces (or, with `None`, unloads) the model.
    pub fn set_agent(&self, agent: Option<(Arc<Agent>, PathBuf)>) {
        if let Ok(mut guard) = self.agent.write() {
            *guard = agent;
        }
    }

    /// The conversation's tracker (a new one when it has no events), to read.
    pub async fn get_tracker(
        &self,
        agent: &Agent,
        sender_id: &str,
    ) -> Result<DialogueStateTracker, ProcessError> {
        self.load_tracker(agent, sender_id, false).await
    }

    /// The conversation's tracker, to change and then give to
    /// [`MessageProcessor::save_tracker`]; call it holding the conversation's lock.
    pub async fn take_tracker(
        &self,
        agent: &Agent,
        sender_id: &str,
    ) -> Result<DialogueStateTracker, ProcessError> {
        self.load_tracker(agent, sender_id, true).await
    }

    /// From the cache when it holds the store's current version, else from the store.
    async fn load_tracker(
        &self,
        agent: &Agent,
        sender_id: &str,
        take: bool,
    ) -> Result<DialogueStateTracker, ProcessError> {
        let span = tracing::info_span!(
            "MessageProcessor.get_tracker",
            number_of_events = tracing::field::Empty
        );
        async {
            let build = |events| {
                DialogueStateTracker::from_events(
                    sender_id,
                    agent.dialogue.slot_specs.clone(),
                    events,
                )
            };
            let known = self.cache.version(sender_id);
            let tracker = match self.tracker_store.load(sender_id, known).await? {
                Loaded::Unchanged => {
                    let version = known.unwrap_or_default();
                    let hit = if take {
                        self.cache.take(sender_id, version)
                    } else {
                        self.cache.copy(sender_id, version)
                    };
                    match hit {
                        Some(c) if c.model_id == agent.metadata.model_id => c.tracker,
                        // Another model's slots: the same events, applied anew.
                        Some(c) => build(c.tracker.into_events()),
                        // Replaced by a concurrent reader's turn since: read it again.
                        None => build(
                            self.tracker_store
                                .retrieve(sender_id)
                                .await?
                                .unwrap_or_default(),
                        ),
                    }
                }
                Loaded::Events { events, .. } => {
                    self.cache.remove(sender_id);
                    build(events)
                }
            };
            tracing::Span::current().record("number_of_events", tracker.events().len());
            Ok(tracker)
        }
        .instrument(span)
        .await
    }

    /// Forgets what is kept in memory of a conversation (after replacing its events).
    pub fn forget(&self, sender_id: &str) {
        self.cache.remove(sender_id);
    }

    /// Appends the events after the first `before` to the store, publishes them, and keeps
    /// the tracker for the conversation's next turn.
    pub async fn save_tracker(
        &self,
        agent: &Agent,
        tracker: DialogueStateTracker,
        before: usize,
        metadata: &Map<String, Value>,
    ) -> Result<(), ProcessError> {
        let new_events = &tracker.events()[before.min(tracker.events().len())..];
        let span = tracing::info_span!(
            "MessageProcessor.save_tracker",
            number_of_events = tracker.events().len()
        );
        let version = self
            .tracker_store
            .append(&tracker.sender_id, new_events)
            .instrument(span.clone())
            .await;
        if let Err(e) = &version {
            record_failure(&span, "StoreError", &e.to_string());
        }
        let version = match version {
            Ok(version) => version,
            Err(e) => {
                self.cache.remove(&tracker.sender_id);
                return Err(e.into());
            }
        };
        // Without a broker the attribute is left out (never the string "None").
        let broker_class = self.broker.as_ref().map(|b| b.class_name());
        let stream = stream_span(
            self.tracker_store.class_name(),
            new_events.len(),
            broker_class,
        );
        stream.in_scope(|| {
            if let Some(broker) = &self.broker {
                for event in new_events {
                    let mut message = broker_message(&tracker.sender_id, event);
                    if !metadata.is_empty()
                        && let Some(obj) = message.as_object_mut()
                    {
                        obj.insert("metadata".into(), Value::Object(metadata.clone()));
                    }
                    broker.publish(message);
                }
            }
        });
        match version {
            Some(version) => self.cache.put(tracker, version, &agent.metadata.model_id),
            None => self.cache.remove(&tracker.sender_id),
        }
        Ok(())
    }

    /// Runs `work` holding the conversation's lock. The lock is released even when the
    /// future is dropped half-way (a client that hung up cancels its handler).
    pub async fn locked<T, F>(&self, sender_id: &str, work: F) -> Result<T, ProcessError>
    where
        F: std::future::Future<Output = Result<T, ProcessError>>,
    {
        let span = lock_span(self.lock_store.class_name());
        let ticket = self
            .lock_store
            .lock(sender_id, self.lock_lifetime, self.lock_wait)
            .instrument(span.clone())
            .await
            .inspect_err(|e| record_failure(&span, "LockError", &e.to_string()))?;
        let held = ticket.clone();
        let mut guard = ReleaseOnDrop {
            store: Arc::clone(&self.lock_store),
            ticket: Some(ticket),
        };
        // A turn may outlive the lock's lifetime (a slow action server, up to
        // --response-timeout per action): the lock is extended while it runs, so that no
        // second turn of the conversation starts beside it.
        let mut renew = tokio::time::interval_at(
            tokio::time::Instant::now() + self.lock_lifetime / 3,
            (self.lock_lifetime / 3).max(std::time::Duration::from_millis(10)),
        );
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut work = std::pin::pin!(work);
        let result = loop {
            tokio::select! {
                result = &mut work => break result,
                _ = renew.tick() => {
                    if let Err(e) = self.lock_store.extend(&held, self.lock_lifetime).await {
                        tracing::warn!(error = %e, "a running turn could not extend its conversation lock");
                    }
                }
            }
        };
        if let Some(ticket) = guard.ticket.take()
            && let Err(e) = self.lock_store.release(&ticket).await
        {
            tracing::warn!(error = %e, "a conversation lock was not released; it frees itself when its lifetime ends");
        }
        result
    }

    /// Handles one user message: lock, tracker, turn, save, publish, unlock. `emit` is told
    /// about each bot message as it is produced.
    pub async fn handle_message(
        &self,
        incoming: Incoming,
        emit: Option<&mut (dyn FnMut(&BotMessage) + Send)>,
    ) -> Result<Vec<BotMessage>, ProcessError> {
        let agent = self.agent().ok_or(ProcessError::NoModel)?;
        let span = tracing::info_span!(
            "Agent.handle_message",
            input_channel = incoming.input_channel.as_str(),
            sender_id = incoming.sender_id.as_str(),
            model_id = agent.metadata.model_id.as_str(),
            model_name = agent.model_name.as_str(),
        );
        let inner = tracing::info_span!(parent: &span, "MessageProcessor.handle_message");
        let sender = incoming.sender_id.clone();
        let work = async {
            let mut tracker = self.take_tracker(&agent, &sender).await?;
            if let Some(reminder) = &incoming.reminder
                && !reminder.still_wanted(&tracker)
            {
                tracing::debug!("a due reminder is outdated (restart or a user message since)");
                return Ok(Vec::new());
            }
            let before = tracker.events().len();
            let message = match &incoming.external {
                Some(external) => {
                    UserMessage::external(&external.intent, external.entities.clone())
                }
                None => UserMessage {
                    text: incoming.text.clone(),
                    input_channel: Some(incoming.input_channel.clone()),
                    message_id: Some(
                        incoming
                            .message_id
                            .clone()
                            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
                    ),
                    metadata: incoming.metadata.clone(),
                    external: None,
                },
            };
            let now = system_now;
            let mut choose = rusa_core::responses::random_chooser();
            let mut env = TurnEnv::new(&now, &mut choose);
            let mut emit = emit;
            let mut forward = |m: &BotMessage| {
                if let Some(e) = emit.as_mut() {
                    e(m);
                }
            };
            env.emit = Some(&mut forward);
            let output = agent
                .dialogue
                .handle_message(
                    &mut tracker,
                    agent.as_ref(),
                    self.actions.as_ref(),
                    &message,
                    &mut env,
                )
                .await;
            let reminders: Vec<Event> = tracker.events()[before..]
                .iter()
                .filter(|e| {
                    matches!(
                        e.kind,
                        EventKind::ReminderScheduled { .. } | EventKind::ReminderCancelled { .. }
                    )
                })
                .cloned()
                .collect();
            self.save_tracker(&agent, tracker, before, &incoming.metadata)
                .await?;
            if !reminders.is_empty() {
                self.reminders
                    .apply(&sender, &incoming.input_channel, &reminders);
            }
            Ok(output.messages)
        };
        let result = self
            .locked(&sender, work)
            .instrument(inner)
            .instrument(span.clone())
            .await;
        if let Err(e) = &result {
            record_failure(&span, "ProcessError", &e.to_string());
        }
        result
    }
}

/// Releases a lock whose holder was dropped before releasing it.
struct ReleaseOnDrop {
    store: Arc<dyn LockStore>,
    ticket: Option<LockTicket>,
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        let store = Arc::clone(&self.store);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(e) = store.release(&ticket).await {
                        tracing::warn!(error = %e, "the lock of a cancelled turn was not released; it frees itself when its lifetime ends");
                    }
                });
            }
            Err(_) => tracing::warn!(
                "the lock of a cancelled turn is left to expire (no runtime to release it)"
            ),
        }
    }
}

/// `<LockStoreClass>.lock` (span names must be static, so each known class has its own).
fn lock_span(class: &str) -> tracing::Span {
    match class {
        "InMemoryLockStore" => {
            tracing::info_span!("InMemoryLockStore.lock", lock_store_class = class)
        }
        "RedisLockStore" => tracing::info_span!("RedisLockStore.lock", lock_store_class = class),
        _ => tracing::info_span!("LockStore.lock", lock_store_class = class),
    }
}

/// `<TrackerStoreClass>._stream_new_events`.
fn stream_span(class: &str, n: usize, broker: Option<&str>) -> tracing::Span {
    let span = match class {
        "InMemoryTrackerStore" => tracing::info_span!(
            "InMemoryTrackerStore._stream_new_events",
            number_of_streamed_events = n,
            broker_class = tracing::field::Empty
        ),
        "SQLTrackerStore" => tracing::info_span!(
            "SQLTrackerStore._stream_new_events",
            number_of_streamed_events = n,
            broker_class = tracing::field::Empty
        ),
        "RedisTrackerStore" => tracing::info_span!(
            "RedisTrackerStore._stream_new_events",
            number_of_streamed_events = n,
            broker_class = tracing::field::Empty
        ),
        _ => tracing::info_span!(
            "TrackerStore._stream_new_events",
            number_of_streamed_events = n,
            broker_class = tracing::field::Empty
        ),
    };
    if let Some(broker) = broker {
        span.record("broker_class", broker);
    }
    span
}
