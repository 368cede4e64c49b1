//! Building a pipeline from config.yml, training it, and the trained [`NluModel`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::classifiers::fallback::FallbackClassifier;
use crate::classifiers::keyword::KeywordIntentClassifier;
use crate::classifiers::logistic::LogisticRegressionClassifier;
use crate::component::NluComponent;
use crate::error::{NluError, Result};
use crate::extractors::crf::CrfEntityExtractor;
use crate::extractors::regex::RegexEntityExtractor;
use crate::extractors::synonyms::EntitySynonymMapper;
use crate::featurizers::count_vectors::{CountVectorsConfig, CountVectorsFeaturizer};
use crate::featurizers::lexical::LexicalSyntacticFeaturizer;
use crate::featurizers::regex::RegexFeaturizer;
use crate::message::{Message, ParseResult};
use crate::params::Params;
use crate::response_selector::ResponseSelector;
use crate::tokenizer::WhitespaceTokenizer;
use crate::training::TrainingView;

/// The version of the saved form of trained components and models. Saved state with
/// another version is refused ([`NluError::FormatVersion`]); bump it whenever a
/// component's saved fields change meaning. Version 2: the CRF keeps weights only for
/// (feature, label) pairs seen in training and factored BILOU transitions.
pub const FORMAT_VERSION: u32 = 2;

/// The seed used when neither the caller nor a component's `random_seed` gives one.
pub const DEFAULT_RANDOM_SEED: u64 = 42;

/// Any pipeline component, trained or not. Serialises as an object whose `component`
/// field is the Rasa name and whose other fields are the component's parameters and
/// trained state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "component")]
pub enum AnyComponent {
    WhitespaceTokenizer(WhitespaceTokenizer),
    RegexFeaturizer(RegexFeaturizer),
    LexicalSyntacticFeaturizer(LexicalSyntacticFeaturizer),
    CountVectorsFeaturizer(CountVectorsFeaturizer),
    LogisticRegressionClassifier(LogisticRegressionClassifier),
    KeywordIntentClassifier(KeywordIntentClassifier),
    #[serde(rename = "CRFEntityExtractor")]
    CrfEntityExtractor(CrfEntityExtractor),
    RegexEntityExtractor(RegexEntityExtractor),
    EntitySynonymMapper(EntitySynonymMapper),
    FallbackClassifier(FallbackClassifier),
    ResponseSelector(ResponseSelector),
}

/// The Rasa names of the components rusa implements.
pub const IMPLEMENTED_COMPONENTS: &[&str] = &[
    "WhitespaceTokenizer",
    "RegexFeaturizer",
    "LexicalSyntacticFeaturizer",
    "CountVectorsFeaturizer",
    "LogisticRegressionClassifier",
    "KeywordIntentClassifier",
    "CRFEntityExtractor",
    "RegexEntityExtractor",
    "EntitySynonymMapper",
    "FallbackClassifier",
    "ResponseSelector",
];

impl AnyComponent {
    /// A component from its Rasa name and config.yml parameters; `Ok(None)` for a name
    /// rusa does not implement.
    pub fn from_config(name: &str, params: &Map<String, Value>) -> Result<Option<Self>> {
        let p = Params::new(name, params);
        Ok(Some(match name {
            "WhitespaceTokenizer" => Self::WhitespaceTokenizer(WhitespaceTokenizer::default()),
            "RegexFeaturizer" => Self::RegexFeaturizer(RegexFeaturizer::from_params(&p)?),
            "LexicalSyntacticFeaturizer" => {
                Self::LexicalSyntacticFeaturizer(LexicalSyntacticFeaturizer::from_params(&p)?)
            }
            "CountVectorsFeaturizer" => Self::CountVectorsFeaturizer(CountVectorsFeaturizer::new(
                CountVectorsConfig::from_params(&p)?,
            )),
            "LogisticRegressionClassifier" => {
                Self::LogisticRegressionClassifier(LogisticRegressionClassifier::from_params(&p)?)
            }
            "KeywordIntentClassifier" => {
                Self::KeywordIntentClassifier(KeywordIntentClassifier::from_params(&p)?)
            }
            "CRFEntityExtractor" => Self::CrfEntityExtractor(CrfEntityExtractor::from_params(&p)?),
            "RegexEntityExtractor" => {
                Self::RegexEntityExtractor(RegexEntityExtractor::from_params(&p)?)
            }
            "EntitySynonymMapper" => Self::EntitySynonymMapper(EntitySynonymMapper::default()),
            "FallbackClassifier" => Self::FallbackClassifier(FallbackClassifier::from_params(&p)?),
            "ResponseSelector" => Self::ResponseSelector(ResponseSelector::from_params(&p)?),
            _ => return Ok(None),
        }))
    }

    fn inner(&self) -> &dyn NluComponent {
        match self {
            Self::WhitespaceTokenizer(c) => c,
            Self::RegexFeaturizer(c) => c,
            Self::LexicalSyntacticFeaturizer(c) => c,
            Self::CountVectorsFeaturizer(c) => c,
            Self::LogisticRegressionClassifier(c) => c,
            Self::KeywordIntentClassifier(c) => c,
            Self::CrfEntityExtractor(c) => c,
            Self::RegexEntityExtractor(c) => c,
            Self::EntitySynonymMapper(c) => c,
            Self::FallbackClassifier(c) => c,
            Self::ResponseSelector(c) => c,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn NluComponent {
        match self {
            Self::WhitespaceTokenizer(c) => c,
            Self::RegexFeaturizer(c) => c,
            Self::LexicalSyntacticFeaturizer(c) => c,
            Self::CountVectorsFeaturizer(c) => c,
            Self::LogisticRegressionClassifier(c) => c,
            Self::KeywordIntentClassifier(c) => c,
            Self::CrfEntityExtractor(c) => c,
            Self::RegexEntityExtractor(c) => c,
            Self::EntitySynonymMapper(c) => c,
            Self::FallbackClassifier(c) => c,
            Self::ResponseSelector(c) => c,
        }
    }

    /// The saved form: `{"format_version": FORMAT_VERSION, "state": {...}}`.
    pub fn to_saved(&self) -> Result<Value> {
        let state = serde_json::to_value(self).map_err(|e| NluError::State(e.to_string()))?;
        Ok(json!({ "format_version": FORMAT_VERSION, "state": state }))
    }

    /// Restores a component saved by [`AnyComponent::to_saved`].
    pub fn from_saved(saved: &Value) -> Result<Self> {
        check_version(saved)?;
        let state = saved
            .get("state")
            .ok_or_else(|| NluError::State("missing 'state'".into()))?;
        serde_json::from_value(state.clone()).map_err(|e| NluError::State(e.to_string()))
    }

    fn is_tokenizer(&self) -> bool {
        matches!(self, Self::WhitespaceTokenizer(_))
    }

    fn is_intent_classifier(&self) -> bool {
        matches!(
            self,
            Self::LogisticRegressionClassifier(_) | Self::KeywordIntentClassifier(_)
        )
    }
}

/// Tells each CRF extractor whether an intent classifier runs before it (its `intent`
/// feature needs one).
fn link_components(components: &mut [AnyComponent]) {
    let mut intent_before = false;
    for c in components {
        if let AnyComponent::CrfEntityExtractor(crf) = c {
            crf.intent_known = intent_before;
        }
        intent_before |= c.is_intent_classifier();
    }
}

fn check_version(saved: &Value) -> Result<()> {
    let found = saved
        .get("format_version")
        .and_then(Value::as_u64)
        .ok_or_else(|| NluError::State("missing 'format_version'".into()))?;
    if found != FORMAT_VERSION as u64 {
        return Err(NluError::FormatVersion {
            found: found.min(u32::MAX as u64) as u32,
            expected: FORMAT_VERSION,
        });
    }
    Ok(())
}

impl NluComponent for AnyComponent {
    fn name(&self) -> &'static str {
        self.inner().name()
    }

    fn train(&mut self, data: &TrainingView, seed: u64) -> Result<()> {
        let name = self.name();
        let _span = tracing::debug_span!("train_component", component = name).entered();
        self.inner_mut().train(data, seed)
    }

    fn process(&self, message: &mut Message) {
        self.inner().process(message)
    }

    fn annotates_training_data(&self) -> bool {
        self.inner().annotates_training_data()
    }
}

/// A Rasa component rusa replaced (or dropped) to keep a project training.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Substitution {
    /// The name in config.yml.
    pub rasa: String,
    /// The rusa components used instead, in order; empty when it was dropped.
    pub rusa: Vec<String>,
    pub reason: String,
}

impl Substitution {
    /// `LogisticRegressionClassifier + CRFEntityExtractor`, or `nothing (dropped)`.
    pub fn rusa_display(&self) -> String {
        if self.rusa.is_empty() {
            "nothing (dropped)".to_owned()
        } else {
            self.rusa.join(" + ")
        }
    }
}

impl std::fmt::Display for Substitution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} → {}: {}",
            self.rasa,
            self.rusa_display(),
            self.reason
        )
    }
}

/// Rasa's components that rusa does not implement but replaces or leaves out; with
/// [`IMPLEMENTED_COMPONENTS`], every component name rusa reads.
const REPLACED_COMPONENTS: &[&str] = &[
    "DIETClassifier",
    "SklearnIntentClassifier",
    "MitieIntentClassifier",
    "MitieEntityExtractor",
    "SpacyTokenizer",
    "MitieTokenizer",
    "JiebaTokenizer",
    "ConveRTTokenizer",
    "LanguageModelTokenizer",
    "SpacyNLP",
    "MitieNLP",
    "HFTransformersNLP",
    "SpacyFeaturizer",
    "ConveRTFeaturizer",
    "LanguageModelFeaturizer",
    "MitieFeaturizer",
    "DucklingEntityExtractor",
    "SpacyEntityExtractor",
];

/// Which rusa components replace a Rasa component rusa does not implement.
enum Replacement {
    With(Vec<(&'static str, Map<String, Value>)>, &'static str),
    Drop(&'static str),
}

fn replacement_for(name: &str, params: &Map<String, Value>) -> Replacement {
    let seed = || {
        let mut m = Map::new();
        for key in ["random_seed", "ranking_length"] {
            if let Some(v) = params.get(key) {
                m.insert(key.to_owned(), v.clone());
            }
        }
        m
    };
    let char_wb = || {
        let mut m = Map::new();
        m.insert("analyzer".into(), json!("char_wb"));
        m.insert("min_ngram".into(), json!(1));
        m.insert("max_ngram".into(), json!(4));
        m
    };
    match name {
        "DIETClassifier" => {
            let flag = |k: &str| {
                params
                    .get(k)
                    .map(|v| {
                        !(v == &json!(false)
                            || v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("false")))
                    })
                    .unwrap_or(true)
            };
            let mut with = Vec::new();
            if flag("intent_classification") {
                with.push(("LogisticRegressionClassifier", seed()));
            }
            if flag("entity_recognition") {
                with.push(("CRFEntityExtractor", seed()));
            }
            Replacement::With(
                with,
                "DIET's intent classification and entity recognition are done by rusa's learned classifier and extractor",
            )
        }
        "SklearnIntentClassifier" | "MitieIntentClassifier" => Replacement::With(
            vec![("LogisticRegressionClassifier", seed())],
            "intent classification by logistic regression over the sparse features",
        ),
        "MitieEntityExtractor" => Replacement::With(
            vec![("CRFEntityExtractor", seed())],
            "entity extraction by a CRF over token features",
        ),
        "SpacyTokenizer"
        | "MitieTokenizer"
        | "JiebaTokenizer"
        | "ConveRTTokenizer"
        | "LanguageModelTokenizer" => Replacement::With(
            vec![("WhitespaceTokenizer", Map::new())],
            "rusa tokenizes at whitespace and punctuation",
        ),
        "SpacyNLP" | "MitieNLP" | "HFTransformersNLP" => {
            Replacement::Drop("rusa loads no language model; its components do not need one")
        }
        "SpacyFeaturizer" | "ConveRTFeaturizer" | "LanguageModelFeaturizer" | "MitieFeaturizer" => {
            Replacement::With(
                vec![("CountVectorsFeaturizer", char_wb())],
                "pre-trained dense features are replaced by character n-gram counts (char_wb 1..4)",
            )
        }
        "DucklingEntityExtractor" => {
            Replacement::Drop("Duckling needs an external server; rusa does not call it")
        }
        "SpacyEntityExtractor" => {
            Replacement::Drop("spaCy's pre-trained entity models are not available in rusa")
        }
        _ => Replacement::Drop(
            "it is a custom component (a Python class), which rusa cannot run; it is left out",
        ),
    }
}

/// An untrained pipeline: its components in order and the substitutions made for Rasa
/// components rusa does not implement.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub components: Vec<AnyComponent>,
    pub substitutions: Vec<Substitution>,
}

fn default_component(name: &str, params: Value) -> AnyComponent {
    let map = params.as_object().cloned().unwrap_or_default();
    AnyComponent::from_config(name, &map)
        .expect("the default pipeline's parameters are valid")
        .expect("the default pipeline names implemented components")
}

impl Pipeline {
    /// rusa's default pipeline, used when config.yml has none:
    ///
    /// 1. `WhitespaceTokenizer`
    /// 2. `RegexFeaturizer` (`case_sensitive: false`: a lookup table's `Berlin` also marks
    ///    `berlin`, as people type in chat; Rasa's component default is case-sensitive)
    /// 3. `CountVectorsFeaturizer` (word, `min_ngram` 1, `max_ngram` 2)
    /// 4. `CountVectorsFeaturizer` (`char_wb`, `min_ngram` 1, `max_ngram` 5)
    /// 5. `LogisticRegressionClassifier`
    /// 6. `CRFEntityExtractor` (its own window features: Rasa's, plus the token's shape and
    ///    the intent the classifier before it predicted)
    /// 7. `EntitySynonymMapper`
    /// 8. `ResponseSelector`
    /// 9. `FallbackClassifier` (`threshold` 0.3, `ambiguity_threshold` 0.1)
    ///
    /// `LexicalSyntacticFeaturizer` is left out: it makes only token features, which the
    /// CRF computes itself.
    pub fn default_pipeline() -> Self {
        let mut pipeline = Self {
            components: vec![
                default_component("WhitespaceTokenizer", json!({})),
                default_component("RegexFeaturizer", json!({"case_sensitive": false})),
                default_component(
                    "CountVectorsFeaturizer",
                    json!({"analyzer": "word", "min_ngram": 1, "max_ngram": 2}),
                ),
                default_component(
                    "CountVectorsFeaturizer",
                    json!({"analyzer": "char_wb", "min_ngram": 1, "max_ngram": 5}),
                ),
                default_component("LogisticRegressionClassifier", json!({})),
                default_component("CRFEntityExtractor", json!({})),
                default_component("EntitySynonymMapper", json!({})),
                default_component("ResponseSelector", json!({})),
                default_component(
                    "FallbackClassifier",
                    json!({"threshold": 0.3, "ambiguity_threshold": 0.1}),
                ),
            ],
            substitutions: Vec::new(),
        };
        link_components(&mut pipeline.components);
        pipeline
    }

    /// The pipeline config.yml describes (`None`: the default pipeline). Components rusa
    /// does not implement are replaced by the nearest rusa components or dropped, with
    /// one warning each, listed in `substitutions`; with `strict` the first one is an
    /// error instead. A pipeline without a tokenizer gets a `WhitespaceTokenizer` first.
    pub fn from_config(pipeline: Option<&[rusa_project::Component]>, strict: bool) -> Result<Self> {
        let Some(pipeline) = pipeline else {
            return Ok(Self::default_pipeline());
        };
        let short = |name: &str| name.rsplit('.').next().unwrap_or(name).to_owned();
        let explicit: Vec<String> = pipeline.iter().map(|c| short(&c.name)).collect();
        let mut components: Vec<AnyComponent> = Vec::new();
        let mut substitutions = Vec::new();
        for (component, name) in pipeline.iter().zip(&explicit) {
            if let Some(c) = AnyComponent::from_config(name, &component.params)? {
                components.push(c);
                continue;
            }
            // A name that is no component of rusa's or Rasa's is a typo, and an error as in
            // Rasa; a dotted path names a custom (Python) component, which is left out.
            // (An implemented name has been built above.)
            if !REPLACED_COMPONENTS.contains(&name.as_str()) && !component.name.contains('.') {
                let known = IMPLEMENTED_COMPONENTS.iter().chain(REPLACED_COMPONENTS);
                return Err(NluError::UnknownComponent {
                    name: component.name.clone(),
                    suggestion: rusa_project::did_you_mean(name, known.copied()).map(str::to_owned),
                });
            }
            let (with, reason) = match replacement_for(name, &component.params) {
                Replacement::With(with, reason) => (with, reason),
                Replacement::Drop(reason) => (Vec::new(), reason),
            };
            let mut used = Vec::new();
            for (rusa, params) in with {
                let present = components.iter().any(|c| c.name() == rusa)
                    || (rusa != "CountVectorsFeaturizer" && explicit.iter().any(|e| e == rusa));
                let duplicate_char_wb = rusa == "CountVectorsFeaturizer"
                    && components.iter().any(|c| {
                        matches!(c, AnyComponent::CountVectorsFeaturizer(f)
                            if f.config.analyzer == crate::featurizers::count_vectors::Analyzer::CharWb)
                    });
                if present && rusa != "CountVectorsFeaturizer" || duplicate_char_wb {
                    continue;
                }
                let c = AnyComponent::from_config(rusa, &params)?
                    .expect("replacements name implemented components");
                components.push(c);
                used.push(rusa.to_owned());
            }
            let reason = if used.is_empty() && reason.starts_with("DIET") {
                "the pipeline already has the components that replace it".to_owned()
            } else {
                reason.to_owned()
            };
            let substitution = Substitution {
                rasa: component.name.clone(),
                rusa: used,
                reason,
            };
            if strict {
                return Err(NluError::Substitution {
                    rusa_component: substitution.rusa_display(),
                    rasa: substitution.rasa,
                    reason: substitution.reason,
                });
            }
            // The caller reports substitutions to the user (with the file position); this is
            // only a trace for debugging.
            tracing::debug!(
                rasa = %substitution.rasa,
                rusa = %substitution.rusa_display(),
                reason = %substitution.reason,
                "component not implemented by rusa; substituted"
            );
            substitutions.push(substitution);
        }
        if !components.iter().any(AnyComponent::is_tokenizer) {
            tracing::warn!("the pipeline has no tokenizer; rusa adds a WhitespaceTokenizer first");
            components.insert(
                0,
                AnyComponent::WhitespaceTokenizer(WhitespaceTokenizer::default()),
            );
        }
        link_components(&mut components);
        Ok(Self {
            components,
            substitutions,
        })
    }

    /// Trains every component in order on `data`. Deterministic: the same data and seed
    /// give bit-identical models.
    pub fn train(self, data: &rusa_project::NluData, seed: u64) -> Result<NluModel> {
        let mut view = TrainingView::from_nlu(data);
        let mut components = self.components;
        for c in &mut components {
            c.train(&view, seed)?;
            if c.annotates_training_data() {
                for ex in &mut view.examples {
                    c.process(&mut ex.message);
                }
            }
        }
        Ok(NluModel {
            components,
            substitutions: self.substitutions,
        })
    }
}

/// A trained NLU pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NluModel {
    pub components: Vec<AnyComponent>,
    pub substitutions: Vec<Substitution>,
}

impl NluModel {
    /// Builds the pipeline of config.yml (see [`Pipeline::from_config`]) and trains it.
    pub fn train(
        pipeline: Option<&[rusa_project::Component]>,
        data: &rusa_project::NluData,
        options: &TrainOptions,
    ) -> Result<Self> {
        Pipeline::from_config(pipeline, options.strict)?.train(data, options.random_seed)
    }

    /// Runs every component on a message.
    pub fn process(&self, message: &mut Message) {
        for c in &self.components {
            c.process(message);
        }
    }

    /// Parses a text into the `/model/parse` shape.
    pub fn parse(&self, text: &str) -> ParseResult {
        let mut message = Message::new(text);
        self.process(&mut message);
        message.into_parse_result()
    }

    /// The saved form as JSON: `{"format_version", "components": [...], "substitutions"}`.
    pub fn to_json(&self) -> Result<String> {
        let value = json!({
            "format_version": FORMAT_VERSION,
            "components": self.components,
            "substitutions": self.substitutions,
        });
        serde_json::to_string(&value).map_err(|e| NluError::State(e.to_string()))
    }

    /// Restores a model saved by [`NluModel::to_json`]; another format version is refused.
    pub fn from_json(json: &str) -> Result<Self> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| NluError::State(e.to_string()))?;
        check_version(&value)?;
        serde_json::from_value(value).map_err(|e| NluError::State(e.to_string()))
    }
}

/// Options of [`NluModel::train`].
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Turn every substitution of an unimplemented Rasa component into an error.
    pub strict: bool,
    /// The seed of every random choice, unless a component sets `random_seed`.
    pub random_seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            strict: false,
            random_seed: DEFAULT_RANDOM_SEED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusa_project::{Component, Pos};

    fn component(name: &str, params: Value) -> Component {
        Component {
            name: name.into(),
            params: params.as_object().cloned().unwrap_or_default(),
            pos: Pos::new(
                std::sync::Arc::from(std::path::Path::new("config.yml")),
                1,
                1,
            ),
        }
    }

    fn names(p: &Pipeline) -> Vec<&'static str> {
        p.components.iter().map(|c| c.name()).collect()
    }

    #[test]
    fn rasa_default_pipeline_is_substituted() {
        let config = vec![
            component("SpacyNLP", json!({})),
            component("WhitespaceTokenizer", json!({})),
            component("CountVectorsFeaturizer", json!({})),
            component("LanguageModelFeaturizer", json!({})),
            component("DIETClassifier", json!({"epochs": 100, "random_seed": 1})),
            component("DucklingEntityExtractor", json!({})),
            component("EntitySynonymMapper", json!({})),
            component("my.CustomThing", json!({})),
        ];
        let p = Pipeline::from_config(Some(&config), false).unwrap();
        assert_eq!(
            names(&p),
            [
                "WhitespaceTokenizer",
                "CountVectorsFeaturizer",
                "CountVectorsFeaturizer",
                "LogisticRegressionClassifier",
                "CRFEntityExtractor",
                "EntitySynonymMapper",
            ]
        );
        let subs: Vec<(&str, String)> = p
            .substitutions
            .iter()
            .map(|s| (s.rasa.as_str(), s.rusa_display()))
            .collect();
        assert_eq!(
            subs,
            [
                ("SpacyNLP", "nothing (dropped)".to_owned()),
                (
                    "LanguageModelFeaturizer",
                    "CountVectorsFeaturizer".to_owned()
                ),
                (
                    "DIETClassifier",
                    "LogisticRegressionClassifier + CRFEntityExtractor".to_owned()
                ),
                ("DucklingEntityExtractor", "nothing (dropped)".to_owned()),
                ("my.CustomThing", "nothing (dropped)".to_owned()),
            ]
        );
        match &p.components[3] {
            AnyComponent::LogisticRegressionClassifier(c) => assert_eq!(c.random_seed, Some(1)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn strict_names_both() {
        let config = vec![component(
            "DIETClassifier",
            json!({"entity_recognition": false}),
        )];
        let err = Pipeline::from_config(Some(&config), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("DIETClassifier"), "{err}");
        assert!(err.contains("LogisticRegressionClassifier"), "{err}");
        assert!(!err.contains("CRF"), "{err}");
    }

    #[test]
    fn a_misspelt_component_is_an_error_with_a_suggestion() {
        let config = vec![component("DIETClasifier", json!({}))];
        let err = Pipeline::from_config(Some(&config), false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unknown component 'DIETClasifier' (did you mean 'DIETClassifier'?)"
        );
        // A dotted path is a custom component: left out, not an error.
        let config = vec![component("addons.SentimentAnalyzer", json!({}))];
        let p = Pipeline::from_config(Some(&config), false).unwrap();
        assert_eq!(p.substitutions.len(), 1);
        assert!(p.substitutions[0].reason.contains("custom component"));
    }

    #[test]
    fn missing_tokenizer_is_added_and_bad_params_are_errors() {
        let config = vec![component("CountVectorsFeaturizer", json!({}))];
        let p = Pipeline::from_config(Some(&config), true).unwrap();
        assert_eq!(names(&p), ["WhitespaceTokenizer", "CountVectorsFeaturizer"]);
        let config = vec![component(
            "FallbackClassifier",
            json!({"threshold": "high"}),
        )];
        let err = Pipeline::from_config(Some(&config), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("threshold"), "{err}");
        assert_eq!(
            Pipeline::from_config(None, true).unwrap().components.len(),
            9
        );
    }

    #[test]
    fn empty_and_single_intent_data() {
        let model = Pipeline::default_pipeline()
            .train(&rusa_project::NluData::default(), 1)
            .unwrap();
        let parsed = model.parse("anything at all");
        assert_eq!(parsed.intent.name, None);
        assert!(parsed.intent_ranking.is_empty());

        let (text, entities) = rusa_project::parse_annotated("hi [there](who)").unwrap();
        let data = rusa_project::NluData {
            examples: vec![rusa_project::Example {
                intent: "greet".into(),
                text,
                entities,
                metadata: None,
                pos: Pos::new(std::sync::Arc::from(std::path::Path::new("nlu.yml")), 1, 1),
            }],
            ..Default::default()
        };
        let model = Pipeline::default_pipeline().train(&data, 1).unwrap();
        let parsed = model.parse("hi there");
        assert_eq!(parsed.intent.name.as_deref(), Some("greet"));
        assert_eq!(parsed.intent.confidence, 1.0);
    }

    #[test]
    fn saved_state_is_versioned() {
        let c = AnyComponent::FallbackClassifier(FallbackClassifier::default());
        let mut saved = c.to_saved().unwrap();
        assert!(AnyComponent::from_saved(&saved).is_ok());
        saved["format_version"] = json!(FORMAT_VERSION + 1);
        let err = AnyComponent::from_saved(&saved).unwrap_err();
        assert!(matches!(err, NluError::FormatVersion { .. }), "{err}");
        assert!(NluModel::from_json(r#"{"format_version": 0, "components": []}"#).is_err());
    }

    #[test]
    fn the_crf_uses_the_intent_only_after_an_intent_classifier() {
        let crf_knows = |p: &Pipeline| {
            p.components
                .iter()
                .find_map(|c| match c {
                    AnyComponent::CrfEntityExtractor(crf) => Some(crf.intent_known),
                    _ => None,
                })
                .unwrap()
        };
        assert!(crf_knows(&Pipeline::default_pipeline()));
        let before = vec![
            component("CRFEntityExtractor", json!({})),
            component("LogisticRegressionClassifier", json!({})),
        ];
        assert!(!crf_knows(
            &Pipeline::from_config(Some(&before), false).unwrap()
        ));
        let diet = vec![component("DIETClassifier", json!({}))];
        assert!(crf_knows(
            &Pipeline::from_config(Some(&diet), false).unwrap()
        ));
    }

    #[test]
    fn models_of_format_1_are_refused_with_the_version_message() {
        // Format 1 held the CRF's dense weights; its models are refused, not misread.
        let old = r#"{"format_version": 1, "components": [{"component": "CRFEntityExtractor",
            "features": [], "bilou_flag": true, "max_iterations": 1,
            "split_entities_by_comma": true, "split_entities_by_comma_for": {}, "l2_c": 0.1,
            "learning_rate": 0.05, "random_seed": null, "tags": [], "vocab": [], "params": ""}],
            "substitutions": []}"#;
        let err = NluModel::from_json(old).unwrap_err();
        assert!(
            matches!(
                err,
                NluError::FormatVersion {
                    found: 1,
                    expected: FORMAT_VERSION
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("retrain the model"), "{err}");
    }

    #[test]
    fn a_trained_model_with_entities_round_trips() {
        let (text, entities) =
            rusa_project::parse_annotated("fly to [Berlin](city) [tomorrow](date)").unwrap();
        let example = |text: String, entities| rusa_project::Example {
            intent: "fly".into(),
            text,
            entities,
            metadata: None,
            pos: Pos::new(std::sync::Arc::from(std::path::Path::new("nlu.yml")), 1, 1),
        };
        let data = rusa_project::NluData {
            examples: vec![example(text, entities), example("hello".into(), Vec::new())],
            ..Default::default()
        };
        let model = Pipeline::default_pipeline().train(&data, 1).unwrap();
        let restored = NluModel::from_json(&model.to_json().unwrap()).unwrap();
        let text = "fly to Berlin tomorrow";
        assert_eq!(model.parse(text), restored.parse(text));
        assert_eq!(restored.parse(text).entities.len(), 2);
    }
}
