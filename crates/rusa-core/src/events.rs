//! Conversation events, in Rasa's tracker JSON format.
//!
//! A conversation is a list of events; the tracker's state (slots, active loop, latest
//! message, ...) is what applying them in order gives. The JSON of each event is exactly
//! what Rasa writes (`{"event": "user", "timestamp": ..., "metadata": {...}, ...}`), so trackers,
//! event brokers and action servers built for Rasa read rusa's events unchanged. Fields
//! rusa does not know are ignored when reading.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::lazy_json::LazyJson;

/// One event of a conversation. It is read from JSON by a hand-written single-pass
/// decoder (`event_de.rs`); writing it is derived.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// What happened, with the fields of that kind of event.
    #[serde(flatten)]
    pub kind: EventKind,
    /// Seconds since the UNIX epoch.
    pub timestamp: f64,
    /// Free-form metadata (Rasa puts `model_id`, `assistant_id`, `utter_action` here);
    /// left out of the JSON when empty, as Rasa does.
    #[serde(skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
}

impl Event {
    pub fn new(kind: EventKind, timestamp: f64) -> Self {
        Self {
            kind,
            timestamp,
            metadata: Metadata::default(),
        }
    }

    /// The value of `event` in the JSON: "user", "action", ...
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }
}

/// An event's `metadata`: a JSON object, kept as the text it was read from until
/// something looks into it (nearly every event carries the model's `model_id` and
/// `assistant_id`, and a turn reads them for none of the events it loads). Copies share
/// it; an empty one allocates nothing.
#[derive(Clone, Default)]
pub struct Metadata(Option<LazyJson>);

impl Metadata {
    /// The value under `key`, if the metadata has one.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.as_ref()?.get(key)
    }

    /// Sets `key` (the metadata is copied first if shared).
    pub fn insert(&mut self, key: String, value: Value) {
        let object = self
            .0
            .get_or_insert_with(|| LazyJson::new(Value::Object(Map::new())))
            .to_mut();
        if !object.is_object() {
            *object = Value::Object(Map::new());
        }
        if let Value::Object(map) = object {
            map.insert(key, value);
        }
    }

    /// Whether it has no keys; metadata still held as text is not parsed for this.
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            None => true,
            Some(lazy) => match lazy.unparsed_text() {
                Some(text) => text.trim_start_matches('{').trim_start().starts_with('}'),
                None => lazy.as_object().is_none_or(Map::is_empty),
            },
        }
    }

    /// The metadata as a JSON object.
    pub fn to_map(&self) -> Map<String, Value> {
        self.0
            .as_ref()
            .and_then(|lazy| lazy.as_object().cloned())
            .unwrap_or_default()
    }
}

impl From<Map<String, Value>> for Metadata {
    fn from(map: Map<String, Value>) -> Self {
        if map.is_empty() {
            Self(None)
        } else {
            Self(Some(LazyJson::new(Value::Object(map))))
        }
    }
}

impl PartialEq for Metadata {
    fn eq(&self, other: &Self) -> bool {
        self.is_empty() && other.is_empty() || self.to_map() == other.to_map()
    }
}

impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_map().fmt(f)
    }
}

impl Serialize for Metadata {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(lazy) => lazy.serialize(serializer),
            None => Map::new().serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Metadata {
    /// An object (kept as text) or `null` (empty); anything else is an error, as it was
    /// when metadata was read into a map.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let lazy = LazyJson::deserialize(deserializer)?;
        match lazy.unparsed_text() {
            Some("null") => Ok(Self(None)),
            Some(text) if text.starts_with('{') => Ok(Self(Some(lazy))),
            Some(_) => Err(serde::de::Error::invalid_type(
                serde::de::Unexpected::Other("a JSON value other than an object"),
                &"an object",
            )),
            // Not from text: whatever the deserializer gave, checked now.
            None => match lazy.value() {
                Value::Null => Ok(Self(None)),
                Value::Object(_) => Ok(Self(Some(lazy))),
                _ => Err(serde::de::Error::invalid_type(
                    serde::de::Unexpected::Other("a JSON value other than an object"),
                    &"an object",
                )),
            },
        }
    }
}

/// The kinds of events, named by their JSON `event` value (read by `event_de.rs`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event")]
pub enum EventKind {
    /// The user sent a message.
    #[serde(rename = "user")]
    User(UserUttered),
    /// The assistant ran an action.
    #[serde(rename = "action")]
    Action(ActionExecuted),
    /// The assistant sent a message.
    #[serde(rename = "bot")]
    Bot(BotUttered),
    /// A slot was set.
    #[serde(rename = "slot")]
    Slot { name: String, value: Value },
    /// A new session began.
    #[serde(rename = "session_started")]
    SessionStarted,
    /// A loop (form) became active; `name: null` ends the active loop.
    #[serde(rename = "active_loop")]
    ActiveLoop { name: Option<String> },
    /// The given action runs next, whatever the policies predict.
    #[serde(rename = "followup")]
    Followup { name: String },
    /// The conversation starts over.
    #[serde(rename = "restart")]
    Restart,
    /// The last user message and what followed it are undone.
    #[serde(rename = "rewind")]
    UserUtteranceReverted,
    /// The last action and what followed it are undone.
    #[serde(rename = "undo")]
    ActionReverted,
    /// Every slot goes back to its initial value.
    #[serde(rename = "reset_slots")]
    AllSlotsReset,
    /// The assistant stops answering until resumed.
    #[serde(rename = "pause")]
    ConversationPaused,
    #[serde(rename = "resume")]
    ConversationResumed,
    /// An action refused to run (a form that cannot extract anything, for example).
    #[serde(rename = "action_execution_rejected")]
    ActionExecutionRejected {
        name: String,
        policy: Option<String>,
        confidence: Option<f64>,
    },
    /// Whether the policies featurize the last user message by its text or its intent.
    #[serde(rename = "user_featurization")]
    UserFeaturization { use_text_for_featurization: bool },
    /// Entities added to the latest user message.
    #[serde(rename = "entities")]
    EntitiesAdded { entities: Vec<Value> },
    /// The active loop was interrupted by another action (or that ended).
    #[serde(rename = "loop_interrupted")]
    LoopInterrupted { is_interrupted: bool },
    /// An intent will be triggered at a given time.
    #[serde(rename = "reminder")]
    ReminderScheduled {
        intent: String,
        entities: Option<Value>,
        date_time: String,
        name: Option<String>,
        kill_on_user_msg: bool,
    },
    #[serde(rename = "cancel_reminder")]
    ReminderCancelled {
        name: Option<String>,
        intent: Option<String>,
        entities: Option<Value>,
    },
    /// A message of a human agent, shown in the conversation.
    #[serde(rename = "agent")]
    AgentUttered {
        text: Option<String>,
        data: Option<Value>,
    },
    /// The conversation was exported.
    #[serde(rename = "export")]
    StoryExported { path: Option<String> },
}

impl EventKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::Action(_) => "action",
            Self::Bot(_) => "bot",
            Self::Slot { .. } => "slot",
            Self::SessionStarted => "session_started",
            Self::ActiveLoop { .. } => "active_loop",
            Self::Followup { .. } => "followup",
            Self::Restart => "restart",
            Self::UserUtteranceReverted => "rewind",
            Self::ActionReverted => "undo",
            Self::AllSlotsReset => "reset_slots",
            Self::ConversationPaused => "pause",
            Self::ConversationResumed => "resume",
            Self::ActionExecutionRejected { .. } => "action_execution_rejected",
            Self::UserFeaturization { .. } => "user_featurization",
            Self::EntitiesAdded { .. } => "entities",
            Self::LoopInterrupted { .. } => "loop_interrupted",
            Self::ReminderScheduled { .. } => "reminder",
            Self::ReminderCancelled { .. } => "cancel_reminder",
            Self::AgentUttered { .. } => "agent",
            Self::StoryExported { .. } => "export",
        }
    }
}

/// The longest conversation id, intent, action, slot, loop or reminder name any store keeps:
/// the `VARCHAR(255)` columns of Rasa's SQL schema. Every store is held to it, so a
/// conversation one store accepts is accepted by all.
pub const MAX_NAME_CHARS: usize = 255;

/// A name no store can keep (see [`MAX_NAME_CHARS`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the {what} contains a NUL character")]
    Nul { what: &'static str },
    #[error("the {what} is longer than {MAX_NAME_CHARS} characters")]
    TooLong { what: &'static str },
}

/// Checks one name: at most [`MAX_NAME_CHARS`] characters, no NUL.
pub fn check_name(what: &'static str, name: &str) -> Result<(), NameError> {
    if name.contains('\0') {
        return Err(NameError::Nul { what });
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong { what });
    }
    Ok(())
}

/// Checks the names events carry into the stores' name columns (the intent of a user
/// message; the name of an action, slot, follow-up, rejection, loop or reminder).
pub fn check_event_names(events: &[Event]) -> Result<(), NameError> {
    for event in events {
        match &event.kind {
            EventKind::User(u) => {
                if let Some(intent) = u.intent_name() {
                    check_name("intent name", intent)?;
                }
            }
            EventKind::Action(a) => {
                if let Some(name) = &a.name {
                    check_name("action name", name)?;
                }
            }
            EventKind::Slot { name, .. } => check_name("slot name", name)?,
            EventKind::Followup { name } | EventKind::ActionExecutionRejected { name, .. } => {
                check_name("action name", name)?
            }
            EventKind::ActiveLoop { name: Some(name) } => check_name("loop name", name)?,
            EventKind::ReminderScheduled {
                name: Some(name), ..
            }
            | EventKind::ReminderCancelled {
                name: Some(name), ..
            } => check_name("reminder name", name)?,
            _ => {}
        }
    }
    Ok(())
}

/// A message from the user, with what the NLU understood of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserUttered {
    #[serde(default)]
    pub text: Option<String>,
    /// The `/model/parse` result: intent, entities, ranking, ... (kept as JSON so that
    /// fields rusa does not produce survive a round trip; read from a store, it stays JSON
    /// text until looked into).
    #[serde(default)]
    pub parse_data: LazyJson,
    #[serde(default)]
    pub input_channel: Option<String>,
    #[serde(default)]
    pub message_id: Option<String>,
}

impl UserUttered {
    /// The name of the predicted intent, if any.
    pub fn intent_name(&self) -> Option<&str> {
        self.parse_data.get("intent")?.get("name")?.as_str()
    }

    /// The confidence of the predicted intent.
    pub fn intent_confidence(&self) -> Option<f64> {
        self.parse_data.get("intent")?.get("confidence")?.as_f64()
    }

    /// The extracted entities (`[{entity, value, start, end, role?, group?, ...}]`).
    pub fn entities(&self) -> &[Value] {
        self.parse_data
            .get("entities")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
}

/// An action the assistant ran, and which policy chose it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionExecuted {
    /// `None` for end-to-end bot text actions, which carry `action_text` instead.
    pub name: Option<String>,
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(default)]
    pub confidence: Option<f64>,
    #[serde(default)]
    pub action_text: Option<String>,
    #[serde(default)]
    pub hide_rule_turn: bool,
}

/// A message from the assistant: text and rich content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotUttered {
    #[serde(default)]
    pub text: Option<String>,
    /// `{elements, quick_replies, buttons, attachment, image, custom}`, kept as read until
    /// looked into.
    #[serde(default = "BotUttered::empty_data")]
    pub data: LazyJson,
}

impl BotUttered {
    /// Rasa's `data` with every field present and null (one shared value).
    pub fn empty_data() -> LazyJson {
        static EMPTY: std::sync::OnceLock<LazyJson> = std::sync::OnceLock::new();
        EMPTY
            .get_or_init(|| {
                LazyJson::new(serde_json::json!({
                    "elements": null, "quick_replies": null, "buttons": null,
                    "attachment": null, "image": null, "custom": null
                }))
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_and_write_rasa_json() {
        let json = serde_json::json!({
            "event": "action", "timestamp": 1.5, "metadata": {"model_id": "m"},
            "name": "action_listen", "policy": "RulePolicy", "confidence": 1.0,
            "action_text": null, "hide_rule_turn": false
        });
        let event: Event = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(event.type_name(), "action");
        assert_eq!(serde_json::to_value(&event).unwrap(), json);
    }

    #[test]
    fn unit_events_and_aliases() {
        let e: Event = serde_json::from_str(r#"{"event": "restart", "timestamp": 2}"#).unwrap();
        assert_eq!(e.kind, EventKind::Restart);
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["event"], "restart");
        let form: Event = serde_json::from_str(r#"{"event": "form", "name": "f"}"#).unwrap();
        assert_eq!(
            form.kind,
            EventKind::ActiveLoop {
                name: Some("f".into())
            }
        );
        assert_eq!(serde_json::to_value(&form).unwrap()["event"], "active_loop");
    }

    #[test]
    fn metadata_and_bot_data_stay_text_until_read_and_are_written_back_as_read() {
        let text = r#"{"event":"bot","timestamp":1.0,"metadata":{"utter_action":"utter_greet","model_id":"m"},"text":"Hey!","data":{"elements":null,"quick_replies":null,"buttons":null,"attachment":null,"image":null,"custom":{"a":1.5e-7}}}"#;
        let mut event: Event = serde_json::from_str(text).unwrap();
        assert!(!event.metadata.is_empty());
        let EventKind::Bot(bot) = &event.kind else {
            panic!("a bot event: {event:?}")
        };
        assert!(!bot.data.is_parsed());
        let written = serde_json::to_string(&event).unwrap();
        for part in [
            r#""metadata":{"utter_action":"utter_greet","model_id":"m"}"#,
            r#""custom":{"a":1.5e-7}"#,
        ] {
            assert!(written.contains(part), "{part} in {written}");
        }
        assert_eq!(
            event.metadata.get("utter_action"),
            Some(&Value::from("utter_greet"))
        );
        assert_eq!(event.metadata.get("absent"), None);
        // A copy shares it until one of them changes it.
        let copy = event.clone();
        event.metadata.insert("assistant_id".into(), "a".into());
        assert_eq!(copy.metadata.get("assistant_id"), None);
        assert_eq!(event.metadata.get("assistant_id"), Some(&Value::from("a")));
        assert_eq!(event.metadata.get("model_id"), Some(&Value::from("m")));
        assert_ne!(event, copy);
    }

    #[test]
    fn empty_null_and_invalid_metadata() {
        for empty in [r#"{}"#, r#"{ }"#, "null"] {
            let text = format!(r#"{{"event": "restart", "timestamp": 2, "metadata": {empty}}}"#);
            let event: Event = serde_json::from_str(&text).unwrap();
            assert!(event.metadata.is_empty(), "{empty}");
            // Left out when written, as Rasa does.
            assert!(
                serde_json::to_value(&event)
                    .unwrap()
                    .get("metadata")
                    .is_none()
            );
            assert_eq!(event, Event::new(EventKind::Restart, 2.0));
        }
        for invalid in ["5", r#""x""#, "[1]", "true"] {
            let text = format!(r#"{{"event": "restart", "metadata": {invalid}}}"#);
            let error = serde_json::from_str::<Event>(&text).unwrap_err();
            assert!(
                error.to_string().contains("an object"),
                "{invalid}: {error}"
            );
            let value: Value = serde_json::from_str(&text).unwrap();
            assert!(serde_json::from_value::<Event>(value).is_err(), "{invalid}");
        }
        let mut event = Event::new(EventKind::Restart, 2.0);
        event.metadata.insert("k".into(), Value::Null);
        assert!(!event.metadata.is_empty());
        assert_eq!(
            serde_json::to_value(&event).unwrap()["metadata"],
            serde_json::json!({"k": null})
        );
    }

    #[test]
    fn unknown_event_types_are_errors() {
        assert!(serde_json::from_str::<Event>(r#"{"event": "bogus"}"#).is_err());
    }
}
