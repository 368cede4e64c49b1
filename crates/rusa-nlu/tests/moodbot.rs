//! Trains the NLU pipeline on real projects and parses as Rasa did.

use std::path::{Path, PathBuf};

use rusa_nlu::{NluModel, TrainOptions};
use rusa_project::{Project, ProjectPaths};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(name)
}

fn load(dir: &Path) -> Project {
    Project::load(&ProjectPaths::in_dir(dir)).expect("fixture project loads")
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn moodbot_parses_like_rasa() {
    let project = load(&fixture("moodbot"));
    let model = NluModel::train(
        project.config.pipeline.as_deref(),
        &project.nlu,
        &TrainOptions::default(),
    )
    .unwrap();
    assert!(model.substitutions.is_empty());

    let hello = model.parse("hello");
    assert_eq!(hello.intent.name.as_deref(), Some("greet"));
    assert!(hello.intent.confidence > 0.5, "{hello:?}");
    assert_eq!(hello.text_tokens, [[0, 5]]);

    let sad = model.parse("I am sad");
    assert_eq!(sad.intent.name.as_deref(), Some("mood_unhappy"));
    assert_eq!(sad.text_tokens, [[0, 1], [2, 4], [5, 8]]);
    assert_eq!(sad.intent_ranking.len(), 7);
    let total: f64 = sad.intent_ranking.iter().map(|i| i.confidence).sum();
    assert!((total - 1.0).abs() < 1e-3);

    for (name, parsed) in [("hello", &hello), ("sad", &sad)] {
        let sample: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                fixture("moodbot").join(format!("samples/model_parse_{name}.json")),
            )
            .unwrap(),
        )
        .unwrap();
        let ours = serde_json::to_value(parsed).unwrap();
        assert_eq!(keys(&ours), keys(&sample));
        assert_eq!(keys(&ours["intent"]), keys(&sample["intent"]));
        assert_eq!(
            keys(&ours["response_selector"]),
            keys(&sample["response_selector"])
        );
        assert_eq!(
            ours["response_selector"], sample["response_selector"],
            "no retrieval intents: Rasa's empty selector output"
        );
        assert_eq!(
            keys(&ours["intent_ranking"][0]),
            keys(&sample["intent_ranking"][0])
        );
    }
}

#[test]
fn training_is_deterministic() {
    let project = load(&fixture("moodbot"));
    let train = |seed| {
        NluModel::train(
            None,
            &project.nlu,
            &TrainOptions {
                random_seed: seed,
                ..TrainOptions::default()
            },
        )
        .unwrap()
    };
    let (a, b) = (train(7), train(7));
    assert_eq!(a.to_json().unwrap(), b.to_json().unwrap());
    assert_eq!(a.parse("I am sad"), b.parse("I am sad"));
    let c = train(8);
    assert_ne!(a.to_json().unwrap(), c.to_json().unwrap());

    // A saved model parses exactly as the trained one.
    let restored = NluModel::from_json(&a.to_json().unwrap()).unwrap();
    for text in ["hello", "I am sad", "are you a bot?", "great!"] {
        assert_eq!(restored.parse(text), a.parse(text));
    }
}

#[test]
fn helpdesk_entities_and_synonyms() {
    let project = load(&fixture("helpdesk-assistant"));
    let model = NluModel::train(
        project.config.pipeline.as_deref(),
        &project.nlu,
        &TrainOptions::default(),
    )
    .unwrap();
    let subs: Vec<&str> = model
        .substitutions
        .iter()
        .map(|s| s.rasa.as_str())
        .collect();
    assert_eq!(subs, ["DIETClassifier", "DucklingEntityExtractor"]);
    let parsed = model.parse("it should be a high priority");
    let priority: Vec<_> = parsed
        .entities
        .iter()
        .filter(|e| e.entity == "priority")
        .collect();
    assert_eq!(priority.len(), 1, "{parsed:?}");
    assert_eq!(priority[0].value, "high");
    assert_eq!((priority[0].start, priority[0].end), (15, 19));
    assert_eq!(priority[0].extractor, "CRFEntityExtractor");
    assert!(priority[0].confidence_entity.is_some());
    assert!(priority[0].processors.is_empty());

    // An annotated synonym: the value is mapped and the mapper is named.
    let parsed = model.parse("this is urgent");
    let priority: Vec<_> = parsed
        .entities
        .iter()
        .filter(|e| e.entity == "priority")
        .collect();
    assert_eq!(priority.len(), 1, "{parsed:?}");
    assert_eq!(priority[0].value, "high");
    assert_eq!(priority[0].processors, ["EntitySynonymMapper"]);
}

#[test]
fn response_selector_on_retrieval_intents() {
    let project = load(&fixture("rasa-examples/responseselectorbot"));
    let model = NluModel::train(
        project.config.pipeline.as_deref(),
        &project.nlu,
        &TrainOptions::default(),
    )
    .unwrap();
    let parsed = model.parse("what is your name?");
    assert_eq!(parsed.intent.name.as_deref(), Some("chitchat"));
    let selector = &parsed.response_selector;
    assert_eq!(selector.all_retrieval_intents, ["chitchat"]);
    let default = &selector.selectors["default"];
    assert_eq!(
        default.response.intent_response_key.as_deref(),
        Some("chitchat/ask_name")
    );
    assert_eq!(default.response.utter_action, "utter_chitchat/ask_name");
    assert!(default.ranking.len() >= 2);
    let json = serde_json::to_value(&parsed).unwrap();
    assert!(json["response_selector"]["default"]["ranking"][0]["id"].is_i64());
    assert!(json["response_selector"]["default"]["response"]["responses"].is_null());

    let mut parsed = parsed;
    parsed.fill_responses(|action| {
        project
            .domain
            .responses
            .contains_key(action)
            .then(|| serde_json::json!([{"text": action}]))
    });
    let filled = &parsed.response_selector.selectors["default"]
        .response
        .responses;
    assert_eq!(
        filled,
        &Some(serde_json::json!([{"text": "utter_chitchat/ask_name"}]))
    );

    // The model is shared between server threads.
    fn shareable<T: Send + Sync>(_: &T) {}
    shareable(&model);
}
