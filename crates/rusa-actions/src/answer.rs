//! The action server's answer (`{"events": [...], "responses": [...]}`) as events and bot
//! messages, as Rasa's `RemoteAction` reads it.

use indexmap::IndexMap;
use serde_json::{Map, Value};

use rusa_core::actions::{ActionOutcome, bot_event};
use rusa_core::processor::system_now;
use rusa_core::responses::{BotMessage, generate};
use rusa_core::{DialogueStateTracker, Event};
use rusa_project::Domain;

/// Keys of a response dict that describe the message; every other key is a template
/// variable (`dispatcher.utter_message(response="utter_x", name="Ana")` fills `{name}`).
const MESSAGE_KEYS: &[&str] = &[
    "text",
    "image",
    "buttons",
    "elements",
    "custom",
    "attachment",
    "quick_replies",
    "template",
    "response",
    "channel",
];

/// The outcome of a successful call: the `bot` events of the responses first, then the
/// returned events (Rasa's order).
pub(crate) fn outcome(
    answer: &Value,
    tracker: &DialogueStateTracker,
    domain: &Domain,
) -> ActionOutcome {
    let now = system_now();
    let mut out = ActionOutcome::default();
    let responses = answer.get("responses").and_then(Value::as_array);
    for response in responses.into_iter().flatten() {
        let Some(response) = response.as_object() else {
            tracing::warn!("skipped a response of the action server that is not an object");
            continue;
        };
        if let Some(message) = message(response, tracker, domain, now) {
            out.events.push(bot_event(&message, now));
            out.messages.push(message);
        }
    }
    let events = answer.get("events").and_then(Value::as_array);
    for event in events.into_iter().flatten() {
        if let Some(event) = parse_event(event, now) {
            out.events.push(event);
        }
    }
    out
}

/// One response of the action server as a bot message: a named domain response (filled
/// with the slots and the response's own variables) with the explicit fields on top.
fn message(
    response: &Map<String, Value>,
    tracker: &DialogueStateTracker,
    domain: &Domain,
    now: f64,
) -> Option<BotMessage> {
    let name = ["response", "template"]
        .iter()
        .find_map(|k| response.get(*k).and_then(Value::as_str))
        .filter(|n| !n.is_empty());
    let mut draft = match name {
        Some(name) => {
            let Some(domain_response) = domain.responses.get(name) else {
                tracing::warn!(
                    response = name,
                    "the action server asked for a response the domain does not have"
                );
                return None;
            };
            let mut vars: IndexMap<String, Value> = tracker.slots().clone();
            for (k, v) in response {
                if !MESSAGE_KEYS.contains(&k.as_str()) {
                    vars.insert(k.clone(), v.clone());
                }
            }
            let mut choose = |n: usize| (now.fract() * 1e6) as usize % n.max(1);
            let Some(message) = generate(
                domain_response,
                &vars,
                tracker.latest_input_channel(),
                &mut choose,
            ) else {
                tracing::warn!(
                    response = name,
                    "no variation of the response applies to the current slots and channel"
                );
                return None;
            };
            message
        }
        None => BotMessage::default(),
    };
    for (key, value) in response {
        if !truthy(value) || matches!(key.as_str(), "response" | "template") {
            continue;
        }
        match key.as_str() {
            "text" => draft.text = value.as_str().map(str::to_owned).or(draft.text),
            "image" => draft.image = value.as_str().map(str::to_owned).or(draft.image),
            "buttons" => {
                if let Some(buttons) = value.as_array() {
                    draft.buttons.extend(buttons.iter().cloned());
                }
            }
            "custom" => draft.custom = Some(value.clone()),
            _ => {
                draft.extra.insert(key.clone(), value.clone());
            }
        }
    }
    Some(draft)
}

/// Python's truthiness, which Rasa uses to drop empty fields of a response.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// An event of the answer; events without a time stamp (rasa-sdk sends `null`) get `now`.
/// Unknown or malformed events are skipped with a warning naming only their type.
fn parse_event(raw: &Value, now: f64) -> Option<Event> {
    let mut raw = raw.clone();
    let type_name = raw
        .get("event")
        .and_then(Value::as_str)
        .filter(|t| t.len() <= 64 && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or("<unnamed>")
        .to_owned();
    let Some(obj) = raw.as_object_mut() else {
        tracing::warn!("skipped an event of the action server that is not an object");
        return None;
    };
    if !obj.get("timestamp").is_some_and(Value::is_number) {
        obj.insert("timestamp".into(), Value::from(now));
    }
    if obj.get("metadata").is_some_and(Value::is_null) {
        obj.remove("metadata");
    }
    match serde_json::from_value::<Event>(raw) {
        Ok(event) => Some(event),
        Err(e) => {
            tracing::warn!(
                event = type_name.as_str(),
                "skipped an event of the action server that rusa does not know or cannot read"
            );
            tracing::debug!(error = %e, "why the event was skipped");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use rusa_core::{EventKind, SlotSpec};

    use super::*;

    fn domain() -> Domain {
        let yaml = r#"
intents: [greet]
slots:
  mood:
    type: text
    mappings: [{type: custom}]
responses:
  utter_mood:
    - text: "You feel {mood}, {name}."
"#;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("domain.yml");
        std::fs::write(&path, yaml).unwrap();
        rusa_project::load_domain(&path, &mut Vec::new()).unwrap().0
    }

    fn tracker(domain: &Domain) -> DialogueStateTracker {
        let specs: Arc<[SlotSpec]> = SlotSpec::from_domain(domain).into();
        let mut t = DialogueStateTracker::new("u1", specs);
        t.update(Event::new(
            EventKind::Slot {
                name: "mood".into(),
                value: json!("great"),
            },
            1.0,
        ));
        t
    }

    #[test]
    fn rasa_sdk_answer_becomes_bot_events_then_events() {
        let domain = domain();
        let tracker = tracker(&domain);
        let answer = json!({
            "events": [
                {"event": "slot", "timestamp": null, "name": "mood", "value": "sad"},
                {"event": "no_such_event", "timestamp": null},
                {"event": "followup", "timestamp": 5.0, "name": "utter_mood"}
            ],
            "responses": [
                {"text": "Hello", "buttons": [], "elements": [], "custom": {}, "template": null,
                 "response": null, "image": null, "attachment": null},
                {"text": null, "buttons": [], "elements": [], "custom": {}, "template": null,
                 "response": "utter_mood", "image": null, "attachment": null, "name": "Ana"},
                {"response": "utter_missing"},
                {"custom": {"kind": "card"}, "buttons": [{"title": "Yes", "payload": "/affirm"}]}
            ]
        });
        let out = outcome(&answer, &tracker, &domain);
        let texts: Vec<_> = out.messages.iter().map(|m| m.text.clone()).collect();
        assert_eq!(
            texts,
            vec![
                Some("Hello".into()),
                Some("You feel great, Ana.".into()),
                None
            ]
        );
        assert_eq!(out.messages[0].custom, None);
        assert_eq!(out.messages[1].utter_action.as_deref(), Some("utter_mood"));
        assert_eq!(out.messages[2].custom, Some(json!({"kind": "card"})));
        assert_eq!(out.messages[2].buttons.len(), 1);
        let kinds: Vec<&str> = out.events.iter().map(Event::type_name).collect();
        assert_eq!(kinds, ["bot", "bot", "bot", "slot", "followup"]);
        assert!(out.events[3].timestamp > 0.0);
        assert_eq!(out.events[4].timestamp, 5.0);
    }
}
