//! Actions: what the assistant does. Responses (`utter_*`), the default actions every
//! assistant has, forms, and custom actions run by an action server.

use std::future::Future;
use std::pin::Pin;

use serde_json::{Value, json};

use rusa_project::Domain;
use rusa_project::validate::DEFAULT_ACTIONS;

use crate::events::{BotUttered, Event, EventKind};
use crate::responses::{BotMessage, generate};
use crate::slot_filling::extract_slots;
use crate::tracker::{
    ACTION_LISTEN, DialogueStateTracker, REQUESTED_SLOT, SESSION_STARTED_METADATA,
};

/// What running an action produced: events to log, and messages for the user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActionOutcome {
    pub events: Vec<Event>,
    pub messages: Vec<BotMessage>,
}

/// Why a custom action did not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ActionError {
    /// The action server refused to run it (HTTP 400: `action_execution_rejected`).
    #[error("action '{action}' rejected execution: {message}")]
    Rejected { action: String, message: String },
    /// No action server is configured, it is unreachable, or it failed.
    #[error("action '{action}' could not run: {message}")]
    Failed { action: String, message: String },
}

/// A boxed future, for object-safe async traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs custom actions (and form validation actions), e.g. over HTTP on an action server.
pub trait CustomActionExecutor: Send + Sync {
    fn run<'a>(
        &'a self,
        action: &'a str,
        tracker: &'a DialogueStateTracker,
        domain: &'a Domain,
    ) -> BoxFuture<'a, Result<ActionOutcome, ActionError>>;
}

/// An executor for assistants without an action server: every custom action fails with a
/// message saying so.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoActionServer;

impl CustomActionExecutor for NoActionServer {
    fn run<'a>(
        &'a self,
        action: &'a str,
        _: &'a DialogueStateTracker,
        _: &'a Domain,
    ) -> BoxFuture<'a, Result<ActionOutcome, ActionError>> {
        Box::pin(async move {
            Err(ActionError::Failed {
                action: action.to_owned(),
                message: "no action_endpoint is configured in the endpoints file".into(),
            })
        })
    }
}

/// How an action is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionKind {
    Listen,
    /// A response of the domain.
    Utter,
    /// `utter_<retrieval intent>`: the response the response selector chose.
    Retrieval,
    SessionStart,
    Restart,
    DefaultFallback,
    DeactivateLoop,
    Back,
    AskAffirmation,
    AskRephrase,
    TwoStageFallback,
    ExtractSlots,
    /// Actions that do nothing in rusa (`action_unlikely_intent`, `action_revert_fallback_events`
    /// outside a two-stage fallback).
    NoOp,
    Form,
    /// Run by the action server.
    Custom,
}

/// Which kind of action `name` is in this domain. A default action the domain lists under
/// `actions` is the project's own and runs on the action server, as in Rasa (a custom
/// `action_session_start` that fills slots, say); `action_listen` cannot be replaced.
pub fn action_kind(domain: &Domain, name: &str) -> ActionKind {
    if name != ACTION_LISTEN && DEFAULT_ACTIONS.contains(&name) && domain.has_action(name) {
        return ActionKind::Custom;
    }
    match name {
        ACTION_LISTEN => ActionKind::Listen,
        "action_session_start" => ActionKind::SessionStart,
        "action_restart" => ActionKind::Restart,
        "action_default_fallback" => ActionKind::DefaultFallback,
        "action_deactivate_loop" => ActionKind::DeactivateLoop,
        "action_back" => ActionKind::Back,
        "action_default_ask_affirmation" => ActionKind::AskAffirmation,
        "action_default_ask_rephrase" => ActionKind::AskRephrase,
        "action_two_stage_fallback" => ActionKind::TwoStageFallback,
        "action_extract_slots" => ActionKind::ExtractSlots,
        "action_unlikely_intent" | "action_revert_fallback_events" => ActionKind::NoOp,
        _ if domain.form(name).is_some() => ActionKind::Form,
        _ if domain.responses.contains_key(name) => ActionKind::Utter,
        _ if name.starts_with("utter_")
            && domain
                .responses
                .keys()
                .any(|k| k.starts_with(&format!("{name}/"))) =>
        {
            ActionKind::Retrieval
        }
        _ => ActionKind::Custom,
    }
}

/// Everything a built-in action needs besides the tracker.
pub struct ActionContext<'a> {
    pub domain: &'a Domain,
    pub channel: Option<&'a str>,
    /// Picks among equally good response variations.
    pub choose: &'a mut dyn FnMut(usize) -> usize,
    /// Time stamp for the events the action creates.
    pub now: f64,
}

impl ActionContext<'_> {
    /// A response as a message, if the domain has it and a variation applies.
    pub fn utter(&mut self, name: &str, tracker: &DialogueStateTracker) -> Option<BotMessage> {
        let response = self.domain.responses.get(name)?;
        generate(response, tracker.slots(), self.channel, self.choose)
    }

    fn event(&self, kind: EventKind) -> Event {
        Event::new(kind, self.now)
    }
}

/// The `bot` event of a message.
pub fn bot_event(message: &BotMessage, now: f64) -> Event {
    let data = message.event_data();
    // A plain text message shares the one all-null `data`.
    let data = if data
        .as_object()
        .is_some_and(|o| o.values().all(Value::is_null))
    {
        BotUttered::empty_data()
    } else {
        data.into()
    };
    let mut event = Event::new(
        EventKind::Bot(BotUttered {
            text: message.text.clone(),
            data,
        }),
        now,
    );
    if let Some(name) = &message.utter_action {
        event
            .metadata
            .insert("utter_action".into(), Value::String(name.clone()));
    }
    event
}

/// Runs a built-in action (anything but [`ActionKind::Custom`]) on the tracker's state.
pub fn run_builtin(
    kind: &ActionKind,
    name: &str,
    tracker: &DialogueStateTracker,
    ctx: &mut ActionContext<'_>,
) -> ActionOutcome {
    let mut out = ActionOutcome::default();
    let say = |out: &mut ActionOutcome, message: Option<BotMessage>, now: f64| {
        if let Some(m) = message {
            out.events.push(bot_event(&m, now));
            out.messages.push(m);
        }
    };
    match kind {
        ActionKind::Listen | ActionKind::NoOp | ActionKind::Custom => {}
        ActionKind::Utter => {
            let message = ctx.utter(name, tracker);
            if message.is_none() {
                tracing::warn!(
                    response = name,
                    "no variation of the response applies to the current slots and channel"
                );
            }
            say(&mut out, message, ctx.now);
        }
        ActionKind::Retrieval => {
            let retrieval_intent = name.trim_start_matches("utter_");
            let key = tracker
                .latest_message()
                .and_then(|m| m.parse_data.get("response_selector"))
                .and_then(|rs| rs.get(retrieval_intent).or_else(|| rs.get("default")))
                .and_then(|r| {
                    r.get("response")?
                        .get("intent_response_key")?
                        .as_str()
                        .map(str::to_owned)
                });
            match key {
                Some(key) => {
                    let message = ctx.utter(&format!("utter_{key}"), tracker);
                    say(&mut out, message, ctx.now);
                }
                None => tracing::warn!(
                    action = name,
                    "the response selector chose no response for this message"
                ),
            }
        }
        ActionKind::SessionStart => {
            out.events.push(ctx.event(EventKind::SessionStarted));
            let carry_over = ctx.domain.session_config.carry_over_slots_to_new_session;
            if carry_over {
                for (slot, value) in tracker.slots() {
                    if !value.is_null() && slot != SESSION_STARTED_METADATA {
                        out.events.push(ctx.event(EventKind::Slot {
                            name: slot.clone(),
                            value: value.clone(),
                        }));
                    }
                }
            }
            // `session_started_metadata` survives the reset: the metadata of the message
            // that starts the session (set just before `action_session_start`), or, when
            // slots are carried over, whatever the slot held.
            let given = tracker
                .events()
                .iter()
                .rev()
                .nth(1)
                .and_then(|e| match &e.kind {
                    EventKind::Slot { name, value } if name == SESSION_STARTED_METADATA => {
                        Some(value)
                    }
                    _ => None,
                });
            let metadata = if carry_over {
                tracker.slot(SESSION_STARTED_METADATA)
            } else {
                given
            }
            .filter(|m| m.as_object().is_some_and(|o| !o.is_empty()));
            if let Some(metadata) = metadata {
                out.events.push(ctx.event(EventKind::Slot {
                    name: SESSION_STARTED_METADATA.into(),
                    value: metadata.clone(),
                }));
            }
            out.events
                .push(ctx.event(EventKind::Action(crate::events::ActionExecuted {
                    name: Some(ACTION_LISTEN.into()),
                    policy: None,
                    confidence: None,
                    action_text: None,
                    hide_rule_turn: false,
                })));
        }
        ActionKind::Restart => {
            let message = ctx.utter("utter_restart", tracker);
            say(&mut out, message, ctx.now);
            out.events.push(ctx.event(EventKind::Restart));
        }
        ActionKind::DefaultFallback => {
            let message = ctx.utter("utter_default", tracker);
            say(&mut out, message, ctx.now);
            out.events.push(ctx.event(EventKind::UserUtteranceReverted));
        }
        ActionKind::DeactivateLoop => {
            out.events
                .push(ctx.event(EventKind::ActiveLoop { name: None }));
            out.events.push(ctx.event(EventKind::Slot {
                name: REQUESTED_SLOT.into(),
                value: Value::Null,
            }));
        }
        ActionKind::Back => {
            let message = ctx.utter("utter_back", tracker);
            say(&mut out, message, ctx.now);
            out.events.push(ctx.event(EventKind::UserUtteranceReverted));
            out.events.push(ctx.event(EventKind::UserUtteranceReverted));
        }
        ActionKind::AskAffirmation => {
            let intent = intent_to_affirm(tracker);
            let message = BotMessage {
                text: Some(format!("Did you mean '{intent}'?")),
                buttons: vec![
                    json!({"title": "Yes", "payload": format!("/{intent}")}),
                    json!({"title": "No", "payload": "/out_of_scope"}),
                ],
                utter_action: Some("action_default_ask_affirmation".into()),
                ..BotMessage::default()
            };
            say(&mut out, Some(message), ctx.now);
        }
        ActionKind::AskRephrase => {
            let message = ctx.utter("utter_ask_rephrase", tracker).or_else(|| {
                Some(BotMessage {
                    text: Some(
                        "I'm sorry, I didn't quite understand that. Could you rephrase?".into(),
                    ),
                    utter_action: Some("utter_ask_rephrase".into()),
                    ..BotMessage::default()
                })
            });
            say(&mut out, message, ctx.now);
        }
        ActionKind::TwoStageFallback => two_stage_fallback(tracker, ctx, &mut out),
        ActionKind::ExtractSlots => {
            for (slot, value) in extract_slots(ctx.domain, tracker) {
                out.events
                    .push(ctx.event(EventKind::Slot { name: slot, value }));
            }
        }
        ActionKind::Form => run_form(name, tracker, ctx, &mut out),
    }
    out
}

/// A form: activate, check that the user answered, ask for the next empty required slot,
/// and finish when all are filled.
fn run_form(
    form_name: &str,
    tracker: &DialogueStateTracker,
    ctx: &mut ActionContext<'_>,
    out: &mut ActionOutcome,
) {
    let Some(form) = ctx.domain.form(form_name) else {
        return;
    };
    let active = tracker.active_loop().filter(|l| l.name == form_name);
    match active {
        None => out.events.push(ctx.event(EventKind::ActiveLoop {
            name: Some(form_name.to_owned()),
        })),
        Some(active) => {
            // The user answered the form: it must have filled one of the form's slots, or
            // the form rejects the message and the policies decide what to do.
            let answered_now = tracker.latest_action_name() == Some(ACTION_LISTEN);
            if answered_now && active.validate && !form.required_slots.is_empty() {
                let filled = filled_since_last_user_message(tracker);
                let any_form_slot = form
                    .required_slots
                    .iter()
                    .any(|(s, _)| filled.contains(&s.as_str()));
                if !any_form_slot {
                    out.events
                        .push(ctx.event(EventKind::ActionExecutionRejected {
                            name: form_name.to_owned(),
                            policy: None,
                            confidence: None,
                        }));
                    return;
                }
            }
        }
    }
    let next = form
        .required_slots
        .iter()
        .map(|(s, _)| s.as_str())
        .find(|s| tracker.slot(s).is_none_or(Value::is_null));
    match next {
        Some(slot) => {
            out.events.push(ctx.event(EventKind::Slot {
                name: REQUESTED_SLOT.into(),
                value: Value::String(slot.to_owned()),
            }));
            let specific = format!("utter_ask_{form_name}_{slot}");
            let generic = format!("utter_ask_{slot}");
            let message = if ctx.domain.responses.contains_key(&specific) {
                ctx.utter(&specific, tracker)
            } else {
                ctx.utter(&generic, tracker)
            };
            if message.is_none() {
                tracing::warn!(
                    form = form_name,
                    slot,
                    "the domain has no utter_ask_{{form}}_{{slot}} or utter_ask_{{slot}} response to ask with"
                );
            }
            if let Some(m) = message {
                out.events.push(bot_event(&m, ctx.now));
                out.messages.push(m);
            }
        }
        None => {
            out.events.push(ctx.event(EventKind::Slot {
                name: REQUESTED_SLOT.into(),
                value: Value::Null,
            }));
            out.events
                .push(ctx.event(EventKind::ActiveLoop { name: None }));
        }
    }
}

/// Slots set since the latest user message.
fn filled_since_last_user_message(tracker: &DialogueStateTracker) -> Vec<&str> {
    let mut filled = Vec::new();
    for event in tracker.events().iter().rev() {
        match &event.kind {
            EventKind::User(_) => break,
            EventKind::Slot { name, value } if !value.is_null() => filled.push(name.as_str()),
            _ => {}
        }
    }
    filled
}

/// The intent `action_default_ask_affirmation` asks about: the latest message's, or, when
/// that is `nlu_fallback` (the FallbackClassifier put it first), the second-ranked one, as
/// Rasa does.
fn intent_to_affirm(tracker: &DialogueStateTracker) -> String {
    let Some(message) = tracker.latest_message() else {
        return "out_of_scope".to_owned();
    };
    let intent = message.intent_name().unwrap_or("out_of_scope");
    if intent == "nlu_fallback"
        && let Some(second) = message
            .parse_data
            .get("intent_ranking")
            .and_then(Value::as_array)
            .and_then(|ranking| ranking.get(1))
            .and_then(|r| r.get("name"))
            .and_then(Value::as_str)
    {
        return second.to_owned();
    }
    intent.to_owned()
}

/// Rasa's two-stage fallback: ask the user to affirm the intent; if they deny, ask them to
/// rephrase; if that fails too, fall back for good.
fn two_stage_fallback(
    tracker: &DialogueStateTracker,
    ctx: &mut ActionContext<'_>,
    out: &mut ActionOutcome,
) {
    const NAME: &str = "action_two_stage_fallback";
    let now = ctx.now;
    let active = tracker.active_loop_name() == Some(NAME);
    let intent = tracker
        .latest_message()
        .and_then(|m| m.intent_name())
        .unwrap_or_default()
        .to_owned();
    let mut ask = |kind: ActionKind, out: &mut ActionOutcome| {
        let outcome = run_builtin(&kind, "", tracker, ctx);
        out.events.extend(outcome.events);
        out.messages.extend(outcome.messages);
    };
    if !active {
        out.events.push(Event::new(
            EventKind::ActiveLoop {
                name: Some(NAME.into()),
            },
            now,
        ));
        ask(ActionKind::AskAffirmation, out);
        return;
    }
    match intent.as_str() {
        "out_of_scope" | "nlu_fallback" => {
            let asked_to_rephrase = tracker
                .events()
                .iter()
                .rev()
                .take_while(
                    |e| !matches!(&e.kind, EventKind::ActiveLoop { name: Some(n) } if n == NAME),
                )
                .any(|e| {
                    matches!(&e.kind, EventKind::Bot(_))
                        && e.metadata.get("utter_action").and_then(Value::as_str)
                            == Some("utter_ask_rephrase")
                });
            if asked_to_rephrase {
                out.events
                    .push(Event::new(EventKind::ActiveLoop { name: None }, now));
                ask(ActionKind::DefaultFallback, out);
            } else {
                ask(ActionKind::AskRephrase, out);
            }
        }
        _ => {
            // The user affirmed or rephrased into something understood: carry on with it.
            out.events
                .push(Event::new(EventKind::ActiveLoop { name: None }, now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusa_project::validate::{DEFAULT_ACTIONS, DEFAULT_LOOPS};

    #[test]
    fn every_default_action_the_validator_accepts_runs_built_in() {
        let domain = Domain::empty();
        for name in DEFAULT_ACTIONS.iter().chain(DEFAULT_LOOPS) {
            assert_ne!(
                action_kind(&domain, name),
                ActionKind::Custom,
                "{name} would be sent to the action server"
            );
        }
    }

    #[test]
    fn every_default_action_the_domain_lists_runs_on_the_action_server() {
        let mut domain = Domain::empty();
        domain.actions.push(rusa_project::ActionName {
            name: "action_session_start".into(),
            send_domain: false,
            pos: rusa_project::Pos::new(std::path::Path::new("domain.yml").into(), 1, 1),
        });
        assert_eq!(
            action_kind(&domain, "action_session_start"),
            ActionKind::Custom
        );
        assert_eq!(action_kind(&domain, "action_restart"), ActionKind::Restart);
    }

    fn tracker_with(parse: Value) -> DialogueStateTracker {
        let mut tracker = DialogueStateTracker::new("t", std::sync::Arc::from(Vec::new()));
        tracker.update(Event::new(
            EventKind::User(crate::events::UserUttered {
                text: Some("hmm".into()),
                parse_data: parse.into(),
                input_channel: None,
                message_id: None,
            }),
            0.0,
        ));
        tracker
    }

    #[test]
    fn the_affirmation_asks_about_the_second_intent_after_nlu_fallback() {
        let tracker = tracker_with(json!({
            "intent": {"name": "nlu_fallback", "confidence": 0.7},
            "intent_ranking": [
                {"name": "nlu_fallback", "confidence": 0.7},
                {"name": "check_balance", "confidence": 0.41},
                {"name": "greet", "confidence": 0.2}
            ]
        }));
        assert_eq!(intent_to_affirm(&tracker), "check_balance");
        let domain = Domain::empty();
        let mut choose = |_: usize| 0;
        let mut ctx = ActionContext {
            domain: &domain,
            channel: None,
            choose: &mut choose,
            now: 0.0,
        };
        let out = run_builtin(
            &ActionKind::AskAffirmation,
            "action_default_ask_affirmation",
            &tracker,
            &mut ctx,
        );
        assert_eq!(
            out.messages[0].text.as_deref(),
            Some("Did you mean 'check_balance'?")
        );
        assert_eq!(out.messages[0].buttons[0]["payload"], "/check_balance");
        // Without a second intent, and for any other intent, the message's own.
        let alone = tracker_with(json!({"intent": {"name": "nlu_fallback"},
            "intent_ranking": [{"name": "nlu_fallback", "confidence": 0.7}]}));
        assert_eq!(intent_to_affirm(&alone), "nlu_fallback");
        let greet = tracker_with(json!({"intent": {"name": "greet"},
            "intent_ranking": [{"name": "greet"}, {"name": "bye"}]}));
        assert_eq!(intent_to_affirm(&greet), "greet");
    }
}
