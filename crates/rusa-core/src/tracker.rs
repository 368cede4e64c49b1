//! The dialogue state tracker: a conversation's events and the state they add up to.

use std::sync::{Arc, Mutex, MutexGuard};

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use crate::events::{ActionExecuted, BotUttered, Event, EventKind, UserUttered};
use crate::policies::states::StatesWalk;

/// The action the assistant runs when it waits for the user.
pub const ACTION_LISTEN: &str = rusa_project::dialogue::ACTION_LISTEN;
/// The action that starts a session.
pub const ACTION_SESSION_START: &str = "action_session_start";
/// The slot a form sets to the name of the slot it asks for.
pub const REQUESTED_SLOT: &str = "requested_slot";
/// The slot that holds the metadata of the message that started the session.
pub const SESSION_STARTED_METADATA: &str = "session_started_metadata";

/// What the tracker needs to know of a slot: its name and initial value.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotSpec {
    pub name: String,
    pub initial_value: Value,
}

impl SlotSpec {
    /// The slots of a domain, plus the ones Rasa adds to every assistant
    /// (`requested_slot` when there are forms, `session_started_metadata` always).
    pub fn from_domain(domain: &rusa_project::Domain) -> Vec<SlotSpec> {
        let mut specs: Vec<SlotSpec> = domain
            .slots
            .iter()
            .map(|s| SlotSpec {
                name: s.name.clone(),
                initial_value: s.initial_value.clone().unwrap_or(Value::Null),
            })
            .collect();
        let has = |specs: &[SlotSpec], n: &str| specs.iter().any(|s| s.name == n);
        if !domain.forms.is_empty() && !has(&specs, REQUESTED_SLOT) {
            specs.push(SlotSpec {
                name: REQUESTED_SLOT.into(),
                initial_value: Value::Null,
            });
        }
        if !has(&specs, SESSION_STARTED_METADATA) {
            specs.push(SlotSpec {
                name: SESSION_STARTED_METADATA.into(),
                initial_value: Value::Null,
            });
        }
        specs
    }
}

/// The active loop (form) and its flags.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveLoop {
    pub name: String,
    /// `false` while the loop is interrupted (another action answered the user).
    pub validate: bool,
    /// The loop rejected the last message.
    pub rejected: bool,
    /// The parse of the message that started the loop.
    pub trigger_message: Value,
}

/// A conversation: its events and the state they produce.
#[derive(Debug, Clone)]
pub struct DialogueStateTracker {
    pub sender_id: String,
    events: Vec<Event>,
    slot_specs: Arc<[SlotSpec]>,
    state: State,
    /// Where the policies' walk over the events stopped (see `tracker_states_tail`).
    states_memo: StatesMemo,
}

/// A [`StatesWalk`] behind a lock, so that predicting from a shared tracker can keep it.
#[derive(Debug, Default)]
struct StatesMemo(Mutex<Option<StatesWalk>>);

impl Clone for StatesMemo {
    fn clone(&self) -> Self {
        Self(Mutex::new(
            self.0.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        ))
    }
}

/// What the applied events add up to. The latest message, bot utterance and action are
/// positions in the tracker's events, so applying an event copies nothing of it.
#[derive(Debug, Clone, Default)]
struct State {
    slots: IndexMap<String, Value>,
    latest_message: Option<LatestMessage>,
    latest_bot_utterance: Option<usize>,
    latest_action: Option<usize>,
    followup_action: Option<String>,
    paused: bool,
    active_loop: Option<ActiveLoop>,
}

/// The latest user message: an event of the tracker, or a copy of it that later
/// `entities` events added to.
#[derive(Debug, Clone)]
enum LatestMessage {
    At(usize),
    Extended(Box<UserUttered>),
}

/// Which events `current_state` includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventVerbosity {
    None,
    /// Every event ever logged.
    All,
    /// Events that are in effect (rewinds and undos applied, from the last restart or session start).
    Applied,
    /// Events since the last restart.
    AfterRestart,
}

impl DialogueStateTracker {
    pub fn new(sender_id: impl Into<String>, slot_specs: Arc<[SlotSpec]>) -> Self {
        let slots = slot_specs
            .iter()
            .map(|s| (s.name.clone(), s.initial_value.clone()))
            .collect();
        Self {
            sender_id: sender_id.into(),
            events: Vec::new(),
            slot_specs,
            state: State {
                slots,
                ..State::default()
            },
            states_memo: StatesMemo::default(),
        }
    }

    /// A tracker with these events already applied.
    pub fn from_events(
        sender_id: impl Into<String>,
        slot_specs: Arc<[SlotSpec]>,
        events: Vec<Event>,
    ) -> Self {
        let mut tracker = Self::new(sender_id, slot_specs);
        for event in events {
            tracker.update(event);
        }
        tracker
    }

    /// The events, giving the tracker up.
    pub fn into_events(self) -> Vec<Event> {
        self.events
    }

    /// Logs an event and applies it to the state.
    pub fn update(&mut self, event: Event) {
        let needs_replay = matches!(
            event.kind,
            EventKind::UserUtteranceReverted | EventKind::ActionReverted
        );
        self.events.push(event);
        if needs_replay {
            self.replay();
        } else {
            self.state
                .apply(&self.slot_specs, &self.events, self.events.len() - 1);
        }
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn slots(&self) -> &IndexMap<String, Value> {
        &self.state.slots
    }

    pub fn slot(&self, name: &str) -> Option<&Value> {
        self.state.slots.get(name)
    }

    pub fn latest_message(&self) -> Option<&UserUttered> {
        self.state.latest_message(&self.events)
    }

    pub fn latest_bot_utterance(&self) -> Option<&BotUttered> {
        match &self.events[self.state.latest_bot_utterance?].kind {
            EventKind::Bot(b) => Some(b),
            _ => None,
        }
    }

    fn latest_action(&self) -> Option<&ActionExecuted> {
        match &self.events[self.state.latest_action?].kind {
            EventKind::Action(a) => Some(a),
            _ => None,
        }
    }

    /// The name of the last action run (`None` before any, or for a bot text action).
    pub fn latest_action_name(&self) -> Option<&str> {
        self.latest_action()?.name.as_deref()
    }

    pub fn followup_action(&self) -> Option<&str> {
        self.state.followup_action.as_deref()
    }

    pub fn is_paused(&self) -> bool {
        self.state.paused
    }

    pub fn active_loop(&self) -> Option<&ActiveLoop> {
        self.state.active_loop.as_ref()
    }

    pub fn active_loop_name(&self) -> Option<&str> {
        self.state.active_loop.as_ref().map(|l| l.name.as_str())
    }

    /// The input channel of the latest user message.
    pub fn latest_input_channel(&self) -> Option<&str> {
        self.events.iter().rev().find_map(|e| match &e.kind {
            EventKind::User(u) => Some(u.input_channel.as_deref()),
            _ => None,
        })?
    }

    /// The events in effect: from the last restart or session start, with rewinds and undos
    /// applied.
    pub fn applied_events(&self) -> Vec<&Event> {
        self.applied_positions()
            .into_iter()
            .map(|i| &self.events[i])
            .collect()
    }

    /// The positions in [`DialogueStateTracker::events`] of the applied events.
    pub fn applied_positions(&self) -> Vec<usize> {
        applied_positions(&self.events)
    }

    /// The policies' memo of their last walk over the events.
    pub(crate) fn states_memo(&self) -> MutexGuard<'_, Option<StatesWalk>> {
        self.states_memo.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rasa's tracker JSON (`GET /conversations/{id}/tracker`).
    pub fn current_state(&self, verbosity: EventVerbosity) -> Value {
        let mut state = Map::new();
        state.insert("sender_id".into(), json!(self.sender_id));
        state.insert(
            "slots".into(),
            Value::Object(
                self.state
                    .slots
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
        );
        state.insert("latest_message".into(), self.latest_message_json());
        state.insert(
            "latest_event_time".into(),
            self.events
                .last()
                .map_or(Value::Null, |e| json!(e.timestamp)),
        );
        state.insert("followup_action".into(), json!(self.state.followup_action));
        state.insert("paused".into(), json!(self.state.paused));
        let events: Option<Vec<&Event>> = match verbosity {
            EventVerbosity::None => None,
            EventVerbosity::All => Some(self.events.iter().collect()),
            EventVerbosity::Applied => Some(self.applied_events()),
            EventVerbosity::AfterRestart => {
                let start = self
                    .events
                    .iter()
                    .rposition(|e| matches!(e.kind, EventKind::Restart))
                    .map_or(0, |i| i + 1);
                Some(self.events[start..].iter().collect())
            }
        };
        state.insert(
            "events".into(),
            events.map_or(Value::Null, |list| {
                Value::Array(
                    list.into_iter()
                        .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
                        .collect(),
                )
            }),
        );
        state.insert(
            "latest_input_channel".into(),
            json!(self.latest_input_channel()),
        );
        state.insert("active_loop".into(), self.active_loop_json());
        let latest_action = match self.latest_action() {
            Some(ActionExecuted {
                name: Some(name), ..
            }) => json!({"action_name": name}),
            Some(ActionExecuted {
                action_text: Some(text),
                ..
            }) => json!({"action_text": text}),
            _ => json!({}),
        };
        state.insert("latest_action".into(), latest_action);
        state.insert(
            "latest_action_name".into(),
            json!(self.latest_action_name()),
        );
        Value::Object(state)
    }

    fn latest_message_json(&self) -> Value {
        match self.latest_message() {
            Some(u) if u.parse_data.is_object() => u.parse_data.value().clone(),
            Some(u) => {
                json!({"intent": {}, "entities": [], "text": u.text, "message_id": u.message_id, "metadata": {}})
            }
            None => {
                json!({"intent": {}, "entities": [], "text": null, "message_id": null, "metadata": {}})
            }
        }
    }

    fn active_loop_json(&self) -> Value {
        match &self.state.active_loop {
            None => json!({}),
            Some(l) => {
                json!({"name": l.name, "validate": l.validate, "rejected": l.rejected, "trigger_message": l.trigger_message})
            }
        }
    }

    /// Recomputes the state from the applied events (after a rewind or undo).
    fn replay(&mut self) {
        self.state.reset(&self.slot_specs);
        for i in applied_positions(&self.events) {
            self.state.apply(&self.slot_specs, &self.events, i);
        }
    }
}

impl State {
    fn reset(&mut self, specs: &[SlotSpec]) {
        self.reset_slots(specs);
        self.paused = false;
        self.latest_action = None;
        self.latest_message = None;
        self.latest_bot_utterance = None;
        self.followup_action = None;
        self.active_loop = None;
    }

    fn reset_slots(&mut self, specs: &[SlotSpec]) {
        for spec in specs {
            self.slots
                .insert(spec.name.clone(), spec.initial_value.clone());
        }
    }

    fn latest_message<'a>(&'a self, events: &'a [Event]) -> Option<&'a UserUttered> {
        match self.latest_message.as_ref()? {
            LatestMessage::At(i) => match &events[*i].kind {
                EventKind::User(u) => Some(u),
                _ => None,
            },
            LatestMessage::Extended(u) => Some(u),
        }
    }

    /// Applies `events[index]`.
    fn apply(&mut self, specs: &[SlotSpec], events: &[Event], index: usize) {
        match &events[index].kind {
            EventKind::User(_) => {
                self.latest_message = Some(LatestMessage::At(index));
                self.followup_action = None;
            }
            EventKind::Action(a) => {
                self.latest_action = Some(index);
                self.followup_action = None;
                if let (Some(active), Some(name)) = (self.active_loop.as_mut(), a.name.as_deref())
                    && active.name == name
                {
                    active.validate = true;
                    active.rejected = false;
                }
            }
            EventKind::Bot(_) => self.latest_bot_utterance = Some(index),
            EventKind::Slot { name, value } => {
                if let Some(slot) = self.slots.get_mut(name) {
                    *slot = value.clone();
                } else {
                    tracing::debug!(
                        slot = name.as_str(),
                        "event sets a slot the domain does not define; ignored"
                    );
                }
            }
            EventKind::SessionStarted => self.reset(specs),
            EventKind::Restart => {
                self.reset(specs);
                self.followup_action = Some(ACTION_SESSION_START.to_owned());
            }
            EventKind::ActiveLoop { name } => {
                let trigger_message = self
                    .latest_message(events)
                    .map_or_else(|| json!({}), |u| u.parse_data.value().clone());
                self.active_loop = name.as_ref().map(|name| ActiveLoop {
                    name: name.clone(),
                    validate: true,
                    rejected: false,
                    trigger_message,
                });
            }
            EventKind::Followup { name } => self.followup_action = Some(name.clone()),
            EventKind::AllSlotsReset => self.reset_slots(specs),
            EventKind::ConversationPaused => self.paused = true,
            EventKind::ConversationResumed => self.paused = false,
            EventKind::ActionExecutionRejected { name, .. } => {
                if let Some(active) = self.active_loop.as_mut().filter(|l| &l.name == name) {
                    active.rejected = true;
                }
            }
            EventKind::LoopInterrupted { is_interrupted } => {
                if let Some(active) = self.active_loop.as_mut() {
                    active.validate = !is_interrupted;
                }
            }
            EventKind::EntitiesAdded { entities } => {
                if let Some(message) = self.latest_message(events) {
                    let mut message = message.clone();
                    if let Some(list) = message
                        .parse_data
                        .to_mut()
                        .get_mut("entities")
                        .and_then(Value::as_array_mut)
                    {
                        list.extend(entities.iter().cloned());
                    }
                    self.latest_message = Some(LatestMessage::Extended(Box::new(message)));
                }
            }
            // Handled by `update` through a replay.
            EventKind::UserUtteranceReverted | EventKind::ActionReverted => {}
            EventKind::UserFeaturization { .. }
            | EventKind::ReminderScheduled { .. }
            | EventKind::ReminderCancelled { .. }
            | EventKind::AgentUttered { .. }
            | EventKind::StoryExported { .. } => {}
        }
    }
}

/// The positions of the events in effect: from the last restart or session start, with
/// rewinds and undos applied.
fn applied_positions(events: &[Event]) -> Vec<usize> {
    let mut applied: Vec<usize> = Vec::new();
    for (i, event) in events.iter().enumerate() {
        match &event.kind {
            EventKind::Restart | EventKind::SessionStarted => applied.clear(),
            EventKind::ActionReverted => {
                undo_till(&mut applied, events, |k| matches!(k, EventKind::Action(_)))
            }
            EventKind::UserUtteranceReverted => {
                undo_till(&mut applied, events, |k| matches!(k, EventKind::User(_)));
                undo_till(&mut applied, events, |k| matches!(k, EventKind::Action(_)));
            }
            _ => applied.push(i),
        }
    }
    applied
}

/// Removes events from the end up to and including the last one matching `is_target`.
fn undo_till(applied: &mut Vec<usize>, events: &[Event], is_target: impl Fn(&EventKind) -> bool) {
    while let Some(i) = applied.pop() {
        if is_target(&events[i].kind) {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{ActionExecuted, UserUttered};

    fn specs() -> Arc<[SlotSpec]> {
        Arc::from(vec![SlotSpec {
            name: "city".into(),
            initial_value: Value::Null,
        }])
    }

    fn action(name: &str) -> Event {
        Event::new(
            EventKind::Action(ActionExecuted {
                name: Some(name.into()),
                policy: None,
                confidence: None,
                action_text: None,
                hide_rule_turn: false,
            }),
            1.0,
        )
    }

    fn user(intent: &str) -> Event {
        Event::new(
            EventKind::User(UserUttered {
                text: Some(intent.into()),
                parse_data: json!({"intent": {"name": intent, "confidence": 1.0}, "entities": []})
                    .into(),
                input_channel: Some("rest".into()),
                message_id: None,
            }),
            2.0,
        )
    }

    #[test]
    fn slots_loops_and_followups() {
        let mut t = DialogueStateTracker::new("s", specs());
        t.update(action(ACTION_LISTEN));
        t.update(user("inform"));
        t.update(Event::new(
            EventKind::Slot {
                name: "city".into(),
                value: json!("Oslo"),
            },
            3.0,
        ));
        assert_eq!(t.slot("city"), Some(&json!("Oslo")));
        t.update(Event::new(
            EventKind::ActiveLoop {
                name: Some("trip_form".into()),
            },
            3.0,
        ));
        assert_eq!(t.active_loop_name(), Some("trip_form"));
        t.update(Event::new(
            EventKind::LoopInterrupted {
                is_interrupted: true,
            },
            3.0,
        ));
        assert!(!t.active_loop().unwrap().validate);
        t.update(action("trip_form"));
        assert!(t.active_loop().unwrap().validate);
        t.update(Event::new(
            EventKind::Followup {
                name: "utter_x".into(),
            },
            4.0,
        ));
        assert_eq!(t.followup_action(), Some("utter_x"));
        t.update(action("utter_x"));
        assert_eq!(t.followup_action(), None);
        t.update(Event::new(EventKind::Restart, 5.0));
        assert_eq!(t.slot("city"), Some(&Value::Null));
        assert_eq!(t.active_loop_name(), None);
        assert_eq!(t.followup_action(), Some(ACTION_SESSION_START));
    }

    #[test]
    fn rewind_removes_the_last_user_message_and_its_listen() {
        let mut t = DialogueStateTracker::new("s", specs());
        t.update(action(ACTION_LISTEN));
        t.update(user("greet"));
        t.update(action("utter_greet"));
        t.update(action(ACTION_LISTEN));
        t.update(user("oops"));
        t.update(Event::new(EventKind::UserUtteranceReverted, 6.0));
        assert_eq!(t.latest_message().unwrap().intent_name(), Some("greet"));
        assert_eq!(t.latest_action_name(), Some("utter_greet"));
        assert_eq!(t.applied_events().len(), 3);
        assert_eq!(t.events().len(), 6);
    }

    #[test]
    fn undo_reverts_the_last_action() {
        let mut t = DialogueStateTracker::new("s", specs());
        t.update(user("greet"));
        t.update(action("utter_greet"));
        t.update(Event::new(
            EventKind::Slot {
                name: "city".into(),
                value: json!("Rome"),
            },
            1.0,
        ));
        t.update(Event::new(EventKind::ActionReverted, 1.0));
        assert_eq!(t.latest_action_name(), None);
        assert_eq!(t.slot("city"), Some(&Value::Null));
    }
}
