//! Reading an [`Event`] from JSON in one pass.
//!
//! Serde's derive for an internally tagged enum flattened into a struct buffers each
//! event into an intermediate tree before building it, which made decoding the largest
//! cost of a turn whose tracker is read from a store. Here every field any event kind can
//! have is read straight into its slot, and the kind named by `event` is built from them.
//! Fields no kind knows are skipped, as before.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use crate::events::{ActionExecuted, BotUttered, Event, EventKind, Metadata, UserUttered};
use crate::lazy_json::LazyJson;

/// The keys of an event's JSON object that some kind of event reads.
enum Field {
    Event,
    Timestamp,
    Metadata,
    Name,
    Value,
    Text,
    ParseData,
    InputChannel,
    MessageId,
    Policy,
    Confidence,
    ActionText,
    HideRuleTurn,
    Data,
    UseTextForFeaturization,
    Entities,
    IsInterrupted,
    Intent,
    DateTime,
    KillOnUserMsg,
    Path,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Field, E> {
                Ok(match key {
                    "event" => Field::Event,
                    "timestamp" => Field::Timestamp,
                    "metadata" => Field::Metadata,
                    "name" => Field::Name,
                    "value" => Field::Value,
                    "text" => Field::Text,
                    "parse_data" => Field::ParseData,
                    "input_channel" => Field::InputChannel,
                    "message_id" => Field::MessageId,
                    "policy" => Field::Policy,
                    "confidence" => Field::Confidence,
                    "action_text" => Field::ActionText,
                    "hide_rule_turn" => Field::HideRuleTurn,
                    "data" => Field::Data,
                    "use_text_for_featurization" => Field::UseTextForFeaturization,
                    "entities" => Field::Entities,
                    "is_interrupted" => Field::IsInterrupted,
                    "intent" => Field::Intent,
                    "date_time" => Field::DateTime,
                    "kill_on_user_msg" => Field::KillOnUserMsg,
                    "path" => Field::Path,
                    _ => Field::Other,
                })
            }
        }
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

/// Every field read so far. JSON values that may legitimately be `null` (`value`, `data`,
/// `parse_data`, `entities`) are kept as read, so that a `null` stays distinguishable from
/// a missing field.
#[derive(Default)]
struct Fields {
    event: Option<String>,
    timestamp: Option<f64>,
    metadata: Option<Metadata>,
    name: Option<String>,
    value: Option<Value>,
    text: Option<String>,
    parse_data: Option<LazyJson>,
    input_channel: Option<String>,
    message_id: Option<String>,
    policy: Option<String>,
    confidence: Option<f64>,
    action_text: Option<String>,
    hide_rule_turn: Option<bool>,
    data: Option<LazyJson>,
    use_text_for_featurization: Option<bool>,
    entities: Option<Value>,
    is_interrupted: Option<bool>,
    intent: Option<String>,
    date_time: Option<String>,
    kill_on_user_msg: Option<bool>,
    path: Option<String>,
}

/// The event type names rusa reads (`form` is the name of `active_loop` before Rasa 2).
const EVENT_TYPES: &[&str] = &[
    "user",
    "action",
    "bot",
    "slot",
    "session_started",
    "active_loop",
    "form",
    "followup",
    "restart",
    "rewind",
    "undo",
    "reset_slots",
    "pause",
    "resume",
    "action_execution_rejected",
    "user_featurization",
    "entities",
    "loop_interrupted",
    "reminder",
    "cancel_reminder",
    "agent",
    "export",
];

fn required<T, E: de::Error>(value: Option<T>, field: &'static str) -> Result<T, E> {
    value.ok_or_else(|| E::missing_field(field))
}

impl Fields {
    fn into_event<E: de::Error>(self) -> Result<Event, E> {
        let event = required(self.event, "event")?;
        let kind = match event.as_str() {
            "user" => EventKind::User(UserUttered {
                text: self.text,
                parse_data: self.parse_data.unwrap_or_default(),
                input_channel: self.input_channel,
                message_id: self.message_id,
            }),
            "action" => EventKind::Action(ActionExecuted {
                name: self.name,
                policy: self.policy,
                confidence: self.confidence,
                action_text: self.action_text,
                hide_rule_turn: self.hide_rule_turn.unwrap_or(false),
            }),
            "bot" => EventKind::Bot(BotUttered {
                text: self.text,
                data: self.data.unwrap_or_else(BotUttered::empty_data),
            }),
            "slot" => EventKind::Slot {
                name: required(self.name, "name")?,
                value: self.value.unwrap_or(Value::Null),
            },
            "session_started" => EventKind::SessionStarted,
            "active_loop" | "form" => EventKind::ActiveLoop { name: self.name },
            "followup" => EventKind::Followup {
                name: required(self.name, "name")?,
            },
            "restart" => EventKind::Restart,
            "rewind" => EventKind::UserUtteranceReverted,
            "undo" => EventKind::ActionReverted,
            "reset_slots" => EventKind::AllSlotsReset,
            "pause" => EventKind::ConversationPaused,
            "resume" => EventKind::ConversationResumed,
            "action_execution_rejected" => EventKind::ActionExecutionRejected {
                name: required(self.name, "name")?,
                policy: self.policy,
                confidence: self.confidence,
            },
            "user_featurization" => EventKind::UserFeaturization {
                use_text_for_featurization: required(
                    self.use_text_for_featurization,
                    "use_text_for_featurization",
                )?,
            },
            "entities" => EventKind::EntitiesAdded {
                entities: match required(self.entities, "entities")? {
                    Value::Array(list) => list,
                    other => {
                        return Err(E::invalid_type(unexpected(&other), &"a list of entities"));
                    }
                },
            },
            "loop_interrupted" => EventKind::LoopInterrupted {
                is_interrupted: required(self.is_interrupted, "is_interrupted")?,
            },
            "reminder" => EventKind::ReminderScheduled {
                intent: required(self.intent, "intent")?,
                entities: self.entities.filter(|v| !v.is_null()),
                date_time: required(self.date_time, "date_time")?,
                name: self.name,
                kill_on_user_msg: self.kill_on_user_msg.unwrap_or(true),
            },
            "cancel_reminder" => EventKind::ReminderCancelled {
                name: self.name,
                intent: self.intent,
                entities: self.entities.filter(|v| !v.is_null()),
            },
            "agent" => EventKind::AgentUttered {
                text: self.text,
                data: self
                    .data
                    .map(|d| d.value().clone())
                    .filter(|v| !v.is_null()),
            },
            "export" => EventKind::StoryExported { path: self.path },
            other => return Err(E::unknown_variant(other, EVENT_TYPES)),
        };
        Ok(Event {
            kind,
            timestamp: self.timestamp.unwrap_or_default(),
            metadata: self.metadata.unwrap_or_default(),
        })
    }
}

/// How serde names a JSON value in a type error.
fn unexpected(value: &Value) -> de::Unexpected<'_> {
    match value {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(_) => de::Unexpected::Other("a number"),
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event object with an `event` field")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let mut f = Fields::default();
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::Event => f.event = Some(map.next_value()?),
                // `null` is read as absent for the optional scalars, as the derive did.
                Field::Timestamp => f.timestamp = map.next_value()?,
                Field::Metadata => f.metadata = map.next_value()?,
                Field::Name => f.name = map.next_value()?,
                Field::Value => f.value = Some(map.next_value()?),
                Field::Text => f.text = map.next_value()?,
                Field::ParseData => f.parse_data = Some(map.next_value()?),
                Field::InputChannel => f.input_channel = map.next_value()?,
                Field::MessageId => f.message_id = map.next_value()?,
                Field::Policy => f.policy = map.next_value()?,
                Field::Confidence => f.confidence = map.next_value()?,
                Field::ActionText => f.action_text = map.next_value()?,
                Field::HideRuleTurn => f.hide_rule_turn = map.next_value()?,
                Field::Data => f.data = Some(map.next_value()?),
                Field::UseTextForFeaturization => {
                    f.use_text_for_featurization = map.next_value()?;
                }
                Field::Entities => f.entities = Some(map.next_value()?),
                Field::IsInterrupted => f.is_interrupted = map.next_value()?,
                Field::Intent => f.intent = map.next_value()?,
                Field::DateTime => f.date_time = map.next_value()?,
                Field::KillOnUserMsg => f.kill_on_user_msg = map.next_value()?,
                Field::Path => f.path = map.next_value()?,
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        f.into_event()
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EventVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(json: Value) -> Result<Event, String> {
        serde_json::from_value(json.clone())
            .map_err(|e| e.to_string())
            .and_then(|event: Event| {
                // The same text read from bytes gives the same event.
                let bytes = serde_json::to_vec(&json).unwrap();
                let again: Event = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
                assert_eq!(event, again);
                Ok(event)
            })
    }

    #[test]
    fn every_kind_reads_back_what_it_writes() {
        let kinds = vec![
            EventKind::User(UserUttered {
                text: Some("hi".into()),
                parse_data: json!({"intent": {"name": "greet", "confidence": 0.9}, "entities": []})
                    .into(),
                input_channel: Some("rest".into()),
                message_id: Some("m1".into()),
            }),
            EventKind::Action(ActionExecuted {
                name: None,
                policy: Some("RulePolicy".into()),
                confidence: Some(1.0),
                action_text: Some("Hi!".into()),
                hide_rule_turn: true,
            }),
            EventKind::Bot(BotUttered {
                text: Some("Hey".into()),
                data: BotUttered::empty_data(),
            }),
            EventKind::Slot {
                name: "city".into(),
                value: json!(["Oslo", 2]),
            },
            EventKind::SessionStarted,
            EventKind::ActiveLoop { name: None },
            EventKind::ActiveLoop {
                name: Some("trip_form".into()),
            },
            EventKind::Followup {
                name: "utter_x".into(),
            },
            EventKind::Restart,
            EventKind::UserUtteranceReverted,
            EventKind::ActionReverted,
            EventKind::AllSlotsReset,
            EventKind::ConversationPaused,
            EventKind::ConversationResumed,
            EventKind::ActionExecutionRejected {
                name: "trip_form".into(),
                policy: None,
                confidence: Some(0.3),
            },
            EventKind::UserFeaturization {
                use_text_for_featurization: true,
            },
            EventKind::EntitiesAdded {
                entities: vec![json!({"entity": "city", "value": "Oslo"})],
            },
            EventKind::LoopInterrupted {
                is_interrupted: false,
            },
            EventKind::ReminderScheduled {
                intent: "remind".into(),
                entities: Some(json!([{"entity": "x", "value": 1}])),
                date_time: "2026-01-01T00:00:00".into(),
                name: Some("r1".into()),
                kill_on_user_msg: false,
            },
            EventKind::ReminderCancelled {
                name: None,
                intent: Some("remind".into()),
                entities: None,
            },
            EventKind::AgentUttered {
                text: Some("a human".into()),
                data: Some(json!({"x": 1})),
            },
            EventKind::StoryExported {
                path: Some("stories.yml".into()),
            },
        ];
        for kind in kinds {
            let mut event = Event::new(kind, 1_700_000_000.25);
            event.metadata.insert("model_id".into(), json!("m"));
            let written = serde_json::to_value(&event).unwrap();
            assert_eq!(read(written.clone()), Ok(event), "{written}");
        }
    }

    #[test]
    fn optional_fields_take_rasas_defaults() {
        let e = read(json!({"event": "bot", "text": "x"})).unwrap();
        assert_eq!(e.timestamp, 0.0);
        assert!(e.metadata.is_empty());
        let EventKind::Bot(b) = e.kind else { panic!() };
        assert_eq!(b.data, BotUttered::empty_data());
        let e = read(json!({"event": "reminder", "intent": "i", "date_time": "t"})).unwrap();
        assert!(matches!(
            e.kind,
            EventKind::ReminderScheduled {
                kill_on_user_msg: true,
                ..
            }
        ));
        // `null` where a value may be missing reads as missing.
        let e = read(
            json!({"event": "action", "name": "a", "policy": null, "timestamp": null,
                            "metadata": null}),
        )
        .unwrap();
        assert_eq!(e.timestamp, 0.0);
        let EventKind::Action(a) = e.kind else {
            panic!()
        };
        assert_eq!(a.policy, None);
        // A slot's `null` value is a value.
        let e = read(json!({"event": "slot", "name": "s", "value": null})).unwrap();
        assert_eq!(
            e.kind,
            EventKind::Slot {
                name: "s".into(),
                value: Value::Null
            }
        );
    }

    #[test]
    fn field_order_and_unknown_fields_do_not_matter() {
        let e = read(json!({"extra": {"deep": [1, 2]}, "name": "utter_greet",
                            "event": "action", "timestamp": 3}))
        .unwrap();
        assert_eq!(e.type_name(), "action");
        assert_eq!(e.timestamp, 3.0);
        let form = read(json!({"event": "form", "name": "f"})).unwrap();
        assert_eq!(
            form.kind,
            EventKind::ActiveLoop {
                name: Some("f".into())
            }
        );
    }

    #[test]
    fn bad_events_are_errors_that_name_the_problem() {
        let err = read(json!({"event": "slot", "value": 1})).unwrap_err();
        assert!(err.contains("missing field `name`"), "{err}");
        let err = read(json!({"name": "x"})).unwrap_err();
        assert!(err.contains("missing field `event`"), "{err}");
        let err = read(json!({"event": "bogus"})).unwrap_err();
        assert!(err.contains("unknown variant `bogus`"), "{err}");
        let err = read(json!({"event": "entities", "entities": {"a": 1}})).unwrap_err();
        assert!(err.contains("a list of entities"), "{err}");
        let err = read(json!({"event": "action", "name": 5})).unwrap_err();
        assert!(err.contains("invalid type"), "{err}");
        assert!(read(json!(["event", "action"])).is_err());
    }
}
