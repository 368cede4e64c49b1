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
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
}

impl Event {
    pub fn new(kind: EventKind, timestamp: f64) -> Self {
        Self {
            kind,
            timestamp,
            metadata: Map::new(),
        }
    }

    /// The value of `event` in the JSON: "user", "action", ...
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
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
    /// `{elements, quick_replies, buttons, attachment, image, custom}`.
    #[serde(default = "BotUttered::empty_data")]
    pub data: Value,
}

impl BotUttered {
    /// Rasa's `data` with every field present and null.
    pub fn empty_data() -> Value {
        serde_json::json!({
            "elements": null, "quick_replies": null, "buttons": null,
            "attachment": null, "image": null, "custom": null
        })
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
    fn unknown_event_types_are_errors() {
        assert!(serde_json::from_str::<Event>(r#"{"event": "bogus"}"#).is_err());
    }
}
