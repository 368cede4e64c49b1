//! Dialogue as Rasa 3.6 runs it where rules, forms and fallbacks meet: each test plays a
//! small project of ours that shows one pattern seen on real projects.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::sync::Mutex;

use rusa_core::actions::{
    ActionError, ActionOutcome, BoxFuture, CustomActionExecutor, NoActionServer,
};
use rusa_core::policies::{PolicyEnsemble, policy_specs};
use rusa_core::processor::{DialogueModel, Nlu, TurnEnv, UserMessage};
use rusa_core::{ActionExecuted, DialogueStateTracker, Event, EventKind, block_on};
use rusa_project::{Project, ProjectPaths};
use serde_json::{Value, json};

fn project_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/projects")
        .join(name)
}

fn load(name: &str) -> Project {
    Project::load(&ProjectPaths::in_dir(&project_dir(name))).unwrap()
}

fn train(project: &Project) -> Result<PolicyEnsemble, String> {
    let (specs, _) = policy_specs(project.config.policies.as_deref(), false).unwrap();
    PolicyEnsemble::train(project, &specs).map_err(|e| e.to_string())
}

fn model(project: &Project) -> DialogueModel {
    DialogueModel::new(
        Arc::new(project.domain.clone()),
        train(project).unwrap(),
        "test-model".into(),
        None,
    )
}

/// An NLU that knows the intent of each text (the tests are about dialogue); anything
/// else is `nlu_fallback`.
struct TableNlu(HashMap<&'static str, (&'static str, Value)>);

impl TableNlu {
    fn new(table: &[(&'static str, &'static str)]) -> Self {
        Self(
            table
                .iter()
                .map(|(text, intent)| (*text, (*intent, json!([]))))
                .collect(),
        )
    }
}

impl Nlu for TableNlu {
    fn parse(&self, text: &str) -> Value {
        let (intent, entities) = self
            .0
            .get(text)
            .cloned()
            .unwrap_or(("nlu_fallback", json!([])));
        json!({"intent": {"name": intent, "confidence": 0.9}, "entities": entities,
               "intent_ranking": [{"name": intent, "confidence": 0.9}]})
    }
}

/// One conversation with a model; `say` returns the texts of the assistant's answer.
struct Chat<'a> {
    model: &'a DialogueModel,
    nlu: &'a dyn Nlu,
    actions: &'a dyn CustomActionExecutor,
    tracker: DialogueStateTracker,
    clock: f64,
}

impl<'a> Chat<'a> {
    fn new(model: &'a DialogueModel, nlu: &'a dyn Nlu) -> Self {
        Self::with_actions(model, nlu, &NoActionServer)
    }

    fn with_actions(
        model: &'a DialogueModel,
        nlu: &'a dyn Nlu,
        actions: &'a dyn CustomActionExecutor,
    ) -> Self {
        Self {
            model,
            nlu,
            actions,
            tracker: model.new_tracker("user"),
            clock: 1_000.0,
        }
    }

    fn say(&mut self, text: &str) -> Vec<String> {
        self.clock += 1.0;
        let t = self.clock;
        let now = move || t;
        let mut first = |_: usize| 0;
        let mut env = TurnEnv::new(&now, &mut first);
        let message = UserMessage {
            text: text.into(),
            ..UserMessage::default()
        };
        let out = block_on(self.model.handle_message(
            &mut self.tracker,
            self.nlu,
            self.actions,
            &message,
            &mut env,
        ));
        out.messages.iter().filter_map(|m| m.text.clone()).collect()
    }

    /// How many times `action` ran in the whole conversation.
    fn runs_of(&self, action: &str) -> usize {
        self.tracker
            .events()
            .iter()
            .filter(
                |e| matches!(&e.kind, EventKind::Action(a) if a.name.as_deref() == Some(action)),
            )
            .count()
    }
}

fn rules_nlu() -> TableNlu {
    TableNlu::new(&[
        ("hi", "greet"),
        ("stop", "stop"),
        ("yes", "affirm"),
        ("no", "deny"),
        ("a person please", "human"),
        ("thanks", "thank"),
    ])
}

#[test]
fn a_rule_that_begins_with_an_action_applies_only_after_it() {
    let project = load("rules-after-action");
    let model = model(&project);
    let nlu = rules_nlu();
    let mut chat = Chat::new(&model, &nlu);
    assert_eq!(chat.say("hi"), ["Hello, what can I do?"]);
    // No question of a rule was asked: the story answers `deny`, not "deny handoff".
    assert_eq!(chat.say("no"), ["Sorry to hear that."]);
    // Nothing knows `thank`: the core fallback, once; the rules' first actions are
    // never predicted on their own.
    assert_eq!(chat.say("thanks"), ["I did not get that."]);
    assert_eq!(chat.runs_of("utter_ask_stop"), 0);
    assert_eq!(chat.say("stop"), ["Do you want to stop?"]);
    assert_eq!(chat.say("no"), ["Let's go on then."]);
    assert_eq!(
        chat.say("a person please"),
        ["Shall I pass you to a person?"]
    );
    assert_eq!(chat.say("no"), ["Fine, I stay with you."]);
    assert_eq!(chat.say("stop"), ["Do you want to stop?"]);
    assert_eq!(chat.say("yes"), ["Bye."]);
    // Every turn ended listening after one answer.
    assert_eq!(chat.runs_of("utter_ask_stop"), 2);
    assert_eq!(chat.runs_of("action_default_fallback"), 1);
}

#[test]
fn the_prediction_names_the_rule_that_matched() {
    let project = load("rules-after-action");
    let model = model(&project);
    let nlu = rules_nlu();
    let mut chat = Chat::new(&model, &nlu);
    chat.say("stop");
    // The conversation is listening after the question; a `deny` comes in.
    let mut tracker = chat.tracker.clone();
    tracker.update(rusa_core::Event::new(
        EventKind::User(rusa_core::UserUttered {
            text: Some("no".into()),
            parse_data: json!({"intent": {"name": "deny", "confidence": 1.0}, "entities": []})
                .into(),
            input_channel: None,
            message_id: None,
        }),
        0.0,
    ));
    let prediction = model.policies.predict(&project.domain, &tracker);
    assert_eq!(prediction.action, "utter_continue");
    assert_eq!(prediction.policy, "RulePolicy");
    assert_eq!(prediction.rule.as_deref(), Some("stop denied"));
}

#[test]
fn rules_that_begin_with_an_action_do_not_contradict_stories_elsewhere() {
    // The story "greeting denied" answers `deny` where no rule's question was asked, and
    // "urgent handoff" goes on after the handoff question without listening: Rasa trains
    // both beside the rules.
    let project = load("rules-after-action");
    assert!(train(&project).is_ok(), "{:?}", train(&project).err());
}

#[test]
fn two_rules_with_the_same_start_and_different_actions_are_refused() {
    let project = load("contradicting-rules");
    let err = train(&project).expect_err("Rasa refuses these rules");
    assert!(err.contains("say goodbye"), "{err}");
    assert!(err.contains("say welcome"), "{err}");
    assert!(err.contains("utter_welcome"), "{err}");

    // With the check off, the state predicts nothing (as Rasa's lookup forgets it): the
    // core fallback answers.
    let mut project = project;
    for policy in project.config.policies.iter_mut().flatten() {
        if policy.name == "RulePolicy" {
            policy
                .params
                .insert("check_for_contradictions".into(), json!(false));
        }
    }
    let model = model(&project);
    let nlu = TableNlu::new(&[("bye", "goodbye")]);
    let mut chat = Chat::new(&model, &nlu);
    assert_eq!(chat.say("bye"), Vec::<String>::new());
    assert_eq!(chat.runs_of("action_default_fallback"), 1);
}

#[test]
fn a_core_fallback_on_a_sessions_first_message_runs_once() {
    let project = load("fallback-first-message");
    let model = model(&project);
    let nlu = TableNlu::new(&[("hello", "greet"), ("bye", "goodbye")]);
    let mut chat = Chat::new(&model, &nlu);
    assert_eq!(chat.say("what is this"), ["Sorry, I can't help with that."]);
    assert_eq!(chat.runs_of("action_default_fallback"), 1);
    assert_eq!(chat.tracker.latest_action_name(), Some("action_listen"));
    // Later turns are not followed by more fallbacks.
    assert_eq!(chat.say("hello"), ["Hello!"]);
    assert_eq!(chat.say("bye"), ["Goodbye."]);
    assert_eq!(chat.runs_of("action_default_fallback"), 1);
    assert_eq!(chat.say("what is that"), ["Sorry, I can't help with that."]);
    assert_eq!(chat.runs_of("action_default_fallback"), 2);
}

#[test]
fn a_slash_message_with_an_intent_the_domain_lacks_goes_to_the_nlu() {
    let project = load("fallback-first-message");
    let model = model(&project);
    let nlu = TableNlu::new(&[("/hello_there", "greet")]);
    let mut chat = Chat::new(&model, &nlu);
    // `hello_there` is not an intent of the domain: the NLU understands the text.
    assert_eq!(chat.say("/hello_there"), ["Hello!"]);
    let parsed = chat.tracker.latest_message().unwrap().intent_name();
    assert_eq!(parsed, Some("greet"));
    // An intent of the domain is taken as written, without the NLU.
    assert_eq!(chat.say("/goodbye"), ["Goodbye."]);
    assert_eq!(
        chat.tracker.latest_message().unwrap().parse_data["intent"]["confidence"],
        1.0
    );
}

#[test]
fn a_form_interrupted_by_a_rule_asks_its_question_again() {
    let project = load("form-interrupted-by-rule");
    let model = model(&project);
    let mut table = HashMap::new();
    table.insert("a pizza", ("order_pizza", json!([])));
    table.insert("how are you", ("chitchat", json!([])));
    table.insert(
        "large",
        ("inform", json!([{"entity": "size", "value": "large"}])),
    );
    let nlu = TableNlu(table);
    let mut chat = Chat::new(&model, &nlu);
    assert_eq!(chat.say("a pizza"), ["Which size?"]);
    assert_eq!(
        chat.say("how are you"),
        ["I only talk about pizza.", "Which size?"]
    );
    assert_eq!(chat.tracker.active_loop_name(), Some("pizza_form"));
    assert_eq!(chat.say("large"), ["A large pizza is on its way."]);
    assert_eq!(chat.tracker.active_loop_name(), None);
}

#[test]
fn a_story_that_goes_on_otherwise_inside_a_form_is_not_overruled_by_the_loop() {
    // The story "the menu during the order" asks whether to go on after the menu; the rule
    // "the menu anywhere" listens after it. Rasa trains this, and follows the story.
    let project = load("form-interrupted-by-rule");
    let model = model(&project);
    let mut table = HashMap::new();
    table.insert("a pizza", ("order_pizza", json!([])));
    table.insert("the menu?", ("ask_menu", json!([])));
    let nlu = TableNlu(table);
    let mut chat = Chat::new(&model, &nlu);
    assert_eq!(chat.say("a pizza"), ["Which size?"]);
    assert_eq!(
        chat.say("the menu?"),
        ["Margherita or funghi.", "Shall we go on with your order?"]
    );
}

/// An action server in the test: the project's `action_session_start` starts the session
/// and preloads the account's tier, as a rasa-sdk action would; every call is recorded.
#[derive(Default)]
struct AccountServer {
    calls: Mutex<Vec<String>>,
}

impl CustomActionExecutor for AccountServer {
    fn run<'a>(
        &'a self,
        action: &'a str,
        _tracker: &'a DialogueStateTracker,
        _domain: &'a rusa_project::Domain,
    ) -> BoxFuture<'a, Result<ActionOutcome, ActionError>> {
        Box::pin(async move {
            self.calls.lock().unwrap().push(action.to_owned());
            if action != "action_session_start" {
                return Err(ActionError::Failed {
                    action: action.to_owned(),
                    message: "unknown action".into(),
                });
            }
            let listen = EventKind::Action(ActionExecuted {
                name: Some("action_listen".into()),
                policy: None,
                confidence: None,
                action_text: None,
                hide_rule_turn: false,
            });
            Ok(ActionOutcome {
                events: vec![
                    Event::new(EventKind::SessionStarted, 0.0),
                    Event::new(
                        EventKind::Slot {
                            name: "account_tier".into(),
                            value: json!("gold"),
                        },
                        0.0,
                    ),
                    Event::new(listen, 0.0),
                ],
                messages: Vec::new(),
            })
        })
    }
}

#[test]
fn a_custom_action_session_start_runs_on_the_action_server_at_every_session_start() {
    let project = load("custom-session-start");
    let model = model(&project);
    let nlu = TableNlu::new(&[("hello", "greet")]);
    let server = AccountServer::default();
    let mut chat = Chat::with_actions(&model, &nlu, &server);
    assert_eq!(chat.say("hello"), ["Welcome back, gold member."]);
    assert_eq!(*server.calls.lock().unwrap(), ["action_session_start"]);
    assert_eq!(chat.tracker.slot("account_tier"), Some(&json!("gold")));
    // The same session: no new start.
    assert_eq!(chat.say("hello"), ["Welcome back, gold member."]);
    assert_eq!(server.calls.lock().unwrap().len(), 1);
    // The session expires (10 minutes) and slots are not carried over: the action server
    // starts the new session and fills the slot again.
    chat.clock += 11.0 * 60.0;
    assert_eq!(chat.say("hello"), ["Welcome back, gold member."]);
    assert_eq!(server.calls.lock().unwrap().len(), 2);
    let starts = chat
        .tracker
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::SessionStarted))
        .count();
    assert_eq!(starts, 2);
    // `/restart` starts a session too.
    assert_eq!(chat.say("/restart"), Vec::<String>::new());
    assert_eq!(server.calls.lock().unwrap().len(), 3);
    assert_eq!(chat.tracker.latest_action_name(), Some("action_listen"));
}

/// An action server that is down until it is brought up; up, it accepts every seat.
#[derive(Default)]
struct FlakyValidator {
    up: Mutex<bool>,
    calls: Mutex<usize>,
}

impl CustomActionExecutor for FlakyValidator {
    fn run<'a>(
        &'a self,
        action: &'a str,
        _tracker: &'a DialogueStateTracker,
        _domain: &'a rusa_project::Domain,
    ) -> BoxFuture<'a, Result<ActionOutcome, ActionError>> {
        Box::pin(async move {
            assert_eq!(action, "validate_ticket_form");
            *self.calls.lock().unwrap() += 1;
            if *self.up.lock().unwrap() {
                Ok(ActionOutcome::default())
            } else {
                Err(ActionError::Failed {
                    action: action.to_owned(),
                    message: "connection refused".into(),
                })
            }
        })
    }
}

#[test]
fn a_form_whose_validation_action_cannot_run_loses_its_events() {
    let project = load("form-validation-unreachable");
    let model = model(&project);
    let mut table = HashMap::new();
    table.insert("a ticket", ("book_ticket", json!([])));
    table.insert(
        "seat 12A",
        ("inform", json!([{"entity": "seat", "value": "12A"}])),
    );
    table.insert(
        "seat 14C then",
        ("inform", json!([{"entity": "seat", "value": "14C"}])),
    );
    let nlu = TableNlu(table);
    let server = FlakyValidator::default();
    let mut chat = Chat::with_actions(&model, &nlu, &server);
    assert_eq!(chat.say("a ticket"), ["Which seat?"]);
    // The validation cannot run: the form runs, says nothing and stays where it was; the
    // assistant listens.
    assert_eq!(chat.say("seat 12A"), Vec::<String>::new());
    assert_eq!(*server.calls.lock().unwrap(), 1);
    assert_eq!(chat.tracker.active_loop_name(), Some("ticket_form"));
    assert_eq!(
        chat.tracker.slot("requested_slot"),
        Some(&json!("seat")),
        "the form's events are lost"
    );
    assert_eq!(chat.runs_of("utter_booked"), 0);
    assert_eq!(chat.tracker.latest_action_name(), Some("action_listen"));
    // With the action server back, the answer is validated and the form finishes.
    *server.up.lock().unwrap() = true;
    assert_eq!(chat.say("seat 14C then"), ["Seat 14C is yours."]);
    assert_eq!(chat.tracker.active_loop_name(), None);
}
