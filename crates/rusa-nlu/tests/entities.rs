//! Entity extraction on the starter project `rusa init` writes (examples/weatherbot): a lone
//! city name, the answer to the form's "Which city?", is found as a city.

use std::path::Path;

use rusa_nlu::{NluModel, TrainOptions};
use rusa_project::{Project, ProjectPaths};

fn starter() -> NluModel {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/weatherbot");
    let project = Project::load(&ProjectPaths::in_dir(&dir)).expect("the starter project loads");
    NluModel::train(
        project.config.pipeline.as_deref(),
        &project.nlu,
        &TrainOptions::default(),
    )
    .expect("the starter project trains")
}

fn cities(model: &NluModel, text: &str) -> Vec<String> {
    model
        .parse(text)
        .entities
        .iter()
        .filter(|e| e.entity == "city")
        .map(|e| e.value.as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_lone_city_answers_which_city() {
    let model = starter();
    // In the lookup table, not in any example.
    assert_eq!(cities(&model, "Berlin"), ["Berlin"]);
    assert_eq!(cities(&model, "San Francisco"), ["San Francisco"]);
    // In neither: its shape and its being alone make it a city.
    assert_eq!(cities(&model, "Leipzig"), ["Leipzig"]);
    // Lower case, as people type in chat: the default pipeline matches lookup tables
    // regardless of case.
    assert_eq!(cities(&model, "berlin"), ["berlin"]);
    // In a sentence.
    assert_eq!(cities(&model, "I am in Berlin"), ["Berlin"]);
    assert_eq!(cities(&model, "will it rain in Munich?"), ["Munich"]);
    // Not every message is a city.
    assert!(cities(&model, "hello").is_empty());
    assert!(cities(&model, "thanks").is_empty());
    assert!(cities(&model, "are you a bot?").is_empty());
}
