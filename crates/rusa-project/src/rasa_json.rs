//! The domain as Rasa writes it in JSON: the `domain` of an action server call and the
//! answer of `GET /domain`.
//!
//! Rasa sends the domain file's own keys, cleaned: empty sections are left out, intents are
//! sorted, `session_config` and `version` are always present, and `config` appears only
//! when `store_entities_as_slots` is off. rusa's [`Domain`] no longer knows which optional
//! keys the file spelled out, so it writes the ones that carry information: a slot's
//! `influence_conversation` always, `initial_value` when set, `values` for categorical and
//! `min_value`/`max_value` for float slots.

use serde_json::{Map, Value, json};

use crate::domain::{
    Domain, Entity, Form, Intent, MappingType, ResponseVariation, Slot, SlotMapping, SlotType,
};

/// The version of the domain format Rasa 3 writes.
pub const DOMAIN_FORMAT_VERSION: &str = "3.1";

impl Domain {
    /// The domain in Rasa's JSON shape (what Rasa sends to an action server as `domain`).
    pub fn to_rasa_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("version".into(), json!(DOMAIN_FORMAT_VERSION));
        if !self.intents.is_empty() {
            let mut intents: Vec<&Intent> = self.intents.iter().collect();
            intents.sort_by(|a, b| a.name.cmp(&b.name));
            out.insert(
                "intents".into(),
                Value::Array(intents.into_iter().map(intent_json).collect()),
            );
        }
        if !self.entities.is_empty() {
            out.insert(
                "entities".into(),
                Value::Array(self.entities.iter().map(entity_json).collect()),
            );
        }
        if !self.slots.is_empty() {
            out.insert(
                "slots".into(),
                Value::Object(
                    self.slots
                        .iter()
                        .map(|s| (s.name.clone(), slot_json(s)))
                        .collect(),
                ),
            );
        }
        if !self.responses.is_empty() {
            out.insert(
                "responses".into(),
                Value::Object(
                    self.responses
                        .iter()
                        .map(|(name, r)| {
                            (
                                name.clone(),
                                Value::Array(r.variations.iter().map(variation_json).collect()),
                            )
                        })
                        .collect(),
                ),
            );
        }
        if !self.actions.is_empty() {
            out.insert(
                "actions".into(),
                Value::Array(
                    self.actions
                        .iter()
                        .map(|a| {
                            if a.send_domain {
                                json!({ a.name.clone(): {"send_domain": true} })
                            } else {
                                json!(a.name)
                            }
                        })
                        .collect(),
                ),
            );
        }
        if !self.forms.is_empty() {
            out.insert(
                "forms".into(),
                Value::Object(
                    self.forms
                        .iter()
                        .map(|f| (f.name.clone(), form_json(f)))
                        .collect(),
                ),
            );
        }
        if !self.e2e_actions.is_empty() {
            out.insert("e2e_actions".into(), json!(self.e2e_actions));
        }
        out.insert(
            "session_config".into(),
            json!({
                "session_expiration_time": number(self.session_config.session_expiration_time),
                "carry_over_slots_to_new_session": self.session_config.carry_over_slots_to_new_session,
            }),
        );
        if !self.store_entities_as_slots {
            out.insert("config".into(), json!({"store_entities_as_slots": false}));
        }
        Value::Object(out)
    }
}

/// A whole number as an integer (`60`, as YAML wrote it), anything else as a float.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

fn intent_json(intent: &Intent) -> Value {
    let mut props = Map::new();
    if let Some(used) = &intent.use_entities {
        props.insert("use_entities".into(), json!(used));
    }
    if !intent.ignore_entities.is_empty() {
        props.insert("ignore_entities".into(), json!(intent.ignore_entities));
    }
    if props.is_empty() {
        json!(intent.name)
    } else {
        json!({ intent.name.clone(): props })
    }
}

fn entity_json(entity: &Entity) -> Value {
    let mut props = Map::new();
    if !entity.roles.is_empty() {
        props.insert("roles".into(), json!(entity.roles));
    }
    if !entity.groups.is_empty() {
        props.insert("groups".into(), json!(entity.groups));
    }
    if !entity.influence_conversation {
        props.insert("influence_conversation".into(), json!(false));
    }
    if props.is_empty() {
        json!(entity.name)
    } else {
        json!({ entity.name.clone(): props })
    }
}

fn slot_json(slot: &Slot) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), json!(slot.slot_type.name()));
    out.insert(
        "influence_conversation".into(),
        json!(slot.influence_conversation),
    );
    if let Some(initial) = &slot.initial_value {
        out.insert("initial_value".into(), initial.clone());
    }
    match &slot.slot_type {
        SlotType::Categorical { values } => {
            out.insert("values".into(), json!(values));
        }
        SlotType::Float {
            min_value,
            max_value,
        } => {
            out.insert("min_value".into(), number(*min_value));
            out.insert("max_value".into(), number(*max_value));
        }
        _ => {}
    }
    out.insert(
        "mappings".into(),
        Value::Array(slot.mappings.iter().map(mapping_json).collect()),
    );
    Value::Object(out)
}

fn mapping_type_name(t: MappingType) -> &'static str {
    match t {
        MappingType::FromEntity => "from_entity",
        MappingType::FromText => "from_text",
        MappingType::FromIntent => "from_intent",
        MappingType::FromTriggerIntent => "from_trigger_intent",
        MappingType::Custom => "custom",
    }
}

/// One name as a string, several as a list (as Rasa's files write them).
fn one_or_many(names: &[String]) -> Value {
    match names {
        [one] => json!(one),
        many => json!(many),
    }
}

fn mapping_json(m: &SlotMapping) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), json!(mapping_type_name(m.mapping_type)));
    for (key, value) in [
        ("entity", &m.entity),
        ("role", &m.role),
        ("group", &m.group),
        ("action", &m.action),
    ] {
        if let Some(v) = value {
            out.insert(key.into(), json!(v));
        }
    }
    if !m.intent.is_empty() {
        out.insert("intent".into(), one_or_many(&m.intent));
    }
    if !m.not_intent.is_empty() {
        out.insert("not_intent".into(), one_or_many(&m.not_intent));
    }
    if let Some(value) = &m.value {
        out.insert("value".into(), value.clone());
    }
    if !m.conditions.is_empty() {
        let conditions = m
            .conditions
            .iter()
            .map(|c| {
                let mut cond = Map::new();
                cond.insert("active_loop".into(), json!(c.active_loop));
                if let Some(slot) = &c.requested_slot {
                    cond.insert("requested_slot".into(), json!(slot));
                }
                Value::Object(cond)
            })
            .collect();
        out.insert("conditions".into(), Value::Array(conditions));
    }
    Value::Object(out)
}

fn variation_json(v: &ResponseVariation) -> Value {
    let mut out = Map::new();
    if let Some(text) = &v.text {
        out.insert("text".into(), json!(text));
    }
    if let Some(image) = &v.image {
        out.insert("image".into(), json!(image));
    }
    if !v.buttons.is_empty() {
        let buttons = v
            .buttons
            .iter()
            .map(|b| json!({"title": b.title, "payload": b.payload}))
            .collect();
        out.insert("buttons".into(), Value::Array(buttons));
    }
    if let Some(custom) = &v.custom {
        out.insert("custom".into(), custom.clone());
    }
    if let Some(channel) = &v.channel {
        out.insert("channel".into(), json!(channel));
    }
    if !v.conditions.is_empty() {
        let conditions = v
            .conditions
            .iter()
            .map(|c| json!({"type": "slot", "name": c.slot, "value": c.value}))
            .collect();
        out.insert("condition".into(), Value::Array(conditions));
    }
    for (k, value) in &v.extra {
        out.entry(k.clone()).or_insert_with(|| value.clone());
    }
    Value::Object(out)
}

fn form_json(form: &Form) -> Value {
    let mut out = Map::new();
    out.insert(
        "required_slots".into(),
        Value::Array(form.required_slots.iter().map(|(s, _)| json!(s)).collect()),
    );
    if !form.ignored_intents.is_empty() {
        out.insert("ignored_intents".into(), json!(form.ignored_intents));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use serde_json::{Value, json};

    use crate::{Domain, load_domain};

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/moodbot")
    }

    fn domain_from_yaml(yaml: &str) -> Domain {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("domain.yml");
        std::fs::write(&path, yaml).expect("write domain");
        load_domain(&path, &mut Vec::new()).expect("domain loads").0
    }

    fn read_json(path: &Path) -> Value {
        let text = std::fs::read_to_string(path).expect("the moodbot fixture");
        serde_json::from_str(&text).expect("fixture is JSON")
    }

    #[test]
    fn moodbot_domain_equals_rasas_domain_endpoint() {
        let dir = fixtures();
        let expected = read_json(&dir.join("samples/domain_endpoint.json"));
        let (domain, _) =
            load_domain(&dir.join("domain.yml"), &mut Vec::new()).expect("moodbot domain loads");
        assert_eq!(domain.to_rasa_json(), expected);
    }

    #[test]
    fn domain_of_the_real_action_server_call_is_reproduced() {
        let dir = fixtures();
        let sample = read_json(&dir.join("samples/action_server_real_call_from_rasa_3.6.21.json"));
        // The moodbot domain of that recording: moodbot plus one slot and one custom action.
        let mut yaml = std::fs::read_to_string(dir.join("domain.yml")).expect("domain.yml");
        yaml.push_str(
            "\nactions:\n  - action_hello_world\n\nslots:\n  greeted:\n    type: bool\n    influence_conversation: false\n    mappings:\n      - type: custom\n",
        );
        let domain = domain_from_yaml(&yaml);
        assert_eq!(domain.to_rasa_json(), sample["request_body"]["domain"]);
    }

    #[test]
    fn every_section_is_written_in_rasas_shape() {
        let domain = domain_from_yaml(
            r#"version: "3.1"
intents:
  - inform:
      use_entities: [city]
  - greet:
      ignore_entities: [name]
  - bye
entities:
  - city:
      roles: [from, to]
      groups: [a]
  - name
slots:
  city:
    type: text
    mappings:
      - type: from_entity
        entity: city
        role: from
        conditions:
          - active_loop: trip_form
            requested_slot: city
  size:
    type: categorical
    values: [small, large]
    influence_conversation: false
    initial_value: small
    mappings:
      - type: from_intent
        intent: [inform, greet]
        value: large
  share:
    type: float
    min_value: 0
    max_value: 5.5
    mappings:
      - type: custom
        action: action_share
responses:
  utter_ask_city:
    - text: "Where to, {name}?"
      buttons:
        - title: Oslo
          payload: /inform{"city":"Oslo"}
    - text: Which city?
      channel: slack
    - custom: {kind: map}
      condition:
        - type: slot
          name: size
          value: small
    - text: here
      attachment: {type: file}
actions:
  - action_share
forms:
  trip_form:
    required_slots: [city]
    ignored_intents: [bye]
session_config:
  session_expiration_time: 0.5
  carry_over_slots_to_new_session: false
config:
  store_entities_as_slots: false
"#,
        );
        let expected = json!({
            "version": "3.1",
            "intents": ["bye", {"greet": {"ignore_entities": ["name"]}}, {"inform": {"use_entities": ["city"]}}],
            "entities": [{"city": {"roles": ["from", "to"], "groups": ["a"]}}, "name"],
            "slots": {
                "city": {"type": "text", "influence_conversation": true, "mappings": [
                    {"type": "from_entity", "entity": "city", "role": "from",
                     "conditions": [{"active_loop": "trip_form", "requested_slot": "city"}]}]},
                "size": {"type": "categorical", "influence_conversation": false, "initial_value": "small",
                         "values": ["small", "large"],
                         "mappings": [{"type": "from_intent", "intent": ["inform", "greet"], "value": "large"}]},
                "share": {"type": "float", "influence_conversation": true, "min_value": 0, "max_value": 5.5,
                          "mappings": [{"type": "custom", "action": "action_share"}]}
            },
            "responses": {"utter_ask_city": [
                {"text": "Where to, {name}?", "buttons": [{"title": "Oslo", "payload": "/inform{\"city\":\"Oslo\"}"}]},
                {"text": "Which city?", "channel": "slack"},
                {"custom": {"kind": "map"}, "condition": [{"type": "slot", "name": "size", "value": "small"}]},
                {"text": "here", "attachment": {"type": "file"}}
            ]},
            "actions": ["action_share"],
            "forms": {"trip_form": {"required_slots": ["city"], "ignored_intents": ["bye"]}},
            "session_config": {"session_expiration_time": 0.5, "carry_over_slots_to_new_session": false},
            "config": {"store_entities_as_slots": false}
        });
        assert_eq!(domain.to_rasa_json(), expected);
    }
}
