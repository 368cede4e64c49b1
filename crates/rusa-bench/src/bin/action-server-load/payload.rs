//! The action call every request sends, the reply it must get, and the Python actions module
//! that answers it like the Rust example does.
//!
//! The call is what Rasa sends to run `action_forecast` in a conversation of some length
//! (`shared/spec/action-sdk.md` §4 measured rasa-sdk with the same shape): a 60-event
//! tracker (`current_state(EventVerbosity.ALL)`: user messages with their parse data and
//! intent ranking, actions with their policy, bot messages, slots) and the domain of an
//! assistant with 20 slots, 30 intents and 30 responses, about 18 KB of JSON. It is built
//! deterministically, so two runs send the same bytes.

use serde_json::{Map, Value, json};

/// The action every request runs.
const ACTION: &str = "action_forecast";
/// The `city` entity of the latest message: the city the forecast is for.
const CITY: &str = "Berlin";
/// Events in the tracker.
const EVENTS: usize = 60;
const SLOTS: usize = 20;
const INTENTS: usize = 30;
const RESPONSES: usize = 30;
/// Entries of each user message's intent ranking (DIET's `ranking_length`, set to 5).
const RANKING: usize = 5;
/// The model's name, sent as `domain_digest`.
const MODEL_ID: &str = "20261204-101500-brisk-forecast";
/// The time of the first event (2026-12-04 10:00 UTC).
const FIRST_TIMESTAMP: f64 = 1_796_378_400.0;

/// The Python twin of `examples/weatherbot/actions`' `action_forecast`: the `city` slot
/// when it holds a string, else the first `city` entity of the latest message; the same
/// steady outlook; one text message with the city as an extra key, and the slot set.
pub const ACTIONS_PY: &str = r#"
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

OUTLOOKS = [
    "sunny and warm",
    "mild, with a chance of sun",
    "cloudy, with light rain later",
    "cold and windy",
    "clear skies all day",
]


def outlook(city: Text) -> Text:
    return OUTLOOKS[sum(city.lower().encode("utf-8")) % len(OUTLOOKS)]


class ActionForecast(Action):
    def name(self) -> Text:
        return "action_forecast"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> List[Dict[Text, Any]]:
        city = tracker.get_slot("city")
        if not isinstance(city, str):
            city = next(tracker.get_latest_entity_values("city"), None)
            if not isinstance(city, str):
                city = None
        if city is None:
            dispatcher.utter_message(response="utter_ask_city")
            return []
        dispatcher.utter_message(
            text=f"Here is the forecast for {city}: {outlook(city)}.", city=city
        )
        return [SlotSet("city", city)]
"#;

/// The same outlook as the Rust and Python actions give.
fn outlook(city: &str) -> &'static str {
    const OUTLOOKS: &[&str] = &[
        "sunny and warm",
        "mild, with a chance of sun",
        "cloudy, with light rain later",
        "cold and windy",
        "clear skies all day",
    ];
    let sum: usize = city.to_lowercase().bytes().map(usize::from).sum();
    OUTLOOKS[sum % OUTLOOKS.len()]
}

/// The reply both servers must give, as rasa-sdk writes it (`events`, then `responses`;
/// nulls kept).
pub fn expected_reply() -> Value {
    json!({
        "events": [{"event": "slot", "timestamp": null, "name": "city", "value": CITY}],
        "responses": [{
            "text": format!("Here is the forecast for {CITY}: {}.", outlook(CITY)),
            "buttons": [], "elements": [], "custom": {}, "template": null, "response": null,
            "image": null, "attachment": null, "city": CITY,
        }],
    })
}

/// The `POST /webhook` body: run `action_forecast` with the tracker and the domain.
pub fn action_call() -> Value {
    json!({
        "next_action": ACTION,
        "sender_id": SENDER,
        "version": "3.6.21",
        "tracker": tracker(),
        "domain": domain(),
        "domain_digest": MODEL_ID,
    })
}

const SENDER: &str = "9f2c4e1a7b5d4c38a1e6f0b2d3c4e5f6";

fn intent_name(i: usize) -> String {
    const NAMED: &[&str] = &[
        "greet",
        "goodbye",
        "affirm",
        "deny",
        "ask_weather",
        "inform_city",
        "thank_you",
        "bot_challenge",
        "ask_forecast_tomorrow",
        "ask_temperature",
    ];
    NAMED
        .get(i)
        .map_or_else(|| format!("faq_topic_{i:02}"), |n| (*n).to_owned())
}

fn slot_name(i: usize) -> String {
    const NAMED: &[&str] = &["city", "date", "units", "country", "forecast_days"];
    NAMED
        .get(i)
        .map_or_else(|| format!("preference_{i:02}"), |n| (*n).to_owned())
}

fn response_name(i: usize) -> String {
    const NAMED: &[&str] = &[
        "utter_greet",
        "utter_goodbye",
        "utter_ask_city",
        "utter_iamabot",
        "utter_you_are_welcome",
        "utter_default",
    ];
    NAMED
        .get(i)
        .map_or_else(|| format!("utter_faq_topic_{i:02}"), |n| (*n).to_owned())
}

/// Each event's metadata. Rasa 3.6 writes `{model_id, assistant_id}` into every event's;
/// left out (but for bot messages' `utter_action`) to keep the call at the size spec §4
/// measured rasa-sdk with.
fn metadata() -> Value {
    json!({})
}

/// A 32-hex-digit id that depends only on `n`.
fn message_id(n: usize) -> String {
    let mut x = (n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut id = String::with_capacity(32);
    for _ in 0..2 {
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        id.push_str(&format!("{x:016x}"));
    }
    id
}

/// The parse data of a user message: the intent, its entities and the ranking of the
/// `RANKING` most likely intents (the pipeline has no response selector).
fn parse_data(n: usize, text: &str, intent: usize, entities: &[(&str, &str)]) -> Value {
    let confidence = 0.91 + (n % 7) as f64 / 100.0;
    let mut ranking = vec![json!({"name": intent_name(intent), "confidence": confidence})];
    let mut rest = 1.0 - confidence;
    for k in 1..RANKING {
        rest /= 2.0;
        ranking.push(json!({"name": intent_name((intent + k * 7) % INTENTS), "confidence": rest}));
    }
    let entities: Vec<Value> = entities
        .iter()
        .map(|(entity, value)| {
            let start = text.find(value).unwrap_or(0);
            json!({
                "entity": entity, "start": start, "end": start + value.len(),
                "confidence_entity": 0.997, "value": value, "extractor": "DIETClassifier",
            })
        })
        .collect();
    json!({
        "intent": {"name": intent_name(intent), "confidence": confidence},
        "entities": entities,
        "text": text,
        "message_id": message_id(n),
        "metadata": {},
        "intent_ranking": ranking,
    })
}

/// What the bot does after a user message, in the script of [`events`].
#[derive(Clone)]
enum Step {
    Action(&'static str),
    Bot(&'static str, &'static str),
    Slot(&'static str, Value),
    ActiveLoop(Option<&'static str>),
}

/// A user's message (its text, intent index and entities) and what followed it.
struct Turn(
    &'static str,
    usize,
    Vec<(&'static str, &'static str)>,
    Vec<Step>,
);

/// The conversation: a session start, then eight turns of the weather assistant (a user
/// message, `action_extract_slots` and its slots, the form asking and filling the city,
/// the forecast, small talk), then the user asking for the weather in [`CITY`]: 60 events.
fn events() -> Vec<Value> {
    use Step::{Action, ActiveLoop, Bot, Slot};
    let forecast = |city: &'static str| {
        vec![
            Action("action_forecast"),
            Bot(
                "utter_forecast",
                "Here is the forecast for the city you asked about.",
            ),
            Slot("city", json!(city)),
        ]
    };
    let turns: Vec<Turn> = vec![
        Turn(
            "hello there",
            0,
            vec![],
            vec![
                Action("utter_greet"),
                Bot("utter_greet", "Hey! How can I help?"),
            ],
        ),
        Turn(
            "what's the weather like in Paris",
            4,
            vec![("city", "Paris")],
            [
                vec![
                    Slot("city", json!("Paris")),
                    Action("weather_form"),
                    ActiveLoop(Some("weather_form")),
                    Slot("city", json!("Paris")),
                    ActiveLoop(None),
                ],
                forecast("Paris"),
            ]
            .concat(),
        ),
        Turn(
            "and tomorrow?",
            8,
            vec![("date", "tomorrow")],
            [vec![Slot("date", json!("tomorrow"))], forecast("Paris")].concat(),
        ),
        Turn(
            "thanks!",
            6,
            vec![],
            vec![
                Action("utter_you_are_welcome"),
                Bot("utter_you_are_welcome", "You're welcome!"),
            ],
        ),
        Turn(
            "what's the weather",
            4,
            vec![],
            vec![
                Action("weather_form"),
                ActiveLoop(Some("weather_form")),
                Slot("requested_slot", json!("city")),
                Bot("utter_ask_city", "Which city?"),
            ],
        ),
        Turn(
            "Madrid",
            5,
            vec![("city", "Madrid")],
            [
                vec![
                    Slot("city", json!("Madrid")),
                    Action("weather_form"),
                    Slot("city", json!("Madrid")),
                    Slot("requested_slot", Value::Null),
                    ActiveLoop(None),
                ],
                forecast("Madrid"),
            ]
            .concat(),
        ),
        Turn(
            "are you a bot?",
            7,
            vec![],
            vec![
                Action("utter_iamabot"),
                Bot("utter_iamabot", "I am a bot, powered by rusa."),
            ],
        ),
        Turn(
            "bye",
            1,
            vec![],
            vec![Action("utter_goodbye"), Bot("utter_goodbye", "Bye!")],
        ),
    ];
    let mut events = Vec::with_capacity(EVENTS);
    let mut clock = FIRST_TIMESTAMP;
    let mut stamp = |step: f64| {
        clock += step;
        (clock * 1e6).round() / 1e6
    };
    let action = |name: &str, policy: Option<&str>, confidence: f64, timestamp: f64| {
        json!({
            "event": "action", "timestamp": timestamp, "metadata": metadata(), "name": name,
            "policy": policy, "confidence": confidence, "action_text": null,
            "hide_rule_turn": false,
        })
    };
    events.push(action("action_session_start", None, 1.0, stamp(0.0)));
    events.push(
        json!({"event": "session_started", "timestamp": stamp(0.001), "metadata": metadata()}),
    );
    events.push(action("action_listen", None, 1.0, stamp(0.001)));
    for (n, turn) in turns.into_iter().enumerate() {
        let Turn(text, intent, entities, steps) = turn;
        events.push(json!({
            "event": "user", "timestamp": stamp(3.217), "metadata": metadata(),
            "text": text, "parse_data": parse_data(n, text, intent, &entities),
            "input_channel": "rest", "message_id": message_id(n),
        }));
        events.push(action("action_extract_slots", None, 1.0, stamp(0.003)));
        for step in steps {
            events.push(match step {
                Action(name) => action(name, Some("TEDPolicy"), 0.96, stamp(0.012)),
                Bot(utter, text) => json!({
                    "event": "bot", "timestamp": stamp(0.001),
                    "metadata": {"utter_action": utter},
                    "text": text,
                    "data": {"elements": null, "quick_replies": null, "buttons": null,
                             "attachment": null, "image": null, "custom": null},
                }),
                Slot(name, value) => json!({
                    "event": "slot", "timestamp": stamp(0.002), "metadata": metadata(),
                    "name": name, "value": value,
                }),
                ActiveLoop(name) => json!({
                    "event": "active_loop", "timestamp": stamp(0.002), "metadata": metadata(),
                    "name": name,
                }),
            });
        }
        events.push(action(
            "action_listen",
            Some("RulePolicy"),
            1.0,
            stamp(0.002),
        ));
    }
    events.push(latest_user_event(events.len(), stamp(4.5)));
    events
}

fn latest_user_event(n: usize, timestamp: f64) -> Value {
    let text = format!("what's the weather in {CITY}");
    json!({
        "event": "user", "timestamp": timestamp, "metadata": metadata(),
        "text": text, "parse_data": parse_data(n, &text, 4, &[("city", CITY)]),
        "input_channel": "rest", "message_id": message_id(n),
    })
}

/// The tracker as Rasa sends it: the city slot is empty (the action reads the entity).
fn tracker() -> Value {
    let events = events();
    let latest = events.last().expect("the conversation has events").clone();
    let mut slots = Map::new();
    for i in 0..SLOTS {
        let value = match slot_name(i).as_str() {
            "date" => json!("Friday"),
            "units" => json!("celsius"),
            "forecast_days" => json!(3.0),
            _ => Value::Null,
        };
        slots.insert(slot_name(i), value);
    }
    json!({
        "sender_id": SENDER,
        "slots": slots,
        "latest_message": latest["parse_data"],
        "latest_event_time": latest["timestamp"],
        "followup_action": null,
        "paused": false,
        "stack": [],
        "events": events,
        "latest_input_channel": "rest",
        "active_loop": {},
        "latest_action": {"action_name": "action_listen"},
        "latest_action_name": "action_listen",
    })
}

/// The domain as Rasa sends it (`Domain.as_dict()`).
fn domain() -> Value {
    let intents: Vec<Value> = (0..INTENTS).map(|i| json!(intent_name(i))).collect();
    let mut slots = Map::new();
    for i in 0..SLOTS {
        let name = slot_name(i);
        let (kind, mapping) = match name.as_str() {
            "city" | "date" | "units" => ("text", json!({"type": "from_entity", "entity": name})),
            "forecast_days" => ("float", json!({"type": "custom"})),
            _ => ("any", json!({"type": "custom"})),
        };
        let slot = json!({
            "type": kind, "initial_value": null, "influence_conversation": kind != "any",
            "mappings": [mapping],
        });
        slots.insert(name, slot);
    }
    let mut responses = Map::new();
    for i in 0..RESPONSES {
        responses.insert(
            response_name(i),
            json!([{"text": format!("Response number {i}.")}]),
        );
    }
    json!({
        "version": "3.1",
        "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": true},
        "intents": intents,
        "entities": ["city", "date", "units"],
        "slots": slots,
        "responses": responses,
        "actions": ["action_forecast", "validate_weather_form"],
        "forms": {"weather_form": {"required_slots": ["city"]}},
        "e2e_actions": [],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_call_has_the_shape_of_spec_section_4() {
        let call = action_call();
        let events = call["tracker"]["events"].as_array().unwrap();
        assert_eq!(events.len(), EVENTS);
        assert_eq!(
            events[EVENTS - 1]["parse_data"]["entities"][0]["value"],
            CITY
        );
        assert_eq!(call["domain"]["slots"].as_object().unwrap().len(), SLOTS);
        assert_eq!(call["domain"]["intents"].as_array().unwrap().len(), INTENTS);
        assert_eq!(
            call["domain"]["responses"].as_object().unwrap().len(),
            RESPONSES
        );
        let size = serde_json::to_vec(&call).unwrap().len();
        assert!((17_000..22_000).contains(&size), "{size} bytes");
        assert_eq!(action_call(), call, "the same every time");
    }

    #[test]
    fn the_expected_forecast() {
        // "berlin": 98 + 101 + 114 + 108 + 105 + 110 = 636, and 636 % 5 = 1.
        assert_eq!(
            expected_reply()["responses"][0]["text"],
            "Here is the forecast for Berlin: mild, with a chance of sun."
        );
    }
}
