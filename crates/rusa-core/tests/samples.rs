//! The trackers Rasa 3.6 answered for the moodbot fixture: rusa reads their events, writes
//! them back byte-for-byte equivalent, and computes the same state from them.

use std::path::Path;
use std::sync::Arc;

use rusa_core::{DialogueStateTracker, Event, EventVerbosity, SlotSpec};
use serde_json::Value;

fn sample(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/moodbot/samples")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("sample is readable"))
        .expect("sample is JSON")
}

fn specs_of(state: &Value) -> Arc<[SlotSpec]> {
    let slots = state["slots"].as_object().expect("slots");
    // Initial values are null for every slot of these samples.
    Arc::from(
        slots
            .keys()
            .map(|k| SlotSpec {
                name: k.clone(),
                initial_value: Value::Null,
            })
            .collect::<Vec<_>>(),
    )
}

fn check(name: &str) {
    let state = sample(name);
    let raw_events = state["events"].as_array().expect("events").clone();
    let events: Vec<Event> = raw_events
        .iter()
        .map(|e| {
            serde_json::from_value(e.clone()).unwrap_or_else(|err| panic!("{name}: {err}: {e}"))
        })
        .collect();
    for (event, raw) in events.iter().zip(&raw_events) {
        assert_eq!(
            &serde_json::to_value(event).unwrap(),
            raw,
            "{name}: event does not round-trip"
        );
    }
    let sender = state["sender_id"].as_str().unwrap();
    let tracker = DialogueStateTracker::from_events(sender, specs_of(&state), events);
    let ours = tracker.current_state(EventVerbosity::All);
    for key in [
        "sender_id",
        "slots",
        "latest_message",
        "latest_event_time",
        "followup_action",
        "paused",
        "latest_input_channel",
        "active_loop",
        "latest_action",
        "latest_action_name",
        "events",
    ] {
        assert_eq!(ours[key], state[key], "{name}: '{key}' differs");
    }
}

#[test]
fn demo_sad_path_tracker() {
    check("tracker_demo_sad_path.json");
}

#[test]
fn tracker_after_a_custom_action() {
    check("tracker_act1_after_custom_action.json");
}

#[test]
fn tracker_after_hello() {
    check("tracker_u1_after_hello.json");
}

#[test]
fn the_tracker_sent_to_the_action_server() {
    let call = sample("action_server_real_call_from_rasa_3.6.21.json");
    let tracker = &call["request_body"]["tracker"];
    let events: Vec<Event> =
        serde_json::from_value(tracker["events"].clone()).expect("events parse");
    let rebuilt = DialogueStateTracker::from_events(
        tracker["sender_id"].as_str().unwrap(),
        specs_of(tracker),
        events,
    );
    let ours = rebuilt.current_state(EventVerbosity::All);
    for key in [
        "slots",
        "latest_message",
        "latest_action_name",
        "active_loop",
        "events",
    ] {
        assert_eq!(ours[key], tracker[key], "'{key}' differs");
    }
}
