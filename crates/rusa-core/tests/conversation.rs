//! Whole turns through the processor: Rasa's recorded REST conversation with moodbot gets
//! the same replies, and forms ask, reject and finish as Rasa's do.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusa_core::actions::NoActionServer;
use rusa_core::policies::{PolicyEnsemble, default_policies};
use rusa_core::processor::{DialogueModel, Nlu, TurnEnv, UserMessage};
use rusa_core::{DialogueStateTracker, EventKind, EventVerbosity, block_on};
use rusa_project::{Project, ProjectPaths, StepKind};
use serde_json::{Value, json};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(rel)
}

/// An NLU that knows the intent of each text of a conversation (the test is about
/// dialogue, not about classification).
struct TableNlu(HashMap<String, (String, Value)>);

impl Nlu for TableNlu {
    fn parse(&self, text: &str) -> Value {
        let (intent, entities) = self
            .0
            .get(text)
            .cloned()
            .unwrap_or_else(|| ("nlu_fallback".into(), json!([])));
        json!({"intent": {"name": intent, "confidence": 1.0}, "entities": entities, "intent_ranking": [{"name": intent, "confidence": 1.0}]})
    }
}

fn model(project: &Project) -> DialogueModel {
    let policies = PolicyEnsemble::train(project, &default_policies()).unwrap();
    DialogueModel::new(
        Arc::new(project.domain.clone()),
        policies,
        "test-model".into(),
        Some("test".into()),
    )
}

fn say(
    model: &DialogueModel,
    tracker: &mut DialogueStateTracker,
    nlu: &dyn Nlu,
    text: &str,
    clock: &mut f64,
) -> Vec<Value> {
    *clock += 1.0;
    let t = *clock;
    let now = move || t;
    let mut first = |_: usize| 0;
    let mut env = TurnEnv::new(&now, &mut first);
    let message = UserMessage {
        text: text.into(),
        input_channel: Some("rest".into()),
        ..UserMessage::default()
    };
    let out = block_on(model.handle_message(tracker, nlu, &NoActionServer, &message, &mut env));
    out.messages
        .iter()
        .flat_map(|m| m.rest_payloads(&tracker.sender_id))
        .collect()
}

#[test]
fn moodbot_replies_as_rasa_did_over_rest() {
    let project = Project::load(&ProjectPaths::in_dir(&fixture("moodbot"))).unwrap();
    let model = model(&project);
    // The intents Rasa understood for each text of the recorded conversation.
    let demo = rusa_project::load_test_stories(
        &fixture("moodbot/samples/story_demo.yml"),
        &mut Vec::new(),
    )
    .unwrap();
    let mut table = HashMap::new();
    for step in &demo[0].steps {
        if let StepKind::User {
            intent: Some(i),
            text: Some(t),
            ..
        } = &step.kind
        {
            table.insert(t.clone(), (i.clone(), json!([])));
        }
    }
    let nlu = TableNlu(table);
    let recorded = std::fs::read_to_string(fixture(
        "moodbot/samples/rest_conversation_demo_sad_path.jsonl",
    ))
    .unwrap();
    let mut tracker = model.new_tracker("demo");
    let mut clock = 1_000.0;
    for line in recorded.lines().filter(|l| !l.trim().is_empty()) {
        let exchange: Value = serde_json::from_str(line).unwrap();
        let text = exchange["request"]["message"].as_str().unwrap();
        let replies = say(&model, &mut tracker, &nlu, text, &mut clock);
        assert_eq!(
            Value::Array(replies),
            exchange["response"],
            "reply to '{text}'"
        );
    }
    // The tracker has Rasa's shape: session start first, listening last.
    let state = tracker.current_state(EventVerbosity::All);
    let events = state["events"].as_array().unwrap();
    assert_eq!(events[0]["name"], "action_session_start");
    assert_eq!(events[1]["event"], "session_started");
    assert_eq!(events[2]["name"], "action_listen");
    assert_eq!(state["latest_action_name"], "action_listen");
    assert_eq!(events[3]["metadata"]["model_id"], "test-model");
}

#[test]
fn a_session_expires_after_its_time() {
    let project = Project::load(&ProjectPaths::in_dir(&fixture("moodbot"))).unwrap();
    let model = model(&project);
    let nlu = TableNlu(HashMap::from([(
        "hi".to_owned(),
        ("greet".to_owned(), json!([])),
    )]));
    let mut tracker = model.new_tracker("s");
    let mut clock = 0.0;
    say(&model, &mut tracker, &nlu, "hi", &mut clock);
    clock += 61.0 * 60.0; // moodbot's sessions expire after 60 minutes
    say(&model, &mut tracker, &nlu, "hi", &mut clock);
    let starts = tracker
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::SessionStarted))
        .count();
    assert_eq!(starts, 2);
}

/// A message's metadata, as Rasa 3.6 keeps it: in `session_started_metadata` when the
/// message starts a session (set before `action_session_start` and again in the new
/// session), in the user event's `metadata` beside the model's ids, and in its parse data.
#[test]
fn message_metadata_goes_where_rasa_puts_it() {
    let project = Project::load(&ProjectPaths::in_dir(&fixture("moodbot"))).unwrap();
    let model = model(&project);
    let nlu = TableNlu(HashMap::from([(
        "hi".to_owned(),
        ("greet".to_owned(), json!([])),
    )]));
    let mut tracker = model.new_tracker("m");
    let metadata = json!({"channel_user": "u-1", "locale": "de"});
    let now = || 10.0;
    let mut first = |_: usize| 0;
    let mut env = TurnEnv::new(&now, &mut first);
    let message = UserMessage {
        text: "hi".into(),
        input_channel: Some("rest".into()),
        metadata: metadata.as_object().unwrap().clone(),
        ..UserMessage::default()
    };
    block_on(model.handle_message(&mut tracker, &nlu, &NoActionServer, &message, &mut env));
    let state = tracker.current_state(EventVerbosity::All);
    let events = state["events"].as_array().unwrap();
    let kinds: Vec<String> = events
        .iter()
        .take(6)
        .map(|e| match e["event"].as_str().unwrap() {
            "action" => e["name"].as_str().unwrap().to_owned(),
            "slot" => format!("slot {}", e["name"].as_str().unwrap()),
            other => other.to_owned(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "slot session_started_metadata",
            "action_session_start",
            "session_started",
            "slot session_started_metadata",
            "action_listen",
            "user"
        ]
    );
    assert_eq!(events[0]["value"], metadata);
    assert_eq!(events[3]["value"], metadata);
    assert_eq!(state["slots"]["session_started_metadata"], metadata);
    let user = &events[5];
    assert_eq!(user["metadata"]["channel_user"], "u-1");
    assert_eq!(user["metadata"]["locale"], "de");
    assert_eq!(user["metadata"]["model_id"], "test-model");
    assert_eq!(user["parse_data"]["metadata"], metadata);

    // Without metadata nothing is set, and the next message's metadata does not start a
    // session (it only goes into its own event).
    let mut plain = model.new_tracker("p");
    let mut clock = 0.0;
    say(&model, &mut plain, &nlu, "hi", &mut clock);
    let first_events = plain.current_state(EventVerbosity::All)["events"].clone();
    assert_eq!(first_events[0]["name"], "action_session_start");
    assert!(
        plain
            .slot("session_started_metadata")
            .is_none_or(Value::is_null)
    );
    let message = UserMessage {
        text: "hi".into(),
        input_channel: Some("rest".into()),
        metadata: metadata.as_object().unwrap().clone(),
        ..UserMessage::default()
    };
    let now = || 20.0;
    let mut env = TurnEnv::new(&now, &mut first);
    block_on(model.handle_message(&mut plain, &nlu, &NoActionServer, &message, &mut env));
    assert!(
        plain
            .slot("session_started_metadata")
            .is_none_or(Value::is_null)
    );
    let state = plain.current_state(EventVerbosity::All);
    let last_user = state["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["event"] == "user")
        .unwrap();
    assert_eq!(last_user["metadata"]["locale"], "de");
}

#[test]
fn the_weatherbot_form_asks_rejects_and_finishes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/weatherbot");
    let project = Project::load(&ProjectPaths::in_dir(&root)).unwrap();
    let model = model(&project);
    let nlu = TableNlu(HashMap::from([
        (
            "what's the weather".to_owned(),
            ("ask_weather".to_owned(), json!([])),
        ),
        (
            "are you a bot?".to_owned(),
            ("bot_challenge".to_owned(), json!([])),
        ),
        (
            "in Quito".to_owned(),
            (
                "inform_city".to_owned(),
                json!([{"entity": "city", "value": "Quito", "start": 3, "end": 8}]),
            ),
        ),
    ]));
    let mut tracker = model.new_tracker("w");
    let mut clock = 0.0;
    let asked = say(&model, &mut tracker, &nlu, "what's the weather", &mut clock);
    assert_eq!(
        asked,
        vec![json!({"recipient_id": "w", "text": "For which city would you like the forecast?"})]
    );
    assert_eq!(tracker.active_loop_name(), Some("weather_form"));
    assert_eq!(tracker.slot("requested_slot"), Some(&json!("city")));
    // An interruption: the form rejects the message (it fills no slot of the form), the
    // unhappy-path rule answers, and the form asks again.
    let interrupted = say(&model, &mut tracker, &nlu, "are you a bot?", &mut clock);
    assert_eq!(
        interrupted,
        vec![
            json!({"recipient_id": "w", "text": "I am a bot, built with rusa."}),
            json!({"recipient_id": "w", "text": "For which city would you like the forecast?"}),
        ]
    );
    let rejected = tracker.events().iter().any(|e| matches!(&e.kind, EventKind::ActionExecutionRejected { name, .. } if name == "weather_form"));
    assert!(rejected, "the form rejected the interruption");
    // The answer fills the slot, the form ends, and the rule gives the forecast.
    let forecast = say(&model, &mut tracker, &nlu, "in Quito", &mut clock);
    assert_eq!(
        forecast,
        vec![
            json!({"recipient_id": "w", "text": "Here is the forecast for Quito: mild, with a chance of sun."})
        ]
    );
    assert_eq!(tracker.active_loop_name(), None);
}

/// An action server in the test: `validate_weather_form` refuses cities it does not know by
/// clearing the slot, as a rasa-sdk FormValidationAction does.
struct Validator;

impl rusa_core::actions::CustomActionExecutor for Validator {
    fn run<'a>(
        &'a self,
        action: &'a str,
        tracker: &'a DialogueStateTracker,
        _domain: &'a rusa_project::Domain,
    ) -> rusa_core::actions::BoxFuture<
        'a,
        Result<rusa_core::actions::ActionOutcome, rusa_core::actions::ActionError>,
    > {
        Box::pin(async move {
            assert_eq!(action, "validate_weather_form");
            let city = tracker
                .slot("city")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let mut outcome = rusa_core::actions::ActionOutcome::default();
            if city == "Atlantis" {
                outcome.events.push(rusa_core::Event::new(
                    EventKind::Slot {
                        name: "city".into(),
                        value: Value::Null,
                    },
                    0.0,
                ));
            }
            Ok(outcome)
        })
    }
}

#[test]
fn the_form_is_validated_by_the_action_server() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/weatherbot");
    let mut project = Project::load(&ProjectPaths::in_dir(&root)).unwrap();
    project.domain.actions.push(rusa_project::ActionName {
        name: "validate_weather_form".into(),
        send_domain: false,
        pos: project.domain.intents[0].pos.clone(),
    });
    let model = model(&project);
    let nlu = TableNlu(HashMap::from([
        ("weather".to_owned(), ("ask_weather".to_owned(), json!([]))),
        (
            "Atlantis".to_owned(),
            (
                "inform_city".to_owned(),
                json!([{"entity": "city", "value": "Atlantis"}]),
            ),
        ),
        (
            "Oslo".to_owned(),
            (
                "inform_city".to_owned(),
                json!([{"entity": "city", "value": "Oslo"}]),
            ),
        ),
    ]));
    let mut tracker = model.new_tracker("v");
    let mut clock = 0.0;
    let mut turn = |text: &str, tracker: &mut DialogueStateTracker| -> Vec<Value> {
        clock += 1.0;
        let t = clock;
        let now = move || t;
        let mut first = |_: usize| 0;
        let mut env = TurnEnv::new(&now, &mut first);
        let message = UserMessage {
            text: text.into(),
            ..UserMessage::default()
        };
        let out = block_on(model.handle_message(tracker, &nlu, &Validator, &message, &mut env));
        out.messages
            .iter()
            .flat_map(|m| m.rest_payloads("v"))
            .collect()
    };
    let ask = json!({"recipient_id": "v", "text": "For which city would you like the forecast?"});
    assert_eq!(turn("weather", &mut tracker), vec![ask.clone()]);
    // The validator clears the unknown city: the form asks again.
    assert_eq!(turn("Atlantis", &mut tracker), vec![ask]);
    assert_eq!(tracker.slot("city"), Some(&Value::Null));
    let done = turn("Oslo", &mut tracker);
    assert_eq!(
        done[0]["text"],
        "Here is the forecast for Oslo: mild, with a chance of sun."
    );
}

#[test]
fn restart_starts_a_new_session_and_waits() {
    let project = Project::load(&ProjectPaths::in_dir(&fixture("moodbot"))).unwrap();
    let model = model(&project);
    let nlu = TableNlu(HashMap::from([(
        "hello".to_owned(),
        ("greet".to_owned(), json!([])),
    )]));
    let mut tracker = model.new_tracker("r");
    let mut clock = 0.0;
    assert_eq!(
        say(&model, &mut tracker, &nlu, "hello", &mut clock).len(),
        1
    );
    // `/restart` restarts and opens a new session; the assistant says nothing and listens.
    assert_eq!(
        say(&model, &mut tracker, &nlu, "/restart", &mut clock),
        Vec::<Value>::new()
    );
    assert_eq!(tracker.latest_action_name(), Some("action_listen"));
    assert!(matches!(
        tracker.events().last().map(|e| &e.kind),
        Some(EventKind::Action(_))
    ));
    assert_eq!(
        say(&model, &mut tracker, &nlu, "hello", &mut clock),
        vec![json!({"recipient_id": "r", "text": "Hey! How are you?"})]
    );
}
