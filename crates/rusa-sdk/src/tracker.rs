//! The conversation as an action sees it: rasa-sdk's `Tracker`, read from the `tracker` of
//! the webhook request, with its helper methods.

use std::sync::OnceLock;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::RequestError;

/// The slot that names the slot a form is asking for.
pub const REQUESTED_SLOT: &str = "requested_slot";
/// The key of `loop_interrupted` events.
pub const LOOP_INTERRUPTED_KEY: &str = "is_interrupted";
/// The intent NLU predicts when it is not confident.
pub const NLU_FALLBACK_INTENT: &str = "nlu_fallback";
/// The action that waits for the user's next message.
pub const ACTION_LISTEN: &str = "action_listen";

/// The state of one conversation, as Rasa sent it with the action call.
///
/// ```
/// use rusa_sdk::Tracker;
/// use serde_json::json;
///
/// let tracker = Tracker::from_json(&json!({
///     "sender_id": "u1",
///     "slots": {"city": "Berlin"},
///     "latest_message": {
///         "intent": {"name": "inform_city", "confidence": 0.98},
///         "intent_ranking": [{"name": "inform_city", "confidence": 0.98}],
///         "entities": [{"entity": "city", "value": "Paris"},
///                      {"entity": "city", "value": "Rome", "role": "destination"}],
///     },
///     "events": [],
/// })).unwrap();
/// assert_eq!(tracker.get_slot("city"), Some(&json!("Berlin")));
/// assert_eq!(tracker.get_latest_entity_values("city", None, None), vec![&json!("Paris")]);
/// assert_eq!(tracker.get_latest_entity_values("city", Some("destination"), None), vec![&json!("Rome")]);
/// assert_eq!(tracker.get_intent_of_latest_message(true), Some("inform_city"));
/// ```
#[derive(Debug, Clone)]
pub struct Tracker {
    /// The conversation's id.
    pub sender_id: String,
    /// Every slot of the domain with its current value.
    pub slots: Map<String, Value>,
    /// The parse of the latest user message (`text`, `intent`, `entities`,
    /// `intent_ranking`, `message_id`, ...); an empty object before the first one.
    pub latest_message: Map<String, Value>,
    /// Every event of the conversation ([`Tracker::events`]): read from the request's
    /// JSON text when an action first looks at them, so an action that never does costs
    /// nothing for them.
    events: LazyEvents,
    /// Whether the conversation is paused.
    pub paused: bool,
    /// The action Rasa will run next, if one is set.
    pub followup_action: Option<String>,
    /// The active loop (form): `{"name": ..., "validate": ..., ...}`; empty when none.
    pub active_loop: Map<String, Value>,
    /// The name of the last action run.
    pub latest_action_name: Option<String>,
    /// The dialogue stack (newer Rasa versions; empty from Rasa 3.6).
    pub stack: Vec<Value>,
    /// The user's id (newer Rasa versions).
    pub user_id: Option<String>,
}

/// Events kept as JSON text until first read.
#[derive(Debug, Clone, Default)]
struct LazyEvents {
    raw: Option<Box<RawValue>>,
    parsed: OnceLock<Vec<Value>>,
}

impl LazyEvents {
    fn parsed(events: Vec<Value>) -> Self {
        Self {
            raw: None,
            parsed: OnceLock::from(events),
        }
    }

    fn get(&self) -> &Vec<Value> {
        self.parsed.get_or_init(|| {
            self.raw
                .as_ref()
                .and_then(|raw| serde_json::from_str::<Vec<Value>>(raw.get()).ok())
                .unwrap_or_default()
        })
    }

    fn get_mut(&mut self) -> &mut Vec<Value> {
        self.get();
        self.raw = None;
        self.parsed.get_mut().expect("the events were just read")
    }
}

/// As rasa-sdk: two trackers are equal when their conversation and events are.
impl PartialEq for Tracker {
    fn eq(&self, other: &Self) -> bool {
        self.sender_id == other.sender_id && self.events() == other.events()
    }
}

/// The keys of a webhook request's `tracker` that rusa-sdk reads; the events stay text.
#[derive(serde::Deserialize)]
struct TrackerFields {
    #[serde(default)]
    sender_id: Value,
    #[serde(default)]
    slots: Value,
    #[serde(default)]
    latest_message: Value,
    #[serde(default)]
    events: Option<Box<RawValue>>,
    #[serde(default)]
    paused: Value,
    #[serde(default)]
    followup_action: Value,
    #[serde(default)]
    active_loop: Value,
    #[serde(default)]
    active_form: Value,
    #[serde(default)]
    latest_action_name: Value,
    #[serde(default)]
    stack: Value,
    #[serde(default)]
    user_id: Value,
}

impl Tracker {
    /// Reads the `tracker` object of a webhook request. Only `sender_id` is required; the
    /// rest defaults as in rasa-sdk (an `active_form` of old Rasa versions is read as the
    /// active loop).
    pub fn from_json(value: &Value) -> Result<Self, RequestError> {
        Self::from_value(value.clone())
    }

    /// [`Tracker::from_json`], taking the JSON apart instead of copying it.
    pub fn from_value(value: Value) -> Result<Self, RequestError> {
        let Value::Object(mut tracker) = value else {
            return Err(RequestError::BadRequest(
                "`tracker` must be a JSON object".into(),
            ));
        };
        let sender_id = match tracker.remove("sender_id") {
            Some(Value::String(s)) => s,
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(RequestError::BadRequest(
                    "the tracker has no `sender_id`".into(),
                ));
            }
        };
        let object = |value: Option<Value>| match value {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let array = |value: Option<Value>| match value {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        let string = |value: Option<Value>| match value {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let active_loop = match tracker.remove("active_loop") {
            Some(Value::Object(map)) => map,
            _ => object(tracker.remove("active_form")),
        };
        Ok(Self {
            sender_id,
            slots: object(tracker.remove("slots")),
            latest_message: object(tracker.remove("latest_message")),
            events: LazyEvents::parsed(array(tracker.remove("events"))),
            paused: tracker
                .get("paused")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            followup_action: string(tracker.remove("followup_action")),
            active_loop,
            latest_action_name: string(tracker.remove("latest_action_name")),
            stack: array(tracker.remove("stack")),
            user_id: string(tracker.remove("user_id")),
        })
    }

    /// The tracker of a webhook request, from its JSON text: the events are read only when
    /// an action looks at them.
    pub fn from_raw(raw: &RawValue) -> Result<Self, RequestError> {
        if !raw.get().trim_start().starts_with('{') {
            return Err(RequestError::BadRequest(
                "`tracker` must be a JSON object".into(),
            ));
        }
        let fields: TrackerFields = serde_json::from_str(raw.get())
            .map_err(|e| RequestError::BadRequest(format!("the tracker cannot be read: {e}")))?;
        let sender_id = match fields.sender_id {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(RequestError::BadRequest(
                    "the tracker has no `sender_id`".into(),
                ));
            }
        };
        let object = |value: Value| match value {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let string = |value: Value| match value {
            Value::String(s) => Some(s),
            _ => None,
        };
        let active_loop = match fields.active_loop {
            Value::Object(map) => map,
            _ => object(fields.active_form),
        };
        let events = match fields.events {
            Some(raw) if raw.get().trim_start().starts_with('[') => LazyEvents {
                raw: Some(raw),
                parsed: OnceLock::new(),
            },
            _ => LazyEvents::default(),
        };
        Ok(Self {
            sender_id,
            slots: object(fields.slots),
            latest_message: object(fields.latest_message),
            events,
            paused: fields.paused.as_bool().unwrap_or(false),
            followup_action: string(fields.followup_action),
            active_loop,
            latest_action_name: string(fields.latest_action_name),
            stack: match fields.stack {
                Value::Array(items) => items,
                _ => Vec::new(),
            },
            user_id: string(fields.user_id),
        })
    }

    /// Every event of the conversation, oldest first, as Rasa sent them.
    pub fn events(&self) -> &[Value] {
        self.events.get()
    }

    /// The events, to change them.
    pub fn events_mut(&mut self) -> &mut Vec<Value> {
        self.events.get_mut()
    }

    /// The value of `slot`; `None` when the domain has no such slot (an info log says so)
    /// and `Some(&Value::Null)` when it is not set.
    pub fn get_slot(&self, slot: &str) -> Option<&Value> {
        let value = self.slots.get(slot);
        if value.is_none() {
            tracing::info!("tried to read the slot '{slot}', which the tracker does not have");
        }
        value
    }

    /// Every slot's value.
    pub fn current_slot_values(&self) -> &Map<String, Value> {
        &self.slots
    }

    /// The values of the latest message's entities of type `entity_type` whose role and
    /// group are exactly `role` and `group`: an entity that has a role is not returned
    /// unless that role is asked for.
    pub fn get_latest_entity_values(
        &self,
        entity_type: &str,
        role: Option<&str>,
        group: Option<&str>,
    ) -> Vec<&Value> {
        let Some(entities) = self
            .latest_message
            .get("entities")
            .and_then(Value::as_array)
        else {
            return Vec::new();
        };
        entities
            .iter()
            .filter(|e| {
                e.get("entity").and_then(Value::as_str) == Some(entity_type)
                    && e.get("role").and_then(Value::as_str) == role
                    && e.get("group").and_then(Value::as_str) == group
            })
            .filter_map(|e| e.get("value"))
            .collect()
    }

    /// The name of the active loop (form); `None` when no loop is active (as in rasa-sdk,
    /// an empty name is returned as it is).
    pub fn active_loop_name(&self) -> Option<&str> {
        self.active_loop
            .get("name")
            .and_then(Value::as_str)
            .filter(|name| *name != "should_not_be_set")
    }

    /// Whether the conversation is paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The channel of the latest user message.
    pub fn get_latest_input_channel(&self) -> Option<&str> {
        self.events()
            .iter()
            .rev()
            .find(|e| kind(e) == "user")
            .and_then(|e| e.get("input_channel"))
            .and_then(Value::as_str)
    }

    /// The position after the latest `restart` event (0 when there is none).
    pub fn idx_after_latest_restart(&self) -> usize {
        self.events()
            .iter()
            .rposition(|e| kind(e) == "restart")
            .map_or(0, |i| i + 1)
    }

    /// The events since the latest restart.
    pub fn events_after_latest_restart(&self) -> &[Value] {
        &self.events()[self.idx_after_latest_restart()..]
    }

    /// The events that still count: a `restart` clears what came before it, an `undo`
    /// removes everything back to the last action (inclusive), and a `rewind` removes
    /// everything back to the last user message and then back to the last action before it.
    pub fn applied_events(&self) -> Vec<&Value> {
        let mut applied: Vec<&Value> = Vec::new();
        for event in self.events() {
            match kind(event) {
                "restart" => applied.clear(),
                "undo" => undo_through(&mut applied, "action"),
                "rewind" => {
                    undo_through(&mut applied, "user");
                    undo_through(&mut applied, "action");
                }
                _ => applied.push(event),
            }
        }
        applied
    }

    /// The latest applied event of `event_type`, skipping `skip` matches and `action`
    /// events named in `exclude` (other events are never excluded).
    pub fn get_last_event_for(
        &self,
        event_type: &str,
        exclude: &[&str],
        skip: usize,
    ) -> Option<&Value> {
        self.applied_events()
            .into_iter()
            .rev()
            .filter(|e| kind(e) == event_type)
            .filter(|e| {
                kind(e) != "action"
                    || !e
                        .get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| exclude.contains(&n))
            })
            .nth(skip)
    }

    /// Whether the last action run (ignoring `action_listen`, skipping `skip` of them) is
    /// `name`.
    pub fn last_executed_action_has(&self, name: &str, skip: usize) -> bool {
        self.get_last_event_for("action", &[ACTION_LISTEN], skip)
            .and_then(|e| e.get("name"))
            .and_then(Value::as_str)
            == Some(name)
    }

    /// The slots set by the run of `slot` events at the end of the conversation: the values
    /// a validation action is asked to validate.
    pub fn slots_to_validate(&self) -> Map<String, Value> {
        let mut slots = Map::new();
        let trailing: Vec<&Value> = self
            .events()
            .iter()
            .rev()
            .take_while(|e| kind(e) == "slot")
            .collect();
        for event in trailing.into_iter().rev() {
            if let Some(name) = event.get("name").and_then(Value::as_str) {
                slots.insert(
                    name.to_owned(),
                    event.get("value").cloned().unwrap_or(Value::Null),
                );
            }
        }
        slots
    }

    /// Applies `slot` events to the slots and appends them to the events.
    pub fn add_slots(&mut self, events: &[crate::Event]) {
        for event in events {
            if event.kind() != "slot" {
                continue;
            }
            if let Some(name) = event.get("name").and_then(Value::as_str) {
                self.slots.insert(
                    name.to_owned(),
                    event.get("value").cloned().unwrap_or(Value::Null),
                );
            }
            self.events_mut()
                .push(Value::Object(event.as_object().clone()));
        }
    }

    /// The latest message's intent: the first of its ranking, or the second when the first
    /// is `nlu_fallback` and `skip_fallback_intent` is set; `None` without a ranking.
    pub fn get_intent_of_latest_message(&self, skip_fallback_intent: bool) -> Option<&str> {
        let ranking = self
            .latest_message
            .get("intent_ranking")
            .and_then(Value::as_array)?;
        let first = ranking.first()?.get("name").and_then(Value::as_str)?;
        if skip_fallback_intent && first == NLU_FALLBACK_INTENT {
            return ranking.get(1)?.get("name").and_then(Value::as_str);
        }
        Some(first)
    }

    /// The latest user message's id (`"None"`, as rasa-sdk writes it, when there is none):
    /// the `message_id` of the webhook span.
    pub fn latest_message_id(&self) -> String {
        match self.latest_message.get("message_id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => "None".to_owned(),
            Some(other) => other.to_string(),
        }
    }

    /// The tracker as `current_state()` of rasa-sdk writes it.
    pub fn current_state(&self) -> Value {
        let latest_event_time = self
            .events()
            .last()
            .and_then(|e| e.get("timestamp"))
            .cloned()
            .unwrap_or(Value::Null);
        serde_json::json!({
            "sender_id": self.sender_id,
            "slots": self.slots,
            "latest_message": self.latest_message,
            "latest_event_time": latest_event_time,
            "paused": self.paused,
            "events": self.events(),
            "latest_input_channel": self.get_latest_input_channel(),
            "active_loop": self.active_loop,
            "latest_action_name": self.latest_action_name,
            "stack": self.stack,
            "user_id": self.user_id,
        })
    }
}

fn kind(event: &Value) -> &str {
    event.get("event").and_then(Value::as_str).unwrap_or("")
}

/// Pops events until (and including) the last one of `event_type`.
fn undo_through(applied: &mut Vec<&Value>, event_type: &str) {
    while let Some(event) = applied.pop() {
        if kind(event) == event_type {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tracker(events: Value) -> Tracker {
        Tracker::from_json(&json!({"sender_id": "u", "events": events})).unwrap()
    }

    #[test]
    fn applied_events_follow_restart_undo_and_rewind() {
        let t = tracker(json!([
            {"event": "action", "name": "a0"},
            {"event": "restart"},
            {"event": "action", "name": "a1"},
            {"event": "user", "text": "x"},
            {"event": "action", "name": "a2"},
            {"event": "slot", "name": "s", "value": 1},
            {"event": "undo"},
            {"event": "action", "name": "a3"},
            {"event": "user", "text": "y"},
            {"event": "rewind"},
        ]));
        let names: Vec<_> = t
            .applied_events()
            .iter()
            .map(|e| {
                format!(
                    "{}:{}",
                    kind(e),
                    e.get("name").or(e.get("text")).unwrap_or(&Value::Null)
                )
            })
            .collect();
        // The restart drops a0; the undo drops the slot and a2; the rewind drops "y" and
        // then a3.
        assert_eq!(names, ["action:\"a1\"", "user:\"x\""]);
        assert_eq!(t.idx_after_latest_restart(), 2);
        assert_eq!(t.events_after_latest_restart().len(), 8);
    }

    #[test]
    fn events_of_a_request_are_read_when_first_looked_at() {
        let raw = serde_json::value::to_raw_value(&json!({
            "sender_id": "u",
            "slots": {"a": 1},
            "events": [{"event": "action", "name": "x"}, {"event": "slot", "name": "a", "value": 1}],
            "unknown_key": [1, 2, 3],
        }))
        .unwrap();
        let mut t = Tracker::from_raw(&raw).unwrap();
        assert!(t.events.parsed.get().is_none());
        assert_eq!(t.get_slot("a"), Some(&json!(1)));
        assert!(t.events.parsed.get().is_none());
        assert_eq!(t.events().len(), 2);
        assert_eq!(Value::Object(t.slots_to_validate()), json!({"a": 1}));
        t.add_slots(&[crate::events::slot_set("b", 2)]);
        assert_eq!(t.events().len(), 3);
        let bad = serde_json::value::to_raw_value(&json!([1])).unwrap();
        assert!(Tracker::from_raw(&bad).is_err());
    }

    #[test]
    fn slots_to_validate_are_the_trailing_slot_events() {
        let t = tracker(json!([
            {"event": "slot", "name": "a", "value": 0},
            {"event": "action", "name": "f"},
            {"event": "slot", "name": "b", "value": 1},
            {"event": "slot", "name": "c", "value": null},
        ]));
        assert_eq!(
            Value::Object(t.slots_to_validate()),
            json!({"b": 1, "c": null})
        );
    }

    #[test]
    fn intent_of_latest_message_skips_the_fallback_intent() {
        let mut t = tracker(json!([]));
        t.latest_message = json!({"intent_ranking": [{"name": "nlu_fallback"}, {"name": "greet"}]})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(t.get_intent_of_latest_message(true), Some("greet"));
        assert_eq!(t.get_intent_of_latest_message(false), Some("nlu_fallback"));
    }

    #[test]
    fn active_loop_name_ignores_the_placeholder() {
        let t = Tracker::from_json(
            &json!({"sender_id": "u", "active_loop": {"name": "should_not_be_set"}}),
        )
        .unwrap();
        assert_eq!(t.active_loop_name(), None);
        let t =
            Tracker::from_json(&json!({"sender_id": "u", "active_form": {"name": "f"}})).unwrap();
        assert_eq!(t.active_loop_name(), Some("f"));
        // rasa-sdk returns an empty name as it is.
        let t =
            Tracker::from_json(&json!({"sender_id": "u", "active_loop": {"name": ""}})).unwrap();
        assert_eq!(t.active_loop_name(), Some(""));
        assert!(Tracker::from_json(&json!({"slots": {}})).is_err());
    }

    #[test]
    fn exclude_applies_to_action_events_only() {
        let t = tracker(json!([
            {"event": "action", "name": "a"},
            {"event": "slot", "name": "a", "value": 1},
            {"event": "action", "name": "b"},
        ]));
        let name = |e: Option<&Value>| e.and_then(|e| e.get("name")).cloned();
        assert_eq!(
            name(t.get_last_event_for("action", &["b"], 0)),
            Some(json!("a"))
        );
        assert_eq!(
            name(t.get_last_event_for("slot", &["a"], 0)),
            Some(json!("a"))
        );
    }

    #[test]
    fn last_executed_action_ignores_action_listen() {
        let t = tracker(json!([
            {"event": "action", "name": "utter_greet"},
            {"event": "action", "name": "action_listen"},
        ]));
        assert!(t.last_executed_action_has("utter_greet", 0));
        assert!(!t.last_executed_action_has("action_listen", 0));
    }
}
