//! Filling slots from the latest user message by the domain's slot mappings (what Rasa's
//! `action_extract_slots` does after every user message).

use serde_json::Value;

use rusa_project::{Domain, MappingType, SlotMapping, SlotType};

use crate::tracker::{DialogueStateTracker, REQUESTED_SLOT};

/// The slots the latest message fills: `(slot, value)` pairs whose value differs from the
/// slot's current value, in domain order. Custom mappings are not evaluated here (an action
/// fills them).
pub fn extract_slots(domain: &Domain, tracker: &DialogueStateTracker) -> Vec<(String, Value)> {
    let Some(message) = tracker.latest_message() else {
        return Vec::new();
    };
    let intent = message.intent_name();
    let mut out = Vec::new();
    for slot in &domain.slots {
        for mapping in &slot.mappings {
            if mapping.mapping_type == MappingType::Custom || !intent_is_desired(mapping, intent) {
                continue;
            }
            if mapping.mapping_type != MappingType::FromTriggerIntent
                && !conditions_hold(mapping, tracker)
            {
                continue;
            }
            if fails_unique_entity_check(domain, &slot.name, mapping, tracker) {
                continue;
            }
            let mut values = predefined_values(mapping, tracker);
            if values.is_empty() {
                continue;
            }
            let value = if slot.slot_type == SlotType::List {
                Value::Array(values)
            } else {
                values.pop().expect("not empty")
            };
            if value.is_null() {
                continue;
            }
            if tracker.slot(&slot.name) != Some(&value) {
                out.push((slot.name.clone(), value));
            }
        }
    }
    out
}

/// The mapping applies to this intent (`intent` lists it or is empty; `not_intent` does not
/// list it).
fn intent_is_desired(mapping: &SlotMapping, intent: Option<&str>) -> bool {
    let Some(intent) = intent else {
        return mapping.intent.is_empty();
    };
    (mapping.intent.is_empty() || mapping.intent.iter().any(|i| i == intent))
        && !mapping.not_intent.iter().any(|i| i == intent)
}

/// Without conditions a mapping always applies; with conditions, one of them must hold: its
/// loop is the active loop (and its requested slot, if given, is the requested one), or it
/// names no loop and none is active.
fn conditions_hold(mapping: &SlotMapping, tracker: &DialogueStateTracker) -> bool {
    if mapping.conditions.is_empty() {
        return true;
    }
    let active = tracker.active_loop_name();
    let requested = tracker.slot(REQUESTED_SLOT).and_then(Value::as_str);
    mapping
        .conditions
        .iter()
        .any(|c| match c.active_loop.as_deref() {
            Some(loop_name) if Some(loop_name) == active => {
                c.requested_slot.is_none() || c.requested_slot.as_deref() == requested
            }
            Some(_) => false,
            None => active.is_none(),
        })
}

/// While a form asks for one slot, an entity that several of its slots map to in the same
/// way fills only the requested one.
fn fails_unique_entity_check(
    domain: &Domain,
    slot: &str,
    mapping: &SlotMapping,
    tracker: &DialogueStateTracker,
) -> bool {
    if mapping.mapping_type != MappingType::FromEntity {
        return false;
    }
    let Some(form) = tracker.active_loop_name().and_then(|f| domain.form(f)) else {
        return false;
    };
    if tracker.slot(REQUESTED_SLOT).and_then(Value::as_str) == Some(slot) {
        return false;
    }
    if !form.required_slots.iter().any(|(s, _)| s == slot) {
        return false;
    }
    let same = |m: &SlotMapping| {
        m.mapping_type == MappingType::FromEntity
            && m.entity == mapping.entity
            && m.role == mapping.role
            && m.group == mapping.group
    };
    form.required_slots
        .iter()
        .filter(|(other, _)| other != slot)
        .filter_map(|(other, _)| domain.slot(other))
        .any(|other| other.mappings.iter().any(same))
}

fn predefined_values(mapping: &SlotMapping, tracker: &DialogueStateTracker) -> Vec<Value> {
    let Some(message) = tracker.latest_message() else {
        return Vec::new();
    };
    match mapping.mapping_type {
        MappingType::FromEntity => {
            let Some(entity) = mapping.entity.as_deref() else {
                return Vec::new();
            };
            message
                .entities()
                .iter()
                .filter(|e| e.get("entity").and_then(Value::as_str) == Some(entity))
                .filter(|e| {
                    mapping.role.is_none()
                        || e.get("role").and_then(Value::as_str) == mapping.role.as_deref()
                })
                .filter(|e| {
                    mapping.group.is_none()
                        || e.get("group").and_then(Value::as_str) == mapping.group.as_deref()
                })
                .filter_map(|e| e.get("value").cloned())
                .collect()
        }
        MappingType::FromIntent => vec![mapping.value.clone().unwrap_or(Value::Null)],
        MappingType::FromTriggerIntent => {
            // Fills when the form it belongs to is being activated, not while it runs.
            let loops: Vec<&str> = mapping
                .conditions
                .iter()
                .filter_map(|c| c.active_loop.as_deref())
                .collect();
            match tracker.active_loop_name() {
                Some(active) if loops.contains(&active) => Vec::new(),
                _ => vec![mapping.value.clone().unwrap_or(Value::Null)],
            }
        }
        MappingType::FromText => vec![message.text.clone().map_or(Value::Null, Value::String)],
        MappingType::Custom => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::events::{Event, EventKind, UserUttered};
    use crate::tracker::SlotSpec;

    fn domain(yaml: &str) -> Domain {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("domain.yml");
        std::fs::write(&path, yaml).unwrap();
        rusa_project::load_domain(&path, &mut Vec::new()).unwrap().0
    }

    fn tracker(
        domain: &Domain,
        intent: &str,
        entities: Value,
        text: &str,
        events: Vec<Event>,
    ) -> DialogueStateTracker {
        let mut t = DialogueStateTracker::new("t", Arc::from(SlotSpec::from_domain(domain)));
        for e in events {
            t.update(e);
        }
        t.update(Event::new(
            EventKind::User(UserUttered {
                text: Some(text.into()),
                parse_data: json!({"intent": {"name": intent, "confidence": 1.0}, "entities": entities, "text": text}).into(),
                input_channel: None,
                message_id: None,
            }),
            1.0,
        ));
        t
    }

    const DOMAIN: &str = r#"
intents: [inform, affirm, deny, book, chitchat]
entities:
  - city:
      roles: [from, to]
slots:
  origin:
    type: text
    mappings:
    - type: from_entity
      entity: city
      role: from
  destination:
    type: text
    mappings:
    - type: from_entity
      entity: city
      role: to
  cities:
    type: list
    mappings:
    - type: from_entity
      entity: city
  confirmed:
    type: bool
    mappings:
    - type: from_intent
      intent: affirm
      value: true
      conditions:
      - active_loop: booking_form
        requested_slot: confirmed
    - type: from_intent
      intent: deny
      value: false
      conditions:
      - active_loop: booking_form
        requested_slot: confirmed
  note:
    type: text
    mappings:
    - type: from_text
      not_intent: [chitchat]
      conditions:
      - active_loop: booking_form
        requested_slot: note
  reason:
    type: text
    mappings:
    - type: from_trigger_intent
      intent: book
      value: booking
      conditions:
      - active_loop: booking_form
forms:
  booking_form:
    required_slots: [confirmed, note]
"#;

    #[test]
    fn entities_fill_by_role_and_list_slots_take_all_values() {
        let d = domain(DOMAIN);
        let entities = json!([{"entity": "city", "value": "Lyon", "role": "from"}, {"entity": "city", "value": "Oslo", "role": "to"}]);
        let t = tracker(&d, "inform", entities, "from Lyon to Oslo", vec![]);
        let filled = extract_slots(&d, &t);
        assert_eq!(
            filled,
            vec![
                ("origin".into(), json!("Lyon")),
                ("destination".into(), json!("Oslo")),
                ("cities".into(), json!(["Lyon", "Oslo"]))
            ]
        );
    }

    #[test]
    fn conditions_on_the_requested_slot() {
        let d = domain(DOMAIN);
        let in_form = vec![
            Event::new(
                EventKind::ActiveLoop {
                    name: Some("booking_form".into()),
                },
                0.5,
            ),
            Event::new(
                EventKind::Slot {
                    name: REQUESTED_SLOT.into(),
                    value: json!("confirmed"),
                },
                0.6,
            ),
        ];
        let t = tracker(&d, "deny", json!([]), "no", in_form.clone());
        assert_eq!(
            extract_slots(&d, &t),
            vec![("confirmed".into(), json!(false))]
        );
        // Outside the form the same message fills nothing.
        let t = tracker(&d, "deny", json!([]), "no", vec![]);
        assert_eq!(extract_slots(&d, &t), vec![]);
    }

    #[test]
    fn from_text_respects_not_intent() {
        let d = domain(DOMAIN);
        let in_form = vec![
            Event::new(
                EventKind::ActiveLoop {
                    name: Some("booking_form".into()),
                },
                0.5,
            ),
            Event::new(
                EventKind::Slot {
                    name: REQUESTED_SLOT.into(),
                    value: json!("note"),
                },
                0.6,
            ),
        ];
        let t = tracker(
            &d,
            "inform",
            json!([]),
            "window seat please",
            in_form.clone(),
        );
        assert_eq!(
            extract_slots(&d, &t),
            vec![("note".into(), json!("window seat please"))]
        );
        let t = tracker(&d, "chitchat", json!([]), "how are you", in_form);
        assert_eq!(extract_slots(&d, &t), vec![]);
    }

    #[test]
    fn trigger_intent_fills_when_the_form_starts_only() {
        let d = domain(DOMAIN);
        let t = tracker(&d, "book", json!([]), "book a trip", vec![]);
        assert_eq!(
            extract_slots(&d, &t),
            vec![("reason".into(), json!("booking"))]
        );
        let running = vec![Event::new(
            EventKind::ActiveLoop {
                name: Some("booking_form".into()),
            },
            0.5,
        )];
        let t = tracker(&d, "book", json!([]), "book a trip", running);
        assert_eq!(extract_slots(&d, &t), vec![]);
    }

    #[test]
    fn unchanged_values_are_not_set_again() {
        let d = domain(DOMAIN);
        let before = vec![Event::new(
            EventKind::Slot {
                name: "origin".into(),
                value: json!("Lyon"),
            },
            0.1,
        )];
        let entities = json!([{"entity": "city", "value": "Lyon", "role": "from"}]);
        let t = tracker(&d, "inform", entities, "Lyon", before);
        assert_eq!(
            extract_slots(&d, &t),
            vec![("cities".into(), json!(["Lyon"]))]
        );
    }
}
