//! Helpers shared by the integration tests: a moodbot-like project on disk and trackers.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use rusa_actions::HttpActionExecutor;
use rusa_core::{ActionExecuted, DialogueStateTracker, Event, EventKind, SlotSpec, UserUttered};
use rusa_project::Domain;

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
pub fn executor(
    url: &str,
    extra_yaml: &str,
    domain: &Domain,
    timeout: Duration,
) -> HttpActionExecutor {
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
    HttpActionExecutor::new(&endpoint, domain, timeout).expect("executor")
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
            }),
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
