//! Parsing arbitrary text never panics, with every component in the pipeline.

use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use rusa_nlu::{NluModel, Pipeline};
use rusa_project::{Component, Pos, Project, ProjectPaths};

fn model() -> &'static NluModel {
    static MODEL: OnceLock<NluModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/helpdesk-assistant");
        let mut project = Project::load(&ProjectPaths::in_dir(&dir)).expect("fixture loads");
        // Give the regex components something to work with.
        let pos = Pos::new(std::sync::Arc::from(Path::new("test")), 1, 1);
        project.nlu.regexes.push(rusa_project::RegexPattern {
            name: "priority".into(),
            patterns: vec![(r"(?i)\bP[0-4]\b".into(), pos.clone())],
            pos: pos.clone(),
        });
        project.nlu.lookups.push(rusa_project::LookupTable {
            name: "priority".into(),
            elements: vec!["low".into(), "médium".into(), "high".into()],
            pos: pos.clone(),
        });
        let names = [
            "WhitespaceTokenizer",
            "RegexFeaturizer",
            "LexicalSyntacticFeaturizer",
            "CountVectorsFeaturizer",
            "LogisticRegressionClassifier",
            "KeywordIntentClassifier",
            "CRFEntityExtractor",
            "RegexEntityExtractor",
            "EntitySynonymMapper",
            "ResponseSelector",
            "FallbackClassifier",
        ];
        let mut config: Vec<Component> = names
            .iter()
            .map(|n| Component {
                name: (*n).into(),
                params: serde_json::Map::new(),
                pos: pos.clone(),
            })
            .collect();
        config.insert(
            4,
            Component {
                name: "CountVectorsFeaturizer".into(),
                params: serde_json::json!({"analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4})
                    .as_object()
                    .cloned()
                    .expect("an object"),
                pos,
            },
        );
        Pipeline::from_config(Some(&config), true)
            .expect("all components are implemented")
            .train(&project.nlu, 3)
            .expect("trains")
    })
}

#[test]
fn every_component_runs_on_odd_input() {
    let m = model();
    for text in [
        "",
        " ",
        "?!",
        "P1 P1 p2",
        "🙂🙂",
        "a\u{0}b",
        "é",
        "low low HIGH medium",
    ] {
        let parsed = m.parse(text);
        for e in &parsed.entities {
            assert!(
                e.start < e.end && e.end <= text.chars().count(),
                "{parsed:?}"
            );
        }
        let _ = serde_json::to_string(&parsed).expect("serialises");
    }
}

proptest! {
    #[test]
    fn parse_never_panics(text in "\\PC{0,60}") {
        let parsed = model().parse(&text);
        let n = text.chars().count();
        for [s, e] in &parsed.text_tokens {
            prop_assert!(s < e && *e <= n);
        }
        for e in &parsed.entities {
            prop_assert!(e.start < e.end && e.end <= n);
        }
    }
}
