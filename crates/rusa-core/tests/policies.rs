//! Policies trained on the fixture projects predict what Rasa 3.6 did.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusa_core::policies::{PolicyEnsemble, PolicySpec, default_policies, policy_specs};
use rusa_core::{ActionExecuted, DialogueStateTracker, Event, EventKind, SlotSpec, UserUttered};
use rusa_project::{Project, ProjectPaths, StepKind};
use serde_json::json;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(rel)
}

fn action(name: &str, policy: &str, confidence: f64) -> Event {
    Event::new(
        EventKind::Action(ActionExecuted {
            name: Some(name.into()),
            policy: Some(policy.into()),
            confidence: Some(confidence),
            action_text: None,
            hide_rule_turn: false,
        }),
        0.0,
    )
}

fn user(intent: &str) -> Event {
    Event::new(
        EventKind::User(UserUttered {
            text: Some(intent.into()),
            parse_data: json!({"intent": {"name": intent, "confidence": 1.0}, "entities": []})
                .into(),
            input_channel: None,
            message_id: None,
        }),
        0.0,
    )
}

/// Plays a conversation of intents; returns the actions the assistant chose after each one.
fn play(project: &Project, ensemble: &PolicyEnsemble, intents: &[&str]) -> Vec<Vec<String>> {
    let specs: Arc<[SlotSpec]> = Arc::from(SlotSpec::from_domain(&project.domain));
    let mut tracker = DialogueStateTracker::new("test", specs);
    tracker.update(action("action_session_start", "none", 1.0));
    tracker.update(Event::new(EventKind::SessionStarted, 0.0));
    tracker.update(action("action_listen", "none", 1.0));
    let mut answers = Vec::new();
    for intent in intents {
        tracker.update(user(intent));
        let mut actions = Vec::new();
        for _ in 0..10 {
            let prediction = ensemble.predict(&project.domain, &tracker);
            tracker.update(action(
                &prediction.action,
                &prediction.policy,
                prediction.confidence,
            ));
            if prediction.action == "action_listen" {
                break;
            }
            actions.push(prediction.action);
        }
        answers.push(actions);
    }
    answers
}

#[test]
fn moodbot_answers_the_demo_conversation_as_rasa_did() {
    let project = Project::load(&ProjectPaths::in_dir(&fixture("moodbot"))).unwrap();
    let ensemble = PolicyEnsemble::train(&project, &default_policies()).unwrap();
    // samples/story_demo.yml: the conversation Rasa 3.6 had with this project.
    let demo = rusa_project::load_test_stories(
        &fixture("moodbot/samples/story_demo.yml"),
        &mut Vec::new(),
    )
    .unwrap();
    let mut intents = Vec::new();
    let mut expected: Vec<Vec<String>> = Vec::new();
    for step in &demo[0].steps {
        match &step.kind {
            StepKind::User {
                intent: Some(i), ..
            } => {
                intents.push(i.as_str());
                expected.push(Vec::new());
            }
            StepKind::Action(a) => expected.last_mut().unwrap().push(a.clone()),
            _ => {}
        }
    }
    let answers = play(&project, &ensemble, &intents);
    assert_eq!(answers, expected);
}

#[test]
fn rules_and_fallback() {
    let project = Project::load(&ProjectPaths::in_dir(&fixture("moodbot"))).unwrap();
    let ensemble = PolicyEnsemble::train(&project, &default_policies()).unwrap();
    // A rule answers anywhere in the conversation.
    assert_eq!(
        play(&project, &ensemble, &["mood_great", "bot_challenge"])[1],
        ["utter_iamabot"]
    );
    // The built-in restart rule.
    assert_eq!(
        play(&project, &ensemble, &["restart"])[0],
        ["action_restart"]
    );
}

#[test]
fn memoization_alone_knows_only_its_stories() {
    let project = Project::load(&ProjectPaths::in_dir(&fixture("moodbot"))).unwrap();
    let memo = PolicyEnsemble::train(
        &project,
        &[PolicySpec::Memoization {
            max_history: 5,
            augmented: false,
        }],
    )
    .unwrap();
    assert_eq!(play(&project, &memo, &["greet"])[0], ["utter_greet"]);
    // Not in any story from the start of a conversation: no prediction, so it listens.
    assert_eq!(play(&project, &memo, &["affirm"])[0], Vec::<String>::new());
}

#[test]
fn rasa_policies_are_substituted_with_a_note() {
    let project = Project::load(&ProjectPaths::in_dir(&fixture("helpdesk-assistant"))).unwrap();
    let (specs, substitutions) = policy_specs(project.config.policies.as_deref(), false).unwrap();
    assert_eq!(specs.len(), 3);
    assert_eq!(substitutions.len(), 1);
    assert_eq!(substitutions[0].rasa, "TEDPolicy");
    assert!(policy_specs(project.config.policies.as_deref(), true).is_err());
    let ensemble = PolicyEnsemble::train(&project, &specs);
    assert!(ensemble.is_ok(), "{:?}", ensemble.err());
}

#[test]
fn the_ensemble_survives_serialization() {
    let project = Project::load(&ProjectPaths::in_dir(&fixture("moodbot"))).unwrap();
    let ensemble = PolicyEnsemble::train(&project, &default_policies()).unwrap();
    let json = serde_json::to_string(&ensemble).unwrap();
    let mut restored: PolicyEnsemble = serde_json::from_str(&json).unwrap();
    restored.prepare();
    assert_eq!(
        play(&project, &restored, &["greet", "mood_unhappy"]),
        play(&project, &ensemble, &["greet", "mood_unhappy"])
    );
}

/// The policies see only the latest states of a long conversation; those must be exactly
/// the latest states of the whole walk, whatever the window. Each window has a tracker of
/// its own, so that its walk goes on from where the previous turn left it; rewinds, undos
/// and restarts make it start over.
#[test]
fn the_latest_states_of_a_long_conversation_are_those_of_the_whole() {
    use rusa_core::policies::{tracker_states, tracker_states_tail};
    let project = Project::load(&ProjectPaths::in_dir(&fixture("moodbot"))).unwrap();
    let ensemble = PolicyEnsemble::train(&project, &default_policies()).unwrap();
    let specs: Arc<[SlotSpec]> = Arc::from(SlotSpec::from_domain(&project.domain));
    let keeps = [1, 2, 5, 10_000];
    let mut trackers: Vec<DialogueStateTracker> = keeps
        .iter()
        .map(|_| DialogueStateTracker::new("long", specs.clone()))
        .collect();
    let mut update = |trackers: &mut Vec<DialogueStateTracker>, event: Event| {
        for t in trackers.iter_mut() {
            t.update(event.clone());
        }
    };
    let start = |trackers: &mut Vec<DialogueStateTracker>,
                 update: &mut dyn FnMut(&mut Vec<DialogueStateTracker>, Event)| {
        update(trackers, action("action_session_start", "none", 1.0));
        update(trackers, Event::new(EventKind::SessionStarted, 0.0));
        update(trackers, action("action_listen", "none", 1.0));
    };
    start(&mut trackers, &mut update);
    let intents = [
        "greet",
        "mood_unhappy",
        "deny",
        "greet",
        "mood_great",
        "goodbye",
    ];
    for turn in 0..100 {
        update(&mut trackers, user(intents[turn % intents.len()]));
        for _ in 0..10 {
            let prediction = ensemble.predict(&project.domain, &trackers[0]);
            update(&mut trackers, action(&prediction.action, "x", 1.0));
            if prediction.action == "action_listen" {
                break;
            }
        }
        match turn % 17 {
            5 => update(
                &mut trackers,
                Event::new(EventKind::UserUtteranceReverted, 0.0),
            ),
            9 => update(&mut trackers, Event::new(EventKind::ActionReverted, 0.0)),
            13 if turn == 47 => {
                update(&mut trackers, Event::new(EventKind::Restart, 0.0));
                start(&mut trackers, &mut update);
            }
            _ => {}
        }
        for (keep, tracker) in keeps.iter().zip(&trackers) {
            let all = tracker_states(&project.domain, tracker);
            let (tail, total) = tracker_states_tail(&project.domain, tracker, *keep);
            assert_eq!(total, all.len(), "turn {turn}, keep {keep}");
            assert_eq!(
                tail,
                all[all.len() - (*keep).min(all.len())..],
                "turn {turn}, keep {keep}"
            );
            // A copy of the tracker goes on from the same point.
            let copy = tracker.clone();
            assert_eq!(tracker_states_tail(&project.domain, &copy, *keep).0, tail);
        }
    }
    assert!(trackers[0].events().len() > 250);

    // Read back from JSON, as from a store, a conversation's first prediction parses only
    // the user messages in the policies' window.
    let text = serde_json::to_string(trackers[0].events()).unwrap();
    let events: Vec<Event> = serde_json::from_str(&text).unwrap();
    let users = events.iter().filter(|e| e.type_name() == "user").count();
    let reread = DialogueStateTracker::from_events("long", specs.clone(), events);
    let again = ensemble.predict(&project.domain, &reread);
    assert_eq!(again, ensemble.predict(&project.domain, &trackers[0]));
    let parsed = reread
        .events()
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::User(u) if u.parse_data.is_parsed()))
        .count();
    assert!(
        parsed <= 6 && users > 90,
        "{parsed} of {users} user messages parsed"
    );
}
