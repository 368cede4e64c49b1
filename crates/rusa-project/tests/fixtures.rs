//! Loading the real projects of `shared/fixtures` and a few hand-written files.

use std::path::{Path, PathBuf};

use rusa_project::{
    MappingType, Project, ProjectPaths, SlotType, StepKind, load_credentials, load_endpoints,
    load_endpoints_with, load_test_stories,
};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(rel)
}

fn load(rel: &str) -> Project {
    Project::load(&ProjectPaths::in_dir(&fixture(rel))).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn moodbot_loads_whole() {
    let p = load("moodbot");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert_eq!(p.config.recipe, "default.v1");
    assert_eq!(p.config.language, "en");
    assert_eq!(
        p.config.assistant_id.as_deref(),
        Some("placeholder_default")
    );
    assert!(
        p.config.pipeline.is_none(),
        "a commented-out pipeline means the default"
    );
    assert!(p.config.policies.is_none());
    assert_eq!(p.domain.intents.len(), 7);
    assert_eq!(p.domain.responses.len(), 6);
    assert_eq!(
        p.domain.responses["utter_cheer_up"].variations[0]
            .image
            .as_deref(),
        Some("https://i.imgur.com/nGF1K8f.jpg")
    );
    assert_eq!(p.domain.session_config.session_expiration_time, 60.0);
    assert_eq!(p.nlu.examples.len(), 68);
    assert_eq!(p.stories.len(), 3);
    assert_eq!(p.rules.len(), 2);

    let mut warnings = Vec::new();
    let tests = load_test_stories(&fixture("moodbot/tests"), &mut warnings).unwrap();
    assert_eq!(tests.len(), 7);
    let StepKind::User { intent, text, .. } = &tests[0].steps[0].kind else {
        panic!("a user step")
    };
    assert_eq!(intent.as_deref(), Some("greet"));
    assert_eq!(text.as_deref(), Some("hello there!"));

    // Only comments: no endpoint is configured.
    let endpoints = load_endpoints(&fixture("moodbot/endpoints.yml"), &mut warnings)
        .unwrap()
        .unwrap();
    assert!(
        endpoints.action_endpoint.is_none()
            && endpoints.tracker_store.is_none()
            && endpoints.tracing.is_none()
    );
    // `rest:` is served; `rasa:` is Rasa's own channel, skipped with a warning.
    let credentials = load_credentials(&fixture("moodbot/credentials.yml"), &mut warnings)
        .unwrap()
        .unwrap();
    assert_eq!(credentials.channels.keys().collect::<Vec<_>>(), ["rest"]);
    assert!(
        warnings
            .iter()
            .any(|w| w.message.contains("'rasa' channel")),
        "{warnings:?}"
    );
}

#[test]
fn helpdesk_forms_and_conditional_mappings() {
    let p = load("helpdesk-assistant");
    let incident_title = p.domain.slot("incident_title").unwrap();
    assert_eq!(
        incident_title.mappings[0].mapping_type,
        MappingType::FromTriggerIntent
    );
    assert_eq!(
        incident_title.mappings[0].conditions[0]
            .active_loop
            .as_deref(),
        Some("open_incident_form")
    );
    assert_eq!(
        incident_title.mappings[2].mapping_type,
        MappingType::FromText
    );
    assert!(
        incident_title.mappings[2]
            .not_intent
            .contains(&"bot_challenge".to_owned())
    );
    assert_eq!(p.domain.slot("confirm").unwrap().slot_type, SlotType::Bool);
    assert_eq!(
        p.domain
            .intent("open_incident")
            .unwrap()
            .use_entities
            .as_deref(),
        Some(&[][..])
    );
    assert!(!p.domain.forms.is_empty());
    assert_eq!(p.config.max_history(), Some(4));
    assert!(
        p.stories
            .iter()
            .flat_map(|s| &s.steps)
            .any(|s| matches!(&s.kind, StepKind::Or(a) if a.len() == 3))
    );
    assert_eq!(p.nlu.synonyms.len(), 1);
    assert_eq!(p.nlu.synonyms[0].value, "high");
    assert!(p.nlu.entity_examples().count() >= 8);
    let mut warnings = Vec::new();
    let tests = load_test_stories(&fixture("helpdesk-assistant/tests"), &mut warnings).unwrap();
    assert!(!tests.is_empty());
}

#[test]
fn every_rasa_example_loads() {
    for name in [
        "concertbot",
        "e2ebot",
        "reminderbot",
        "responseselectorbot",
        "rules",
    ] {
        let p = load(&format!("rasa-examples/{name}"));
        assert!(!p.nlu.examples.is_empty(), "{name}");
    }
}

#[test]
fn crlf_files_and_end_to_end_steps() {
    let p = load("rasa-examples/e2ebot");
    assert!(!p.domain.intents.is_empty());
    let texts: Vec<&str> = p
        .stories
        .iter()
        .flat_map(|s| &s.steps)
        .filter_map(|s| match &s.kind {
            StepKind::User {
                intent: None,
                text: Some(t),
                ..
            } => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert!(texts.contains(&"I can always go for sushi"), "{texts:?}");
    assert!(texts.iter().all(|t| !t.ends_with('\r')));
}

#[test]
fn retrieval_intents_and_their_responses() {
    let p = load("rasa-examples/responseselectorbot");
    let faq: Vec<_> = p
        .nlu
        .examples
        .iter()
        .filter(|e| e.response_key().is_some())
        .collect();
    assert!(!faq.is_empty());
    assert_eq!(faq[0].base_intent(), "chitchat");
    // Responses written in a training data file join the domain's.
    assert!(p.domain.responses.contains_key("utter_chitchat/ask_name"));
    assert!(p.data_responses.contains_key("utter_chitchat/ask_name"));
}

#[test]
fn concertbot_list_and_bool_slots_with_custom_mappings() {
    let p = load("rasa-examples/concertbot");
    assert!(p.domain.slots.iter().any(|s| s.slot_type == SlotType::List));
    assert!(
        p.domain
            .slots
            .iter()
            .flat_map(|s| &s.mappings)
            .any(|m| m.mapping_type == MappingType::Custom)
    );
}

#[test]
fn endpoints_substitute_environment_variables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("endpoints.yml");
    std::fs::write(
        &path,
        "action_endpoint:\n  url: http://${RUSA_TEST_ACTIONS_HOST}:5055/webhook\n  token: ${RUSA_TEST_ACTIONS_TOKEN}\ntracker_store:\n  type: sql\n  dialect: postgresql\n  url: localhost\n  port: 5432\nlock_store:\n  type: redis\n  key_prefix: bot1\nevent_broker:\n  type: pika\n  queues: [a, b]\ntracing:\n",
    )
    .unwrap();
    let env = |name: &str| match name {
        "RUSA_TEST_ACTIONS_HOST" => Some("actions.internal".to_owned()),
        "RUSA_TEST_ACTIONS_TOKEN" => Some("s3cret".to_owned()),
        _ => None,
    };
    let endpoints = load_endpoints_with(&path, &env, &mut Vec::new())
        .unwrap()
        .unwrap();
    let action = endpoints.action_endpoint.unwrap();
    assert_eq!(
        action.url.as_deref(),
        Some("http://actions.internal:5055/webhook")
    );
    assert_eq!(action.param_str("token").as_deref(), Some("s3cret"));
    let store = endpoints.tracker_store.unwrap();
    assert_eq!(store.kind.as_deref(), Some("sql"));
    assert_eq!(store.param_str("port").as_deref(), Some("5432"));
    assert_eq!(store.pos_of("port").line, 8);
    assert_eq!(
        endpoints
            .lock_store
            .unwrap()
            .param_str("key_prefix")
            .as_deref(),
        Some("bot1")
    );
    assert_eq!(
        endpoints.event_broker.unwrap().params["queues"],
        serde_json::json!(["a", "b"])
    );
    assert!(
        endpoints.tracing.is_none(),
        "an empty tracing key turns tracing off"
    );
}

#[test]
fn an_unset_variable_is_an_error_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("endpoints.yml");
    std::fs::write(
        &path,
        "action_endpoint:\n  url: http://${RUSA_TEST_SURELY_UNSET_VARIABLE}/webhook\n",
    )
    .unwrap();
    let err = load_endpoints(&path, &mut Vec::new()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.ends_with(
            "endpoints.yml:2:8: environment variable 'RUSA_TEST_SURELY_UNSET_VARIABLE' is not set"
        ),
        "{text}"
    );
    assert!(err.hint().is_some());
}

#[test]
fn unknown_channels_are_errors_naming_the_supported_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.yml");
    std::fs::write(&path, "rest:\nrset:\n  x: 1\n").unwrap();
    let err = load_credentials(&path, &mut Vec::new()).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("credentials.yml:2:1: unknown channel 'rset' (did you mean 'rest'?)"),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("rest, callback"));
}

#[test]
fn unknown_training_data_sections_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::write(root.join("config.yml"), "language: en\n").unwrap();
    std::fs::write(root.join("domain.yml"), "intents: [greet]\n").unwrap();
    std::fs::write(
        root.join("data/nlu.yml"),
        "version: \"3.1\"\nstorys:\n- story: x\n  steps: []\n",
    )
    .unwrap();
    let err = Project::load(&ProjectPaths::in_dir(root)).unwrap_err();
    assert!(err.to_string().ends_with("nlu.yml:2:1: unknown section 'storys' in a training data file (did you mean 'stories'?)"), "{err}");
}

#[test]
fn files_named_test_in_data_hold_test_stories() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("data/sub")).unwrap();
    std::fs::write(root.join("config.yml"), "").unwrap();
    std::fs::write(root.join("domain.yml"), "intents: [greet]\n").unwrap();
    std::fs::write(
        root.join("data/sub/test_flows.yml"),
        "stories:\n- story: t\n  steps:\n  - user: hi\n    intent: greet\n",
    )
    .unwrap();
    std::fs::write(
        root.join("data/sub/stories.yml"),
        "stories:\n- story: s\n  steps:\n  - intent: greet\n",
    )
    .unwrap();
    let p = Project::load(&ProjectPaths::in_dir(root)).unwrap();
    assert_eq!(p.stories.len(), 1);
    assert_eq!(p.test_stories.len(), 1);
    assert_eq!(p.data_files.len(), 2, "data/ is searched recursively");
}

#[test]
fn unsupported_versions_warn() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::write(root.join("config.yml"), "").unwrap();
    std::fs::write(
        root.join("domain.yml"),
        "version: \"1.0\"\nintents: [greet]\n",
    )
    .unwrap();
    let p = Project::load(&ProjectPaths::in_dir(root)).unwrap();
    assert!(
        p.warnings
            .iter()
            .any(|w| w.message.contains("format version '1.0'")),
        "{:?}",
        p.warnings
    );
}
