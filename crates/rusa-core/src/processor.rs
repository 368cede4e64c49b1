//! One turn of a conversation: parse the message, log it, fill slots, predict and run
//! actions until the assistant listens again.
//!
//! This is the in-process core of Rasa's `MessageProcessor`, without stores, locks or
//! brokers (those wrap it in the server). `rusa shell` and `rusa test` use it directly.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tracing::Instrument as _;

use rusa_project::Domain;
use rusa_project::validate::DEFAULT_INTENTS;

use crate::actions::{
    ActionContext, ActionError, ActionKind, ActionOutcome, CustomActionExecutor, action_kind,
    run_builtin,
};
use crate::events::{ActionExecuted, Event, EventKind, Metadata, UserUttered};
use crate::policies::{PolicyEnsemble, PolicyPrediction};
use crate::responses::BotMessage;
use crate::tracker::{
    ACTION_LISTEN, ACTION_SESSION_START, DialogueStateTracker, SESSION_STARTED_METADATA, SlotSpec,
};

/// How many actions may follow one user message before the turn is cut short.
pub const DEFAULT_MAX_NUMBER_OF_PREDICTIONS: usize = 10;

/// Understands user messages: text in, `/model/parse` JSON out (intent, entities,
/// intent_ranking, ...).
pub trait Nlu: Send + Sync {
    fn parse(&self, text: &str) -> Value;
}

/// A trained dialogue model: the domain and the policies.
#[derive(Debug, Clone)]
pub struct DialogueModel {
    pub domain: Arc<Domain>,
    pub policies: PolicyEnsemble,
    pub slot_specs: Arc<[SlotSpec]>,
    pub max_number_of_predictions: usize,
    /// Written into each event's metadata, as Rasa does.
    pub model_id: String,
    pub assistant_id: Option<String>,
    /// `{model_id, assistant_id}`, shared by the events that have no other metadata.
    stamp: Metadata,
}

impl DialogueModel {
    pub fn new(
        domain: Arc<Domain>,
        policies: PolicyEnsemble,
        model_id: String,
        assistant_id: Option<String>,
    ) -> Self {
        let slot_specs = Arc::from(SlotSpec::from_domain(&domain));
        let mut stamp = Map::new();
        stamp.insert("model_id".into(), json!(model_id));
        if let Some(a) = &assistant_id {
            stamp.insert("assistant_id".into(), json!(a));
        }
        Self {
            stamp: stamp.into(),
            domain,
            policies,
            slot_specs,
            max_number_of_predictions: DEFAULT_MAX_NUMBER_OF_PREDICTIONS,
            model_id,
            assistant_id,
        }
    }

    /// A new, empty conversation.
    pub fn new_tracker(&self, sender_id: &str) -> DialogueStateTracker {
        DialogueStateTracker::new(sender_id, self.slot_specs.clone())
    }
}

/// A message from a user, as a channel received it.
#[derive(Debug, Clone, Default)]
pub struct UserMessage {
    pub text: String,
    pub input_channel: Option<String>,
    pub message_id: Option<String>,
    pub metadata: Map<String, Value>,
    /// Set for an external event (`POST /conversations/{id}/trigger_intent`): the intent
    /// and entities are taken as they are, the NLU is not asked, and the event keeps the
    /// conversation's latest input channel.
    pub external: Option<ExternalIntent>,
}

/// The intent and entities of an external event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExternalIntent {
    pub intent: String,
    /// Entity objects (`entity`, `value`, ...), as the user event's `entities`.
    pub entities: Vec<Value>,
}

impl ExternalIntent {
    /// Rasa's short-hand entities of an external event, `{"entity": "value", ...}`, as
    /// entity objects.
    pub fn shorthand_entities(map: &Map<String, Value>) -> Vec<Value> {
        map.iter()
            .map(|(entity, value)| json!({"entity": entity, "value": value}))
            .collect()
    }
}

/// The text of an external event's user message, before the intent's name (Rasa's).
pub const EXTERNAL_MESSAGE_PREFIX: &str = "EXTERNAL: ";

impl UserMessage {
    /// The message of an external event, as Rasa writes it: text `EXTERNAL: <intent>`,
    /// metadata `{"is_external": true}`, no message id.
    pub fn external(intent: &str, entities: Vec<Value>) -> Self {
        let mut metadata = Map::new();
        metadata.insert("is_external".into(), Value::Bool(true));
        Self {
            text: format!("{EXTERNAL_MESSAGE_PREFIX}{intent}"),
            input_channel: None,
            message_id: None,
            metadata,
            external: Some(ExternalIntent {
                intent: intent.to_owned(),
                entities,
            }),
        }
    }
}

/// The seconds-since-epoch clock and the variation chooser of a turn (both fixed in tests).
pub struct TurnEnv<'a> {
    pub now: &'a (dyn Fn() -> f64 + Sync),
    pub choose: &'a mut (dyn FnMut(usize) -> usize + Send),
    /// Told about each message as soon as it is produced (for streaming channels).
    pub emit: Option<&'a mut (dyn FnMut(&BotMessage) + Send)>,
}

impl<'a> TurnEnv<'a> {
    pub fn new(
        now: &'a (dyn Fn() -> f64 + Sync),
        choose: &'a mut (dyn FnMut(usize) -> usize + Send),
    ) -> Self {
        Self {
            now,
            choose,
            emit: None,
        }
    }
}

/// The system clock.
pub fn system_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What a turn produced for the user.
#[derive(Debug, Clone, Default)]
pub struct TurnOutput {
    pub messages: Vec<BotMessage>,
    /// The number of events the turn added to the tracker.
    pub new_events: usize,
    /// The active form whose `validate_<form>` action could not run on this message, and
    /// how it failed: the form's next run in this turn does not go on unvalidated.
    form_validation: Option<(String, ActionError)>,
}

/// Parses a message: `/intent` and `/intent{"entity": "value"}` of an intent of the domain
/// directly (as Rasa does), anything else with the NLU.
pub fn parse_message(domain: &Domain, nlu: &dyn Nlu, message: &UserMessage) -> Value {
    if let Some(external) = &message.external {
        // No confidence and no ranking: nothing classified it (Rasa's shape).
        return json!({
            "intent": {"name": external.intent},
            "entities": external.entities,
            "text": message.text,
            "message_id": message.message_id,
            "metadata": message.metadata,
        });
    }
    let mut parse =
        shortcut_parse(domain, &message.text).unwrap_or_else(|| nlu.parse(&message.text));
    if let Some(obj) = parse.as_object_mut() {
        obj.insert("text".into(), json!(message.text));
        obj.insert("message_id".into(), json!(message.message_id));
        obj.insert("metadata".into(), Value::Object(message.metadata.clone()));
    }
    parse
}

/// `/greet` or `/inform{"city": "Oslo"}` → a parse with confidence 1, when the intent is one
/// of the domain's (or a default intent such as `restart`); `None` otherwise, and then the
/// text goes to the NLU, as in Rasa.
pub fn shortcut_parse(domain: &Domain, text: &str) -> Option<Value> {
    let trimmed = text.trim();
    let rest = trimmed.strip_prefix('/')?;
    let (intent, entities_json) = match rest.find('{') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let intent = intent.trim();
    if intent.is_empty() || intent.contains(char::is_whitespace) {
        return None;
    }
    if domain.intent(intent).is_none() && !DEFAULT_INTENTS.contains(&intent) {
        tracing::warn!(
            intent,
            "the message names an intent the domain does not have; the NLU parses it"
        );
        return None;
    }
    let mut entities = Vec::new();
    if let Some(j) = entities_json {
        let map: Map<String, Value> = serde_json::from_str(j).ok()?;
        // Rasa's span: the JSON object inside the (trimmed) text, in characters, and the
        // extractor that unpacks it.
        let start = trimmed.chars().count() - j.chars().count();
        let end = start + j.chars().count();
        for (entity, value) in map {
            if domain.entity(&entity).is_none() {
                tracing::warn!(
                    "the message gives an entity the domain does not have; it is left out"
                );
                continue;
            }
            let values = match value {
                Value::Array(items) => items,
                other => vec![other],
            };
            for v in values {
                entities.push(json!({
                    "entity": entity,
                    "value": v,
                    "start": start,
                    "end": end,
                    "extractor": "RegexMessageHandler",
                }));
            }
        }
    }
    Some(json!({
        "intent": {"name": intent, "confidence": 1.0},
        "entities": entities,
        "intent_ranking": [{"name": intent, "confidence": 1.0}],
    }))
}

impl DialogueModel {
    /// Writes the model's `model_id` and `assistant_id` into the event's metadata.
    fn stamp(&self, mut event: Event) -> Event {
        if event.metadata.is_empty() {
            event.metadata = self.stamp.clone();
            return event;
        }
        event
            .metadata
            .insert("model_id".into(), json!(self.model_id));
        if let Some(a) = &self.assistant_id {
            event.metadata.insert("assistant_id".into(), json!(a));
        }
        event
    }

    fn action_event(&self, name: &str, prediction: Option<&PolicyPrediction>, now: f64) -> Event {
        self.stamp(Event::new(
            EventKind::Action(ActionExecuted {
                name: Some(name.to_owned()),
                policy: prediction.map(|p| p.policy.clone()).filter(|p| p != "none"),
                confidence: Some(prediction.map_or(1.0, |p| p.confidence)),
                action_text: None,
                hide_rule_turn: false,
            }),
            now,
        ))
    }

    /// Whether the conversation needs a new session before this message.
    fn needs_session_start(&self, tracker: &DialogueStateTracker, now: f64) -> bool {
        let Some(last) = tracker.events().last() else {
            return true;
        };
        let minutes = self.domain.session_config.session_expiration_time;
        minutes > 0.0 && now - last.timestamp > minutes * 60.0
    }

    /// Handles one user message: returns what the assistant says. Custom actions run on
    /// `actions`; a failing one is logged and the turn goes on without its events, as Rasa
    /// does.
    pub async fn handle_message(
        &self,
        tracker: &mut DialogueStateTracker,
        nlu: &dyn Nlu,
        actions: &dyn CustomActionExecutor,
        message: &UserMessage,
        env: &mut TurnEnv<'_>,
    ) -> TurnOutput {
        let before = tracker.events().len();
        let mut output = self.log_message(tracker, nlu, actions, message, env).await;
        let loop_span = tracing::info_span!("MessageProcessor._run_prediction_loop");
        self.run_prediction_loop(tracker, actions, message, env, &mut output)
            .instrument(loop_span)
            .await;
        output.new_events = tracker.events().len() - before;
        output
    }

    /// The first half of a turn, without predicting any action: starts a session when one
    /// is due, logs the user message (its parse is `nlu`'s), fills slots and runs the slot
    /// actions. Interactive learning predicts and confirms each action itself after this.
    pub async fn log_message(
        &self,
        tracker: &mut DialogueStateTracker,
        nlu: &dyn Nlu,
        actions: &dyn CustomActionExecutor,
        message: &UserMessage,
        env: &mut TurnEnv<'_>,
    ) -> TurnOutput {
        let before = tracker.events().len();
        let mut output = TurnOutput::default();
        self.log_message_into(tracker, nlu, actions, message, env, &mut output)
            .await;
        output.new_events = tracker.events().len() - before;
        output
    }

    async fn log_message_into(
        &self,
        tracker: &mut DialogueStateTracker,
        nlu: &dyn Nlu,
        actions: &dyn CustomActionExecutor,
        message: &UserMessage,
        env: &mut TurnEnv<'_>,
        output: &mut TurnOutput,
    ) {
        let now = (env.now)();
        if self.needs_session_start(tracker, now) {
            self.run_session_start(tracker, actions, message, env, output)
                .await;
        }
        let log_span = tracing::info_span!("MessageProcessor.log_message");
        log_span.in_scope(|| {
            let parse_data = parse_message(&self.domain, nlu, message);
            // The message's metadata is the event's too (with the model's ids), as in Rasa.
            // An external event keeps the channel the user last wrote on.
            let input_channel = match &message.external {
                Some(_) => tracker.latest_input_channel().map(str::to_owned),
                None => message.input_channel.clone(),
            };
            let mut event = Event::new(
                EventKind::User(UserUttered {
                    text: Some(message.text.clone()),
                    parse_data: parse_data.into(),
                    input_channel,
                    message_id: message.message_id.clone(),
                }),
                (env.now)(),
            );
            if !message.metadata.is_empty() {
                event.metadata = message.metadata.clone().into();
            }
            tracker.update(self.stamp(event));
            let extracted = self.run_builtin_action(
                &ActionKind::ExtractSlots,
                "action_extract_slots",
                tracker,
                message,
                env,
            );
            self.log_outcome(tracker, extracted, output, env);
        });
        self.run_slot_actions(tracker, actions, output, env)
            .instrument(log_span)
            .await;
        tracker.update(self.stamp(Event::new(
            EventKind::UserFeaturization {
                use_text_for_featurization: false,
            },
            (env.now)(),
        )));
    }

    /// The next action the assistant would run (the follow-up action, else the policies'
    /// prediction), in its `MessageProcessor._predict_next_with_tracker` span.
    pub fn predict_next(&self, tracker: &DialogueStateTracker) -> PolicyPrediction {
        let predict_span = tracing::info_span!(
            "MessageProcessor._predict_next_with_tracker",
            intent_name = tracing::field::Empty,
            requested_slot = tracing::field::Empty,
        );
        if let Some(intent) = tracker.latest_message().and_then(|m| m.intent_name()) {
            predict_span.record("intent_name", intent);
        }
        if let Some(slot) = tracker
            .slot(crate::tracker::REQUESTED_SLOT)
            .and_then(serde_json::Value::as_str)
        {
            predict_span.record("requested_slot", slot);
        }
        predict_span.in_scope(|| match tracker.followup_action() {
            Some(followup) => PolicyPrediction::new(followup, 1.0, "none"),
            None => self.policies.predict(&self.domain, tracker),
        })
    }

    /// Logs `action_listen` (the assistant waits for the user), as predicted by `prediction`.
    pub fn log_listen(
        &self,
        tracker: &mut DialogueStateTracker,
        prediction: &PolicyPrediction,
        now: f64,
    ) {
        tracker.update(self.action_event(ACTION_LISTEN, Some(prediction), now));
    }

    /// Logs an event with the model's ids in its metadata.
    pub fn log_event(&self, tracker: &mut DialogueStateTracker, kind: EventKind, now: f64) {
        tracker.update(self.stamp(Event::new(kind, now)));
    }

    /// The custom actions that fill and validate slots after a user message, as Rasa's
    /// `action_extract_slots` runs them on the action server: the actions of custom slot
    /// mappings, `action_validate_slot_mappings`, and `validate_<form>` of the active form.
    /// Their slot events are applied; a failure is logged and the turn goes on.
    async fn run_slot_actions(
        &self,
        tracker: &mut DialogueStateTracker,
        actions: &dyn CustomActionExecutor,
        output: &mut TurnOutput,
        env: &mut TurnEnv<'_>,
    ) {
        let domain = &self.domain;
        let mut names: Vec<String> = Vec::new();
        for slot in &domain.slots {
            for m in &slot.mappings {
                if let Some(action) = &m.action
                    && domain.has_action(action)
                    && !names.contains(action)
                {
                    names.push(action.clone());
                }
            }
        }
        if domain.has_action("action_validate_slot_mappings") {
            names.push("action_validate_slot_mappings".into());
        }
        if let Some(form) = tracker.active_loop_name() {
            let validate = format!("validate_{form}");
            if domain.has_action(&validate) {
                names.push(validate);
            }
        }
        for name in names {
            match actions.run(&name, tracker, domain).await {
                Ok(outcome) => {
                    for event in outcome.events {
                        if matches!(event.kind, EventKind::Slot { .. } | EventKind::Bot(_)) {
                            tracker.update(self.stamp(event));
                        }
                    }
                    if let Some(emit) = env.emit.as_mut() {
                        for m in &outcome.messages {
                            emit(m);
                        }
                    }
                    output.messages.extend(outcome.messages);
                }
                Err(err) => {
                    tracing::error!(action = name.as_str(), error = %err, "the slot action failed; its slots are not set");
                    if let Some(form) = name.strip_prefix("validate_")
                        && tracker.active_loop_name() == Some(form)
                    {
                        output.form_validation = Some((form.to_owned(), err));
                    }
                }
            }
        }
    }

    /// Starts a conversation session on `tracker` (`action_session_start` and its events),
    /// as Rasa does before a conversation's first message; `GET .../tracker` shows a new
    /// conversation this way without saving it. A custom `action_session_start` runs on
    /// `actions`.
    pub async fn start_session(
        &self,
        tracker: &mut DialogueStateTracker,
        actions: &dyn CustomActionExecutor,
        env: &mut TurnEnv<'_>,
    ) -> TurnOutput {
        let mut output = TurnOutput::default();
        self.run_session_start(tracker, actions, &UserMessage::default(), env, &mut output)
            .await;
        output
    }

    /// Starts a new session when the conversation has none or its session expired (Rasa's
    /// `fetch_tracker_and_update_session`, before an action is run from the API); `true`
    /// when it did.
    pub async fn update_session(
        &self,
        tracker: &mut DialogueStateTracker,
        actions: &dyn CustomActionExecutor,
        env: &mut TurnEnv<'_>,
    ) -> bool {
        if !self.needs_session_start(tracker, (env.now)()) {
            return false;
        }
        self.start_session(tracker, actions, env).await;
        true
    }

    async fn run_session_start(
        &self,
        tracker: &mut DialogueStateTracker,
        actions: &dyn CustomActionExecutor,
        message: &UserMessage,
        env: &mut TurnEnv<'_>,
        output: &mut TurnOutput,
    ) {
        // The metadata of the message that starts the session goes into the slot
        // `session_started_metadata` first; `action_session_start` sets it again in the new
        // session (Rasa's order).
        // (An external event's marker is not the user's metadata: Rasa starts that session
        // without any.)
        if !message.metadata.is_empty() && message.external.is_none() {
            tracker.update(self.stamp(Event::new(
                EventKind::Slot {
                    name: SESSION_STARTED_METADATA.into(),
                    value: Value::Object(message.metadata.clone()),
                },
                (env.now)(),
            )));
        }
        if action_kind(&self.domain, ACTION_SESSION_START) == ActionKind::Custom {
            // The project's own `action_session_start` (listed in the domain's actions):
            // Rasa runs it on the action server like any custom action, at every session
            // start.
            let prediction = PolicyPrediction::new(ACTION_SESSION_START, 1.0, "none");
            self.run_action(tracker, actions, message, env, output, &prediction)
                .await;
            return;
        }
        tracker.update(self.action_event(ACTION_SESSION_START, None, (env.now)()));
        let outcome = self.run_builtin_action(
            &ActionKind::SessionStart,
            ACTION_SESSION_START,
            tracker,
            message,
            env,
        );
        for event in outcome.events {
            tracker.update(self.stamp(event));
        }
    }

    fn run_builtin_action(
        &self,
        kind: &ActionKind,
        name: &str,
        tracker: &DialogueStateTracker,
        message: &UserMessage,
        env: &mut TurnEnv<'_>,
    ) -> ActionOutcome {
        let mut ctx = ActionContext {
            domain: &self.domain,
            channel: message.input_channel.as_deref(),
            choose: &mut *env.choose,
            now: (env.now)(),
        };
        run_builtin(kind, name, tracker, &mut ctx)
    }

    fn log_outcome(
        &self,
        tracker: &mut DialogueStateTracker,
        outcome: ActionOutcome,
        output: &mut TurnOutput,
        env: &mut TurnEnv<'_>,
    ) {
        for event in outcome.events {
            tracker.update(self.stamp(event));
        }
        if let Some(emit) = env.emit.as_mut() {
            for m in &outcome.messages {
                emit(m);
            }
        }
        output.messages.extend(outcome.messages);
    }

    /// Predicts and runs actions until `action_listen` or the prediction limit.
    async fn run_prediction_loop(
        &self,
        tracker: &mut DialogueStateTracker,
        actions: &dyn CustomActionExecutor,
        message: &UserMessage,
        env: &mut TurnEnv<'_>,
        output: &mut TurnOutput,
    ) {
        if tracker.is_paused() {
            tracing::warn!("the conversation is paused; no action is predicted");
            return;
        }
        for _ in 0..self.max_number_of_predictions {
            let prediction = self.predict_next(tracker);
            let name = prediction.action.clone();
            tracing::debug!(
                action = name.as_str(),
                policy = prediction.policy.as_str(),
                confidence = prediction.confidence,
                rule = prediction.rule.as_deref(),
                "predicted the next action"
            );
            if name == ACTION_LISTEN {
                tracker.update(self.action_event(ACTION_LISTEN, Some(&prediction), (env.now)()));
                return;
            }
            if !self
                .run_action(tracker, actions, message, env, output, &prediction)
                .await
            {
                continue;
            }
            // A new session ends with the assistant listening (as in Rasa).
            if name == ACTION_SESSION_START {
                return;
            }
        }
        tracing::warn!(
            limit = self.max_number_of_predictions,
            "the assistant ran the most actions one message may trigger; it stops predicting"
        );
    }

    /// The form whose validation action could not run, as Rasa runs it: the validation's
    /// failure is the form action's, so the form is logged as run but its events (the next
    /// question, or finishing) are lost; a validation that rejected the message rejects the
    /// form. `false` when the form counts as rejected.
    fn run_unvalidated_form(
        &self,
        tracker: &mut DialogueStateTracker,
        env: &mut TurnEnv<'_>,
        prediction: &PolicyPrediction,
        form: &str,
        err: &ActionError,
        action_span: &tracing::Span,
    ) -> bool {
        if let ActionError::Rejected { .. } = err {
            tracker.update(self.stamp(Event::new(
                EventKind::ActionExecutionRejected {
                    name: form.to_owned(),
                    policy: Some(prediction.policy.clone()),
                    confidence: Some(prediction.confidence),
                },
                (env.now)(),
            )));
            return false;
        }
        crate::span_status::record_failure(action_span, "ActionError", &err.to_string());
        tracing::error!(
            parent: action_span,
            form,
            error = %err,
            "the form's validation action could not run; the form goes on without its events"
        );
        tracker.update(self.action_event(form, Some(prediction), (env.now)()));
        true
    }

    /// Runs one predicted action and logs it with its events. `false` when the action was
    /// rejected (nothing ran; the caller predicts again).
    pub async fn run_action(
        &self,
        tracker: &mut DialogueStateTracker,
        actions: &dyn CustomActionExecutor,
        message: &UserMessage,
        env: &mut TurnEnv<'_>,
        output: &mut TurnOutput,
        prediction: &PolicyPrediction,
    ) -> bool {
        let name = prediction.action.clone();
        let kind = action_kind(&self.domain, &name);
        let action_span = tracing::info_span!(
            "MessageProcessor._run_action",
            otel.kind = "client",
            action_name = name.as_str(),
            sender_id = tracker.sender_id.as_str(),
            message_id = tracing::field::Empty,
        );
        if let Some(id) = &message.message_id {
            action_span.record("message_id", id.as_str());
        }
        if kind == ActionKind::Form
            && let Some((form, err)) = output.form_validation.take_if(|(f, _)| *f == name)
        {
            return self.run_unvalidated_form(tracker, env, prediction, &form, &err, &action_span);
        }
        let outcome = if kind == ActionKind::Custom {
            match actions
                .run(&name, tracker, &self.domain)
                .instrument(action_span.clone())
                .await
            {
                Ok(outcome) => outcome,
                Err(ActionError::Rejected { .. }) => {
                    tracker.update(self.stamp(Event::new(
                        EventKind::ActionExecutionRejected {
                            name: name.clone(),
                            policy: Some(prediction.policy.clone()),
                            confidence: Some(prediction.confidence),
                        },
                        (env.now)(),
                    )));
                    return false;
                }
                Err(err) => {
                    crate::span_status::record_failure(
                        &action_span,
                        "ActionError",
                        &err.to_string(),
                    );
                    tracing::error!(parent: &action_span, action = name.as_str(), error = %err, "the action failed; the turn goes on without its events");
                    ActionOutcome::default()
                }
            }
        } else {
            action_span.in_scope(|| self.run_builtin_action(&kind, &name, tracker, message, env))
        };
        let rejected = outcome.events.iter().any(
            |e| matches!(&e.kind, EventKind::ActionExecutionRejected { name: n, .. } if *n == name),
        );
        if rejected {
            // A form that rejects the message does not count as run.
            for mut event in outcome.events {
                if let EventKind::ActionExecutionRejected {
                    policy, confidence, ..
                } = &mut event.kind
                {
                    *policy = Some(prediction.policy.clone());
                    *confidence = Some(prediction.confidence);
                }
                tracker.update(self.stamp(event));
            }
            return false;
        }
        tracker.update(self.action_event(&name, Some(prediction), (env.now)()));
        self.log_outcome(tracker, outcome, output, env);
        true
    }
}

#[cfg(test)]
mod shortcut_tests {
    use serde_json::json;

    use super::shortcut_parse;

    fn domain(yaml: &str) -> rusa_project::Domain {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("domain.yml");
        std::fs::write(&path, yaml).unwrap();
        rusa_project::load_domain(&path, &mut Vec::new()).unwrap().0
    }

    #[test]
    fn entities_of_a_shortcut_carry_rasas_span_and_extractor() {
        let domain = domain("version: \"3.1\"\nintents:\n- inform\nentities:\n- city\n");
        let parse = shortcut_parse(
            &domain,
            "  /inform{\"city\": [\"Berlin\", \"Köln\"], \"x\": 1} ",
        )
        .unwrap();
        // The JSON object spans characters 7..43 of the trimmed text; `x` is not an
        // entity of the domain and is left out, as Rasa does.
        assert_eq!(
            parse["entities"],
            json!([
                {"entity": "city", "value": "Berlin", "start": 7, "end": 43, "extractor": "RegexMessageHandler"},
                {"entity": "city", "value": "Köln", "start": 7, "end": 43, "extractor": "RegexMessageHandler"},
            ])
        );
        assert_eq!(parse["intent"]["name"], "inform");
    }
}
