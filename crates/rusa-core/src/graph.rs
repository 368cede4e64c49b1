//! The training graph: config.yml becomes a graph of nodes (one per NLU component and per
//! policy), each with a fingerprint of its configuration and its inputs. Trained nodes are
//! cached by fingerprint, so an unchanged retrain trains nothing, and a changed NLU
//! example retrains only the NLU nodes (the policies do not depend on NLU data).
//!
//! `GraphTrainer.train` and `GraphNode.<ComponentClass>` are `tracing` spans with the
//! attributes of the tracing spec.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rusa_nlu::{AnyComponent, NluComponent, NluModel, Pipeline, Substitution, TrainingView};
use rusa_project::Project;
use rusa_project::dialogue::{rule_turns, story_turns, unfold_stories};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::policies::{PolicyEnsemble, PolicySpec, PolicySubstitution, RuleError, TrainedPolicy};

/// Bumped whenever a node's cached state changes meaning; part of every fingerprint.
pub const CACHE_VERSION: &str = "2";

/// What is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrainingType {
    Nlu,
    Core,
    /// NLU and dialogue ("rasa" in telemetry, "BOTH" in spans).
    Both,
}

impl TrainingType {
    /// The value of the `training_type` span attribute.
    pub fn span_value(self) -> &'static str {
        match self {
            Self::Nlu => "NLU",
            Self::Core => "CORE",
            Self::Both => "BOTH",
        }
    }

    /// The model `type` of telemetry events and metadata: "nlu", "core" or "rasa".
    pub fn model_type(self) -> &'static str {
        match self {
            Self::Nlu => "nlu",
            Self::Core => "core",
            Self::Both => "rasa",
        }
    }

    pub fn has_nlu(self) -> bool {
        self != Self::Core
    }

    pub fn has_core(self) -> bool {
        self != Self::Nlu
    }
}

/// One node of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphNode {
    /// `train_CountVectorsFeaturizer3`, as Rasa names its nodes.
    pub node_name: String,
    pub component_class: String,
    /// The function the node runs: `train` here, `process` when predicting.
    pub fn_name: String,
    pub fingerprint: String,
    /// Whether this training restored the node from the cache.
    pub from_cache: bool,
}

/// Everything that configures a training.
#[derive(Debug, Clone)]
pub struct TrainingPlan {
    pub training_type: TrainingType,
    pub pipeline: Pipeline,
    pub policies: Vec<PolicySpec>,
    pub random_seed: u64,
    /// For the `output_filename` span attribute: the archive's file name only.
    pub output_filename: String,
    pub is_finetuning: bool,
}

/// Rasa components rusa replaced, in the pipeline and the policies.
#[derive(Debug, Clone, Default)]
pub struct Substitutions {
    pub pipeline: Vec<Substitution>,
    pub policies: Vec<PolicySubstitution>,
}

/// What training produced.
#[derive(Debug, Clone)]
pub struct TrainedGraph {
    pub nlu: Option<NluModel>,
    pub policies: Option<PolicyEnsemble>,
    pub nodes: Vec<GraphNode>,
}

impl TrainedGraph {
    pub fn trained_nodes(&self) -> usize {
        self.nodes.iter().filter(|n| !n.from_cache).count()
    }
}

/// Why training failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("training {node} failed: {message}")]
    Node { node: String, message: String },
    #[error(transparent)]
    Rules(#[from] RuleError),
}

/// Trains graphs, caching nodes under a directory (`.rusa/cache/` of the project).
#[derive(Debug, Clone)]
pub struct GraphTrainer {
    pub cache_dir: Option<PathBuf>,
}

impl GraphTrainer {
    pub fn new(cache_dir: Option<PathBuf>) -> Self {
        Self { cache_dir }
    }

    /// Trains the plan's nodes in dependency order, restoring cached ones.
    pub fn train(
        &self,
        project: &Project,
        plan: &TrainingPlan,
    ) -> Result<TrainedGraph, TrainError> {
        self.train_with_inputs(project, plan, &InputFingerprints::of(project), &|_| {})
    }

    /// [`GraphTrainer::train`] with the input fingerprints already computed (the caller
    /// needed them for the project fingerprint), telling `on_node` about each node as it
    /// finishes.
    pub fn train_with_inputs(
        &self,
        project: &Project,
        plan: &TrainingPlan,
        inputs: &InputFingerprints,
        on_node: &dyn Fn(&GraphNode),
    ) -> Result<TrainedGraph, TrainError> {
        let span = tracing::info_span!(
            "GraphTrainer.train",
            training_type = plan.training_type.span_value(),
            language = project.config.language.as_str(),
            recipe_name = project.config.recipe.as_str(),
            output_filename = plan.output_filename.as_str(),
            is_finetuning = plan.is_finetuning,
        );
        let _entered = span.enter();
        let mut nodes = Vec::new();
        let mut run = || -> Result<TrainedGraph, TrainError> {
            let nlu = if plan.training_type.has_nlu() {
                Some(self.train_nlu(project, plan, &inputs.nlu_data, &mut nodes, on_node)?)
            } else {
                None
            };
            let policies = if plan.training_type.has_core() {
                Some(self.train_policies(project, plan, &inputs.dialogue, &mut nodes, on_node)?)
            } else {
                None
            };
            Ok(TrainedGraph {
                nlu,
                policies,
                nodes: std::mem::take(&mut nodes),
            })
        };
        let result = run();
        if let Err(e) = &result {
            crate::span_status::record_failure(&span, "TrainError", &e.to_string());
        }
        result
    }

    fn train_nlu(
        &self,
        project: &Project,
        plan: &TrainingPlan,
        data_fp: &str,
        nodes: &mut Vec<GraphNode>,
        on_node: &dyn Fn(&GraphNode),
    ) -> Result<NluModel, TrainError> {
        // Fingerprints depend on configuration and inputs only, so all are known up front.
        let mut fingerprints = Vec::with_capacity(plan.pipeline.components.len());
        let mut upstream = data_fp.to_owned();
        for (i, component) in plan.pipeline.components.iter().enumerate() {
            let config = serde_json::to_string(component).unwrap_or_default();
            let fp = fingerprint(&[
                CACHE_VERSION,
                "nlu",
                &i.to_string(),
                component.name(),
                &config,
                &upstream,
                &plan.random_seed.to_string(),
            ]);
            upstream = fp.clone();
            fingerprints.push(fp);
        }
        let cached: Vec<Option<AnyComponent>> = fingerprints
            .iter()
            .map(|fp| {
                self.load(fp)
                    .and_then(|v| AnyComponent::from_saved(&v).ok())
            })
            .collect();
        // Training data only needs annotating up to the last node that must be trained.
        let last_to_train = cached.iter().rposition(Option::is_none);
        let mut view = last_to_train.map(|_| TrainingView::from_nlu(&project.nlu));
        let mut trained = Vec::with_capacity(cached.len());
        for (i, (mut component, cached)) in plan
            .pipeline
            .components
            .iter()
            .cloned()
            .zip(cached)
            .enumerate()
        {
            let class = component.name();
            let node_name = format!("train_{class}{i}");
            let from_cache = cached.is_some();
            let span = node_span(class, &node_name, "train");
            let _entered = span.enter();
            match cached {
                Some(restored) => component = restored,
                None => {
                    let data = view
                        .as_ref()
                        .expect("a view exists while nodes remain to be trained");
                    component
                        .train(data, plan.random_seed)
                        .map_err(|e| TrainError::Node {
                            node: node_name.clone(),
                            message: e.to_string(),
                        })?;
                    if let Ok(saved) = component.to_saved() {
                        self.store(&fingerprints[i], &saved);
                    }
                }
            }
            if component.annotates_training_data()
                && last_to_train.is_some_and(|last| i < last)
                && let Some(view) = view.as_mut()
            {
                for ex in &mut view.examples {
                    component.process(&mut ex.message);
                }
            }
            nodes.push(GraphNode {
                node_name,
                component_class: class.to_owned(),
                fn_name: "train".into(),
                fingerprint: fingerprints[i].clone(),
                from_cache,
            });
            on_node(nodes.last().expect("just pushed"));
            trained.push(component);
        }
        Ok(NluModel {
            components: trained,
            substitutions: plan.pipeline.substitutions.clone(),
        })
    }

    fn train_policies(
        &self,
        project: &Project,
        plan: &TrainingPlan,
        dialogue_fp: &str,
        nodes: &mut Vec<GraphNode>,
        on_node: &dyn Fn(&GraphNode),
    ) -> Result<PolicyEnsemble, TrainError> {
        let mut policies = Vec::with_capacity(plan.policies.len());
        for (i, spec) in plan.policies.iter().enumerate() {
            let class = match spec {
                PolicySpec::Memoization {
                    augmented: true, ..
                } => "AugmentedMemoizationPolicy",
                PolicySpec::Memoization { .. } => "MemoizationPolicy",
                PolicySpec::Rule(_) => "RulePolicy",
                PolicySpec::Learned(_) => crate::policies::LogisticRegressionPolicy::NAME,
            };
            let fp = fingerprint(&[
                CACHE_VERSION,
                "policy",
                class,
                &format!("{spec:?}"),
                dialogue_fp,
                &plan.random_seed.to_string(),
            ]);
            let node_name = format!("train_{class}{i}");
            let span = node_span(class, &node_name, "train");
            let _entered = span.enter();
            let cached: Option<TrainedPolicy> =
                self.load(&fp).and_then(|v| serde_json::from_value(v).ok());
            let from_cache = cached.is_some();
            let policy = match cached {
                Some(p) => p,
                None => {
                    let mut trained = PolicyEnsemble::train(project, std::slice::from_ref(spec))?;
                    let policy = trained.policies.pop().expect("one spec gives one policy");
                    if let Ok(v) = serde_json::to_value(&policy) {
                        self.store(&fp, &v);
                    }
                    policy
                }
            };
            nodes.push(GraphNode {
                node_name,
                component_class: class.to_owned(),
                fn_name: "train".into(),
                fingerprint: fp,
                from_cache,
            });
            on_node(nodes.last().expect("just pushed"));
            policies.push(policy);
        }
        let mut ensemble = PolicyEnsemble { policies };
        ensemble.prepare();
        Ok(ensemble)
    }

    fn cache_path(&self, fp: &str) -> Option<PathBuf> {
        self.cache_dir
            .as_ref()
            .map(|d| d.join(format!("{fp}.json")))
    }

    fn load(&self, fp: &str) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.cache_path(fp)?).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes a node's state to the cache (atomically); a cache that cannot be written only
    /// costs the next training time.
    fn store(&self, fp: &str, value: &serde_json::Value) {
        let Some(path) = self.cache_path(fp) else {
            return;
        };
        let result = (|| -> std::io::Result<()> {
            let dir = path.parent().expect("cache files are in a directory");
            std::fs::create_dir_all(dir)?;
            let tmp = dir.join(format!(".{fp}.{}.tmp", std::process::id()));
            std::fs::write(&tmp, serde_json::to_vec(value)?)?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = result {
            tracing::debug!(error = %e, "could not write the training cache");
        }
    }
}

/// The span of one graph node, named `GraphNode.<ComponentClass>` (span names must be
/// static, so each known class has its own).
pub fn node_span(class: &str, node_name: &str, fn_name: &str) -> tracing::Span {
    macro_rules! spans {
        ($($class:literal),* $(,)?) => {
            match class {
                $($class => tracing::info_span!(concat!("GraphNode.", $class), node_name, component_class = class, fn_name),)*
                _ => tracing::info_span!("GraphNode", node_name, component_class = class, fn_name),
            }
        };
    }
    spans!(
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
        "MemoizationPolicy",
        "AugmentedMemoizationPolicy",
        "RulePolicy",
        "LogisticRegressionPolicy",
    )
}

/// SHA-256 over length-prefixed parts, as lowercase hex.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The NLU training data, without positions (moving an example within a file does not
/// change what is learned).
pub fn nlu_data_fingerprint(project: &Project) -> String {
    let mut h = Sha256::new();
    let mut put = |s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    for e in &project.nlu.examples {
        put("example");
        put(&e.intent);
        put(&e.text);
        for s in &e.entities {
            put(&format!(
                "{}:{}:{}:{}:{:?}:{:?}",
                s.start, s.end, s.entity, s.value, s.role, s.group
            ));
        }
    }
    for s in &project.nlu.synonyms {
        put("synonym");
        put(&s.value);
        s.examples.iter().for_each(|x| put(x));
    }
    for r in &project.nlu.regexes {
        put("regex");
        put(&r.name);
        r.patterns.iter().for_each(|(p, _)| put(p));
    }
    for l in &project.nlu.lookups {
        put("lookup");
        put(&l.name);
        l.elements.iter().for_each(|x| put(x));
    }
    // Retrieval intents answer with the responses of the domain and the data.
    let mut keys: Vec<&String> = project
        .domain
        .responses
        .keys()
        .filter(|k| k.contains('/'))
        .collect();
    keys.sort();
    keys.iter().for_each(|k| put(k));
    hex(&h.finalize())
}

/// What the policies learn from: the dialogue states and actions of the stories and rules.
pub fn dialogue_fingerprint(project: &Project) -> String {
    let mut h = Sha256::new();
    for (_, steps) in unfold_stories(&project.stories) {
        for turn in story_turns(&project.domain, &steps) {
            h.update(serde_json::to_vec(&turn.states).unwrap_or_default());
            h.update(turn.action.as_bytes());
        }
    }
    for rule in &project.rules {
        h.update(serde_json::to_vec(&rule_turns(&project.domain, rule)).unwrap_or_default());
        h.update([
            u8::from(rule.wait_for_user_input),
            u8::from(rule.conversation_start),
        ]);
    }
    hex(&h.finalize())
}

/// The fingerprints of what the NLU nodes and the policies learn from, computed once per
/// training.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFingerprints {
    pub nlu_data: String,
    pub dialogue: String,
}

impl InputFingerprints {
    pub fn of(project: &Project) -> Self {
        Self {
            nlu_data: nlu_data_fingerprint(project),
            dialogue: dialogue_fingerprint(project),
        }
    }
}

/// A fingerprint of everything a training reads: configuration, domain and data (positions
/// left out). Two projects with the same fingerprint train the same model.
pub fn project_fingerprint(
    project: &Project,
    plan: &TrainingPlan,
    inputs: &InputFingerprints,
) -> String {
    let domain = serde_json::to_value(&project.domain)
        .map(strip_positions)
        .unwrap_or_default();
    fingerprint(&[
        CACHE_VERSION,
        plan.training_type.model_type(),
        &format!("{:?}", plan.policies),
        &serde_json::to_string(&plan.pipeline.components).unwrap_or_default(),
        &project.config.language,
        &domain.to_string(),
        &inputs.nlu_data,
        &inputs.dialogue,
        &plan.random_seed.to_string(),
    ])
}

/// Removes `pos` fields from a JSON tree.
fn strip_positions(mut value: serde_json::Value) -> serde_json::Value {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("pos");
                map.values_mut().for_each(walk);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

/// The cache directory of a project rooted at `root`.
pub fn cache_dir_for(root: &Path) -> PathBuf {
    root.join(".rusa").join("cache")
}
