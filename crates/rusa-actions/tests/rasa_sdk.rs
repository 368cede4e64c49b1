//! `HttpActionExecutor` against the real Python action server (rasa-sdk 3.x) running an
//! actions module of ours: a custom action that sets a slot and utters a response by name,
//! and a `FormValidationAction` that rejects a value.
//!
//! The harness (`common/action_server.rs`) creates a virtual environment under the target
//! directory (`$CARGO_TARGET_TMPDIR/rasa-sdk-venv`) and installs `rasa-sdk==3.*` into it
//! once; later runs reuse it. If the install fails the tests print `skipped: ...` and pass,
//! unless `RUSA_TEST_SERVICES=required` (CI), where they fail.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use rusa_core::actions::CustomActionExecutor;
use rusa_core::processor::{TurnEnv, UserMessage};
use rusa_core::{DialogueStateTracker, Event, EventKind};
use rusa_project::Domain;

use common::action_server::{ActionServer, rasa_sdk_python};
use common::*;

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

fn domain() -> Domain {
    load_domain_yaml(TRIP_DOMAIN_YML)
}

fn slot(name: &str, value: Value) -> Event {
    Event::new(
        EventKind::Slot {
            name: name.into(),
            value,
        },
        3.0,
    )
}

/// A tracker in which the trip form asked for the city and the user answered `city`.
fn tracker_answering_city(domain: &Domain, city: &str) -> DialogueStateTracker {
    let mut tracker = tracker_after(domain, "trip", "book a trip", "book_trip");
    tracker.update(Event::new(
        EventKind::ActiveLoop {
            name: Some("trip_form".into()),
        },
        2.5,
    ));
    tracker.update(slot("requested_slot", json!("city")));
    tracker.update(Event::new(
        EventKind::Action(rusa_core::ActionExecuted {
            name: Some("action_listen".into()),
            policy: None,
            confidence: None,
            action_text: None,
            hide_rule_turn: false,
        }),
        2.6,
    ));
    tracker.update(user(
        city,
        "inform_city",
        json!([{"entity": "city", "value": city}]),
        2.7,
    ));
    tracker.update(slot("city", json!(city)));
    tracker
}

fn slot_events(events: &[Event]) -> Vec<(String, Value)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Slot { name, value } => Some((name.clone(), value.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rasa_sdk_runs_our_custom_action_and_form_validation() {
    let Some(python) = rasa_sdk_python() else {
        return;
    };
    let server = ActionServer::start(&python);
    let domain = domain();
    let executor = executor(&server.url(), "", CALL_TIMEOUT);

    // A custom action: a slot and a response uttered by name, filled with its variable.
    let tracker = tracker_after(&domain, "mood", "I feel great", "mood_great");
    let outcome = executor
        .run("action_remember_mood", &tracker, &domain)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log_text()));
    assert_eq!(outcome.messages.len(), 1);
    assert_eq!(
        outcome.messages[0].text.as_deref(),
        Some("I'll remember that you feel happy.")
    );
    assert_eq!(
        outcome.messages[0].utter_action.as_deref(),
        Some("utter_remember")
    );
    let kinds: Vec<&str> = outcome.events.iter().map(Event::type_name).collect();
    assert_eq!(kinds, ["bot", "slot"]);
    assert_eq!(
        slot_events(&outcome.events),
        [("mood".to_owned(), json!("happy"))]
    );

    // The form validation rejects a value by setting the slot to None...
    let tracker = tracker_answering_city(&domain, "Atlantis");
    let outcome = executor
        .run("validate_trip_form", &tracker, &domain)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log_text()));
    assert_eq!(
        slot_events(&outcome.events),
        [("city".to_owned(), Value::Null)]
    );
    assert_eq!(
        outcome.messages[0].text.as_deref(),
        Some("Atlantis is not a real city.")
    );

    // ...and accepts (and normalizes) another.
    let tracker = tracker_answering_city(&domain, "oslo");
    let outcome = executor
        .run("validate_trip_form", &tracker, &domain)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log_text()));
    assert_eq!(
        slot_events(&outcome.events),
        [("city".to_owned(), json!("Oslo"))]
    );
    assert!(outcome.messages.is_empty());

    // An action the server does not have.
    let err = executor
        .run("action_nobody_wrote", &tracker, &domain)
        .await
        .expect_err("unknown action");
    assert!(
        err.to_string().contains("not found on the action server"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_runs_a_custom_action_and_a_validated_form_on_rasa_sdk() {
    let Some(python) = rasa_sdk_python() else {
        return;
    };
    let server = ActionServer::start(&python);
    let (_dir, model) = trip_model();
    let executor = executor(&server.url(), "", CALL_TIMEOUT);
    let nlu = TableNlu(HashMap::from([
        ("I feel great", ("mood_great", json!([]))),
        ("book a trip", ("book_trip", json!([]))),
        (
            "Atlantis",
            (
                "inform_city",
                json!([{"entity": "city", "value": "Atlantis", "start": 0, "end": 8}]),
            ),
        ),
        (
            "oslo",
            (
                "inform_city",
                json!([{"entity": "city", "value": "oslo", "start": 0, "end": 4}]),
            ),
        ),
    ]));
    let mut tracker = model.new_tracker("conv");
    let mut clock = 100.0;
    let mut texts = Vec::new();
    for said in ["I feel great", "book a trip", "Atlantis", "oslo"] {
        clock += 1.0;
        let t = clock;
        let now = move || t;
        let mut first = |_: usize| 0;
        let mut env = TurnEnv::new(&now, &mut first);
        let message = UserMessage {
            text: said.into(),
            input_channel: Some("rest".into()),
            ..UserMessage::default()
        };
        let out = model
            .handle_message(&mut tracker, &nlu, &executor, &message, &mut env)
            .await;
        texts.push(
            out.messages
                .iter()
                .map(|m| m.text.clone().unwrap_or_default())
                .collect::<Vec<_>>(),
        );
    }
    let log = server.log_text();
    assert_eq!(
        texts,
        vec![
            vec!["I'll remember that you feel happy.".to_owned()],
            vec!["Which city?".to_owned()],
            vec![
                "Atlantis is not a real city.".to_owned(),
                "Which city?".to_owned()
            ],
            vec!["Booked a trip to Oslo.".to_owned()],
        ],
        "action server log:\n{log}"
    );
    assert_eq!(tracker.slot("mood"), Some(&json!("happy")));
    assert_eq!(tracker.slot("city"), Some(&json!("Oslo")));
    assert_eq!(tracker.active_loop_name(), None);
}
