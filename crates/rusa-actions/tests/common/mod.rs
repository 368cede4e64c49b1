//! Helpers shared by the integration tests: a moodbot-like project on disk and trackers.

#![allow(dead_code)]

pub mod action_server;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use rusa_actions::HttpActionExecutor;
use rusa_core::policies::{PolicyEnsemble, default_policies};
use rusa_core::processor::{DialogueModel, Nlu};
use rusa_core::{ActionExecuted, DialogueStateTracker, Event, EventKind, SlotSpec, UserUttered};
use rusa_project::Domain;
use rusa_project::{Project, ProjectPaths};
use std::collections::HashMap;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/moodbot")
}

/// The recorded request of Rasa 3.6.21 to an action server.
pub fn rasa_call_sample() -> Value {
    let path = fixtures().join("samples/action_server_real_call_from_rasa_3.6.21.json");
    let text = std::fs::read_to_string(&path).expect("the recorded action server call");
    serde_json::from_str(&text).expect("JSON")
}

/// Writes `yaml` as a domain file and loads it.
pub fn load_domain_yaml(yaml: &str) -> Domain {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("domain.yml");
    std::fs::write(&path, yaml).expect("write domain");
    rusa_project::load_domain(&path, &mut Vec::new())
        .expect("the domain loads")
        .0
}

/// The moodbot domain of the recorded call: moodbot plus the slot `greeted` and the custom
/// action `action_hello_world`.
pub fn recorded_call_domain() -> Domain {
    let mut yaml = std::fs::read_to_string(fixtures().join("domain.yml")).expect("domain.yml");
    yaml.push_str(
        "\nactions:\n  - action_hello_world\n\nslots:\n  greeted:\n    type: bool\n    influence_conversation: false\n    mappings:\n      - type: custom\n",
    );
    load_domain_yaml(&yaml)
}

/// An executor for `url`, with the extra endpoint keys in `extra_yaml` (indented by 2).
pub fn executor(url: &str, extra_yaml: &str, timeout: Duration) -> HttpActionExecutor {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("endpoints.yml");
    std::fs::write(
        &path,
        format!("action_endpoint:\n  url: \"{url}\"\n{extra_yaml}"),
    )
    .expect("write endpoints");
    let endpoints = rusa_project::load_endpoints(&path, &mut Vec::new())
        .expect("endpoints load")
        .expect("endpoints present");
    let endpoint = endpoints.action_endpoint.expect("action_endpoint");
    HttpActionExecutor::new(&endpoint, timeout).expect("executor")
}

fn action(name: &str, t: f64) -> Event {
    Event::new(
        EventKind::Action(ActionExecuted {
            name: Some(name.into()),
            policy: None,
            confidence: None,
            action_text: None,
            hide_rule_turn: false,
        }),
        t,
    )
}

/// A user message with intent `intent` (and entities).
pub fn user(text: &str, intent: &str, entities: Value, t: f64) -> Event {
    Event::new(
        EventKind::User(UserUttered {
            text: Some(text.into()),
            parse_data: json!({
                "intent": {"name": intent, "confidence": 0.99},
                "entities": entities,
                "text": text,
                "message_id": "m1",
                "metadata": {},
                "intent_ranking": [{"name": intent, "confidence": 0.99}],
            })
            .into(),
            input_channel: Some("rest".into()),
            message_id: Some("m1".into()),
        }),
        t,
    )
}

/// A new conversation in which the user just said `text`.
pub fn tracker_after(
    domain: &Domain,
    sender: &str,
    text: &str,
    intent: &str,
) -> DialogueStateTracker {
    let specs: Arc<[SlotSpec]> = SlotSpec::from_domain(domain).into();
    let mut tracker = DialogueStateTracker::new(sender, specs);
    // Stamped as the message processor stamps events.
    let stamp = |mut e: Event| {
        e.metadata.insert("model_id".into(), json!("test-model"));
        e
    };
    tracker.update(stamp(action("action_session_start", 1.0)));
    tracker.update(stamp(Event::new(EventKind::SessionStarted, 1.0)));
    tracker.update(stamp(action("action_listen", 1.0)));
    tracker.update(stamp(user(text, intent, json!([]), 2.0)));
    tracker
}

/// The trip assistant of the tests: a custom action `action_remember_mood` run by rules,
/// and `trip_form` asking for `city`, validated by `validate_trip_form`.
pub const TRIP_DOMAIN_YML: &str = r#"version: "3.1"
intents:
  - mood_great
  - mood_unhappy
  - book_trip
  - inform_city
entities:
  - city
slots:
  mood:
    type: text
    influence_conversation: false
    mappings:
      - type: custom
  city:
    type: text
    influence_conversation: false
    mappings:
      - type: from_entity
        entity: city
        conditions:
          - active_loop: trip_form
            requested_slot: city
forms:
  trip_form:
    required_slots:
      - city
responses:
  utter_remember:
    - text: "I'll remember that you feel {mood_word}."
  utter_ask_city:
    - text: "Which city?"
  utter_booked:
    - text: "Booked a trip to {city}."
actions:
  - action_remember_mood
  - validate_trip_form
session_config:
  session_expiration_time: 60
  carry_over_slots_to_new_session: true
"#;

pub const TRIP_RULES_YML: &str = r#"version: "3.1"
rules:
- rule: remember a great mood
  steps:
  - intent: mood_great
  - action: action_remember_mood
- rule: remember an unhappy mood
  steps:
  - intent: mood_unhappy
  - action: action_remember_mood
- rule: start the trip form
  steps:
  - intent: book_trip
  - action: trip_form
  - active_loop: trip_form
- rule: book once the form is done
  condition:
  - active_loop: trip_form
  steps:
  - action: trip_form
  - active_loop: null
  - action: utter_booked
"#;

pub const TRIP_CONFIG_YML: &str =
    "recipe: default.v1\nlanguage: en\nassistant_id: rasa_sdk_test\npipeline:\npolicies:\n";

/// The trip assistant, trained (rules and memoization).
pub fn trip_model() -> (tempfile::TempDir, DialogueModel) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("data")).expect("data dir");
    std::fs::write(dir.path().join("config.yml"), TRIP_CONFIG_YML).expect("config");
    std::fs::write(dir.path().join("domain.yml"), TRIP_DOMAIN_YML).expect("domain");
    std::fs::write(dir.path().join("data/rules.yml"), TRIP_RULES_YML).expect("rules");
    let project = Project::load(&ProjectPaths::in_dir(dir.path())).expect("project loads");
    let policies = PolicyEnsemble::train(&project, &default_policies()).expect("policies train");
    let model = DialogueModel::new(
        Arc::new(project.domain.clone()),
        policies,
        "test-model".into(),
        None,
    );
    (dir, model)
}

/// An NLU that knows the intent of each text of the conversation.
pub struct TableNlu(pub HashMap<&'static str, (&'static str, Value)>);

impl Nlu for TableNlu {
    fn parse(&self, text: &str) -> Value {
        let (intent, entities) = self
            .0
            .get(text)
            .cloned()
            .unwrap_or(("nlu_fallback", json!([])));
        json!({"intent": {"name": intent, "confidence": 1.0}, "entities": entities,
               "intent_ranking": [{"name": intent, "confidence": 1.0}]})
    }
}
