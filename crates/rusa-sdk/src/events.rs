//! The events an action returns, one constructor per event of rasa-sdk's `rasa_sdk.events`,
//! serialised exactly as rasa-sdk serialises them: the same keys in the same order, with an
//! explicit `null` for every optional value left out.
//!
//! Optional arguments are builder methods on [`Event`]:
//!
//! ```
//! use rusa_sdk::events;
//! use serde_json::json;
//!
//! let event = events::slot_set("city", "Berlin");
//! assert_eq!(
//!     serde_json::to_string(&event).unwrap(),
//!     r#"{"event":"slot","timestamp":null,"name":"city","value":"Berlin"}"#
//! );
//! let event = events::action_executed("action_forecast").policy("RulePolicy").confidence(1.0);
//! assert_eq!(
//!     serde_json::to_value(&event).unwrap(),
//!     json!({"event": "action", "name": "action_forecast", "policy": "RulePolicy",
//!            "confidence": 1.0, "timestamp": null})
//! );
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One event: a JSON object whose `event` key names its kind, keys in rasa-sdk's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Event(Map<String, Value>);

impl Event {
    /// An event from its JSON object, as received from Rasa or built by hand. An object
    /// without a non-empty `event` key is dropped from an action's answer (with an error
    /// log), as rasa-sdk drops it.
    pub fn from_object(object: Map<String, Value>) -> Self {
        Self(object)
    }

    /// The event's kind (`slot`, `user`, `action`, ...); empty when it has none.
    pub fn kind(&self) -> &str {
        self.0.get("event").and_then(Value::as_str).unwrap_or("")
    }

    /// A field of the event.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// The event as its JSON object.
    pub fn as_object(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The event as its JSON object.
    pub fn into_object(self) -> Map<String, Value> {
        self.0
    }

    /// Sets `key` (in its place when the event has it; at the end when it does not).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    /// The time of the event (seconds since the epoch); rasa-sdk leaves it `null` and Rasa
    /// fills it in.
    pub fn timestamp(self, seconds: f64) -> Self {
        self.with("timestamp", seconds)
    }

    /// `policy` of an `action` or `action_execution_rejected` event.
    pub fn policy(self, policy: &str) -> Self {
        self.with("policy", policy)
    }

    /// `confidence` of an `action` or `action_execution_rejected` event.
    pub fn confidence(self, confidence: f64) -> Self {
        self.with("confidence", confidence)
    }

    /// `parse_data` of a `user` event.
    pub fn parse_data(self, parse_data: Value) -> Self {
        self.with("parse_data", parse_data)
    }

    /// `input_channel` of a `user` event.
    pub fn input_channel(self, channel: &str) -> Self {
        self.with("input_channel", channel)
    }

    /// `data` of a `bot` or `agent` event.
    pub fn data(self, data: Value) -> Self {
        self.with("data", data)
    }

    /// `metadata` of a `bot` or `session_ended` event.
    pub fn metadata(self, metadata: Value) -> Self {
        self.with("metadata", metadata)
    }

    /// `entities` of a `reminder` or `cancel_reminder` event.
    pub fn entities(self, entities: Value) -> Self {
        self.with("entities", entities)
    }

    /// `name` of a `reminder` or `cancel_reminder` event.
    pub fn name(self, name: &str) -> Self {
        self.with("name", name)
    }

    /// `kill_on_user_msg` of a `reminder` event (default `true`).
    pub fn kill_on_user_message(self, kill: bool) -> Self {
        self.with("kill_on_user_msg", kill)
    }
}

impl From<Event> for Value {
    fn from(event: Event) -> Self {
        Value::Object(event.0)
    }
}

/// An event from `(key, value)` pairs, in this order.
fn event(pairs: Vec<(&str, Value)>) -> Event {
    Event(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn opt_str(value: Option<&str>) -> Value {
    value.map_or(Value::Null, Value::from)
}

/// `UserUttered(text)`: the user said `text`.
pub fn user_uttered(text: Option<&str>) -> Event {
    event(vec![
        ("event", "user".into()),
        ("timestamp", Value::Null),
        ("text", opt_str(text)),
        ("parse_data", Value::Null),
        ("input_channel", Value::Null),
    ])
}

/// `BotUttered(text)`: the assistant said `text` (see also [`crate::Dispatcher`]).
pub fn bot_uttered(text: Option<&str>) -> Event {
    event(vec![
        ("event", "bot".into()),
        ("timestamp", Value::Null),
        ("text", opt_str(text)),
        ("data", Value::Null),
        ("metadata", Value::Null),
    ])
}

/// `SlotSet(key, value)`: sets a slot; `Value::Null` resets it.
pub fn slot_set(name: &str, value: impl Into<Value>) -> Event {
    event(vec![
        ("event", "slot".into()),
        ("timestamp", Value::Null),
        ("name", name.into()),
        ("value", value.into()),
    ])
}

fn bare(kind: &str) -> Event {
    event(vec![("event", kind.into()), ("timestamp", Value::Null)])
}

/// `Restarted()`: the conversation starts over.
pub fn restarted() -> Event {
    bare("restart")
}

/// `SessionStarted()`: a new session begins.
pub fn session_started() -> Event {
    bare("session_started")
}

/// `SessionEnded()` (rasa-sdk 3.16+; Rasa 3.6 does not know it).
pub fn session_ended() -> Event {
    event(vec![
        ("event", "session_ended".into()),
        ("timestamp", Value::Null),
        ("metadata", Value::Null),
    ])
}

/// `UserUtteranceReverted()`: undoes the user's last message and what followed it.
pub fn user_utterance_reverted() -> Event {
    bare("rewind")
}

/// `AllSlotsReset()`: every slot back to its initial value.
pub fn all_slots_reset() -> Event {
    bare("reset_slots")
}

/// `ReminderScheduled(intent_name, trigger_date_time)`: triggers `intent` at `date_time`
/// (ISO 8601, as Python's `datetime.isoformat()` writes it, e.g. `2024-01-02T03:04:05`).
/// Set `name`, `entities` and `kill_on_user_message` with the builder methods.
pub fn reminder_scheduled(intent: &str, date_time: &str) -> Event {
    if intent.starts_with("utter_") || intent.starts_with("action_") {
        tracing::warn!(
            "a reminder triggers an intent, and '{intent}' looks like an action or a response"
        );
    }
    event(vec![
        ("event", "reminder".into()),
        ("timestamp", Value::Null),
        ("intent", intent.into()),
        ("entities", Value::Null),
        ("date_time", date_time.into()),
        ("name", Value::Null),
        ("kill_on_user_msg", true.into()),
    ])
}

/// `ReminderCancelled()`: cancels reminders (select them with `name`, `intent` and
/// `entities`).
pub fn reminder_cancelled() -> Event {
    event(vec![
        ("event", "cancel_reminder".into()),
        ("timestamp", Value::Null),
        ("intent", Value::Null),
        ("entities", Value::Null),
        ("name", Value::Null),
    ])
}

/// `ActionReverted()`: undoes the last action.
pub fn action_reverted() -> Event {
    bare("undo")
}

/// `StoryExported()`.
pub fn story_exported() -> Event {
    bare("export")
}

/// `FollowupAction(name)`: the action to run next.
pub fn followup_action(name: &str) -> Event {
    event(vec![
        ("event", "followup".into()),
        ("timestamp", Value::Null),
        ("name", name.into()),
    ])
}

/// `ConversationPaused()`.
pub fn conversation_paused() -> Event {
    bare("pause")
}

/// `ConversationResumed()`.
pub fn conversation_resumed() -> Event {
    bare("resume")
}

/// `ActionExecuted(action_name)`; set `policy` and `confidence` with the builder methods.
pub fn action_executed(name: &str) -> Event {
    event(vec![
        ("event", "action".into()),
        ("name", name.into()),
        ("policy", Value::Null),
        ("confidence", Value::Null),
        ("timestamp", Value::Null),
    ])
}

/// `AgentUttered(text, data)`.
pub fn agent_uttered(text: Option<&str>) -> Event {
    event(vec![
        ("event", "agent".into()),
        ("text", opt_str(text)),
        ("data", Value::Null),
        ("timestamp", Value::Null),
    ])
}

/// `ActiveLoop(name)`: activates the loop (form) `name`; `None` deactivates.
pub fn active_loop(name: Option<&str>) -> Event {
    event(vec![
        ("event", "active_loop".into()),
        ("name", opt_str(name)),
        ("timestamp", Value::Null),
    ])
}

/// `LoopInterrupted(is_interrupted)`.
pub fn loop_interrupted(is_interrupted: bool) -> Event {
    event(vec![
        ("event", "loop_interrupted".into()),
        ("is_interrupted", is_interrupted.into()),
        ("timestamp", Value::Null),
    ])
}

/// `ActionExecutionRejected(action_name)`; set `policy` and `confidence` with the builder
/// methods.
pub fn action_execution_rejected(name: &str) -> Event {
    event(vec![
        ("event", "action_execution_rejected".into()),
        ("name", name.into()),
        ("policy", Value::Null),
        ("confidence", Value::Null),
        ("timestamp", Value::Null),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(event: &Event) -> String {
        serde_json::to_string(event).unwrap()
    }

    #[test]
    fn every_event_has_rasa_sdks_keys_in_rasa_sdks_order() {
        let cases = [
            (
                user_uttered(Some("hi")),
                r#"{"event":"user","timestamp":null,"text":"hi","parse_data":null,"input_channel":null}"#,
            ),
            (
                bot_uttered(None),
                r#"{"event":"bot","timestamp":null,"text":null,"data":null,"metadata":null}"#,
            ),
            (
                slot_set("a", Value::Null),
                r#"{"event":"slot","timestamp":null,"name":"a","value":null}"#,
            ),
            (restarted(), r#"{"event":"restart","timestamp":null}"#),
            (
                session_started(),
                r#"{"event":"session_started","timestamp":null}"#,
            ),
            (
                session_ended(),
                r#"{"event":"session_ended","timestamp":null,"metadata":null}"#,
            ),
            (
                user_utterance_reverted(),
                r#"{"event":"rewind","timestamp":null}"#,
            ),
            (
                all_slots_reset(),
                r#"{"event":"reset_slots","timestamp":null}"#,
            ),
            (
                reminder_scheduled("remind", "2024-01-02T03:04:05"),
                r#"{"event":"reminder","timestamp":null,"intent":"remind","entities":null,"date_time":"2024-01-02T03:04:05","name":null,"kill_on_user_msg":true}"#,
            ),
            (
                reminder_cancelled().name("r1"),
                r#"{"event":"cancel_reminder","timestamp":null,"intent":null,"entities":null,"name":"r1"}"#,
            ),
            (action_reverted(), r#"{"event":"undo","timestamp":null}"#),
            (story_exported(), r#"{"event":"export","timestamp":null}"#),
            (
                followup_action("action_x"),
                r#"{"event":"followup","timestamp":null,"name":"action_x"}"#,
            ),
            (
                conversation_paused(),
                r#"{"event":"pause","timestamp":null}"#,
            ),
            (
                conversation_resumed(),
                r#"{"event":"resume","timestamp":null}"#,
            ),
            (
                action_executed("a"),
                r#"{"event":"action","name":"a","policy":null,"confidence":null,"timestamp":null}"#,
            ),
            (
                agent_uttered(Some("x")),
                r#"{"event":"agent","text":"x","data":null,"timestamp":null}"#,
            ),
            (
                active_loop(Some("f")),
                r#"{"event":"active_loop","name":"f","timestamp":null}"#,
            ),
            (
                loop_interrupted(true),
                r#"{"event":"loop_interrupted","is_interrupted":true,"timestamp":null}"#,
            ),
            (
                action_execution_rejected("a"),
                r#"{"event":"action_execution_rejected","name":"a","policy":null,"confidence":null,"timestamp":null}"#,
            ),
        ];
        for (event, expected) in cases {
            assert_eq!(text(&event), expected);
        }
    }

    #[test]
    fn builder_methods_set_values_in_place() {
        let e = action_executed("a").confidence(0.5).timestamp(1.0);
        assert_eq!(
            text(&e),
            r#"{"event":"action","name":"a","policy":null,"confidence":0.5,"timestamp":1.0}"#
        );
        assert_eq!(e.kind(), "action");
        let e = reminder_scheduled("i", "t").kill_on_user_message(false);
        assert_eq!(e.get("kill_on_user_msg"), Some(&Value::Bool(false)));
    }
}
