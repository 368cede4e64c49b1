//! Dialogue policies: they predict the assistant's next action from the conversation.
//!
//! The policies of config.yml are trained together into a [`PolicyEnsemble`]. Each predicts
//! an action with a confidence; the ensemble takes the most confident, and on a tie the
//! policy of higher priority (Rasa's order: RulePolicy 6, memoization 3, learned 1).

pub mod learned;
pub mod memoization;
pub mod rule;
pub mod states;

use rusa_project::{Component, Domain, Project};
use serde::{Deserialize, Serialize};

pub use learned::{LearnedPolicyConfig, LogisticRegressionPolicy};
pub use memoization::MemoizationPolicy;
pub use rule::{RuleError, RulePolicy, RulePolicyConfig};
pub use states::{is_conversation_start, tracker_states, tracker_states_tail};

use crate::tracker::{ACTION_LISTEN, DialogueStateTracker};

/// One policy's answer: the next action and how sure it is.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyPrediction {
    pub action: String,
    pub confidence: f64,
    pub policy: String,
    /// The rule that made the prediction (RulePolicy only; Rasa's prediction source).
    pub rule: Option<String>,
}

impl PolicyPrediction {
    pub fn new(action: &str, confidence: f64, policy: &str) -> Self {
        Self {
            action: action.to_owned(),
            confidence,
            policy: policy.to_owned(),
            rule: None,
        }
    }
}

/// A policy of the configuration, before training.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicySpec {
    Memoization { max_history: usize, augmented: bool },
    Rule(RulePolicyConfig),
    Learned(LearnedPolicyConfig),
}

/// A Rasa policy that rusa replaces by one of its own (or leaves out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySubstitution {
    pub rasa: String,
    /// `None`: left out.
    pub rusa: Option<String>,
    pub reason: String,
}

/// The policies rusa uses when config.yml names none: memoization, rules, and the learned
/// policy (in place of Rasa's default TEDPolicy and UnexpecTEDIntentPolicy).
pub fn default_policies() -> Vec<PolicySpec> {
    vec![
        PolicySpec::Memoization {
            max_history: memoization::DEFAULT_MAX_HISTORY,
            augmented: false,
        },
        PolicySpec::Rule(RulePolicyConfig::default()),
        PolicySpec::Learned(LearnedPolicyConfig::default()),
    ]
}

/// Error of reading the policies of config.yml.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyConfigError {
    #[error("{pos}: unknown policy '{name}'{}", suggestion.as_ref().map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default())]
    Unknown {
        name: String,
        pos: String,
        suggestion: Option<String>,
    },
    #[error(
        "{pos}: rusa has no '{rasa}'; it would use {rusa} instead, but --strict-components forbids substitutions"
    )]
    Strict {
        rasa: String,
        rusa: String,
        pos: String,
    },
    #[error("{pos}: policy '{name}': parameter '{key}' {problem}")]
    Param {
        name: String,
        key: String,
        problem: String,
        pos: String,
    },
}

/// Reads the policies of config.yml; `None` (no policies configured) gives the defaults.
pub fn policy_specs(
    config: Option<&[Component]>,
    strict: bool,
) -> Result<(Vec<PolicySpec>, Vec<PolicySubstitution>), PolicyConfigError> {
    let Some(components) = config else {
        return Ok((default_policies(), Vec::new()));
    };
    let mut specs = Vec::new();
    let mut substitutions = Vec::new();
    for c in components {
        let pos = c.pos.to_string();
        let uint = |key: &str, default: usize| -> Result<usize, PolicyConfigError> {
            match c.params.get(key) {
                None | Some(serde_json::Value::Null) => Ok(default),
                Some(v) => v
                    .as_u64()
                    .map(|x| x as usize)
                    .ok_or_else(|| PolicyConfigError::Param {
                        name: c.name.clone(),
                        key: key.to_owned(),
                        problem: format!("must be a whole number, found {v}"),
                        pos: pos.clone(),
                    }),
            }
        };
        let float = |key: &str, default: f64| -> Result<f64, PolicyConfigError> {
            match c.params.get(key) {
                None | Some(serde_json::Value::Null) => Ok(default),
                Some(v) => v.as_f64().ok_or_else(|| PolicyConfigError::Param {
                    name: c.name.clone(),
                    key: key.to_owned(),
                    problem: format!("must be a number, found {v}"),
                    pos: pos.clone(),
                }),
            }
        };
        let boolean = |key: &str, default: bool| -> bool {
            c.params
                .get(key)
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(default)
        };
        // A policy rusa leaves out: an error with --strict, else a substitution by nothing.
        let left_out = |reason: &str| -> Result<PolicySubstitution, PolicyConfigError> {
            if strict {
                return Err(PolicyConfigError::Strict {
                    rasa: c.name.clone(),
                    rusa: "no policy".into(),
                    pos: pos.clone(),
                });
            }
            Ok(PolicySubstitution {
                rasa: c.name.clone(),
                rusa: None,
                reason: reason.into(),
            })
        };
        let short = c.name.rsplit('.').next().unwrap_or(&c.name);
        match short {
            "MemoizationPolicy" | "AugmentedMemoizationPolicy" => {
                specs.push(PolicySpec::Memoization {
                    max_history: uint("max_history", memoization::DEFAULT_MAX_HISTORY)?,
                    augmented: short == "AugmentedMemoizationPolicy",
                })
            }
            "RulePolicy" => {
                let defaults = RulePolicyConfig::default();
                specs.push(PolicySpec::Rule(RulePolicyConfig {
                    core_fallback_threshold: float(
                        "core_fallback_threshold",
                        defaults.core_fallback_threshold,
                    )?,
                    core_fallback_action_name: c
                        .params
                        .get("core_fallback_action_name")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or(&defaults.core_fallback_action_name)
                        .to_owned(),
                    enable_fallback_prediction: boolean(
                        "enable_fallback_prediction",
                        defaults.enable_fallback_prediction,
                    ),
                    restrict_rules: boolean("restrict_rules", defaults.restrict_rules),
                    check_for_contradictions: boolean(
                        "check_for_contradictions",
                        defaults.check_for_contradictions,
                    ),
                }))
            }
            "LogisticRegressionPolicy" | "TEDPolicy" => {
                if short == "TEDPolicy" {
                    if strict {
                        return Err(PolicyConfigError::Strict {
                            rasa: c.name.clone(),
                            rusa: LogisticRegressionPolicy::NAME.into(),
                            pos,
                        });
                    }
                    substitutions.push(PolicySubstitution {
                        rasa: c.name.clone(),
                        rusa: Some(LogisticRegressionPolicy::NAME.into()),
                        reason: "the learned dialogue policy of rusa; it uses TEDPolicy's max_history and epochs".into(),
                    });
                }
                let defaults = LearnedPolicyConfig::default();
                specs.push(PolicySpec::Learned(LearnedPolicyConfig {
                    max_history: uint("max_history", defaults.max_history)?,
                    epochs: uint("epochs", defaults.epochs)?.max(1),
                    ..defaults
                }));
            }
            "UnexpecTEDIntentPolicy" => substitutions.push(left_out(
                "it only flags unlikely user turns (action_unlikely_intent), which rusa does not do; it is left out",
            )?),
            // A dotted path names a custom (Python) policy: left out, with a warning.
            _ if c.name.contains('.') => substitutions.push(left_out(
                "it is a custom policy (a Python class), which rusa cannot run; it is left out",
            )?),
            _ => {
                const KNOWN: &[&str] = &[
                    "MemoizationPolicy",
                    "AugmentedMemoizationPolicy",
                    "RulePolicy",
                    "TEDPolicy",
                    "LogisticRegressionPolicy",
                    "UnexpecTEDIntentPolicy",
                ];
                return Err(PolicyConfigError::Unknown {
                    name: c.name.clone(),
                    pos,
                    suggestion: rusa_project::did_you_mean(short, KNOWN.iter().copied())
                        .map(str::to_owned),
                });
            }
        }
    }
    Ok((specs, substitutions))
}

/// A trained policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "policy")]
pub enum TrainedPolicy {
    Memoization(MemoizationPolicy),
    Rule(RulePolicy),
    Learned(LogisticRegressionPolicy),
}

impl TrainedPolicy {
    /// Rasa's priorities: a tie in confidence goes to the higher one.
    pub fn priority(&self) -> u8 {
        match self {
            Self::Rule(_) => 6,
            Self::Memoization(_) => 3,
            Self::Learned(_) => 1,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Rule(_) => "RulePolicy",
            Self::Memoization(m) => m.name(),
            Self::Learned(_) => LogisticRegressionPolicy::NAME,
        }
    }
}

/// The trained policies of an assistant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyEnsemble {
    pub policies: Vec<TrainedPolicy>,
}

impl PolicyEnsemble {
    /// Trains each configured policy on the project's stories and rules.
    pub fn train(project: &Project, specs: &[PolicySpec]) -> Result<Self, RuleError> {
        let domain = &project.domain;
        let mut policies = Vec::with_capacity(specs.len());
        for spec in specs {
            policies.push(match spec {
                PolicySpec::Memoization {
                    max_history,
                    augmented,
                } => TrainedPolicy::Memoization(MemoizationPolicy::train(
                    domain,
                    &project.stories,
                    *max_history,
                    *augmented,
                )),
                PolicySpec::Rule(config) => {
                    TrainedPolicy::Rule(RulePolicy::train(domain, project, config.clone())?)
                }
                PolicySpec::Learned(config) => TrainedPolicy::Learned(
                    LogisticRegressionPolicy::train(domain, &project.stories, config.clone()),
                ),
            });
        }
        Ok(Self { policies })
    }

    /// Restores what serialization leaves out (lookup indexes).
    pub fn prepare(&mut self) {
        for p in &mut self.policies {
            if let TrainedPolicy::Memoization(m) = p {
                m.build_index();
            }
        }
    }

    /// How many of the latest dialogue states the policies look at, at most.
    fn history_needed(&self) -> usize {
        self.policies
            .iter()
            .map(|p| match p {
                TrainedPolicy::Memoization(m) => m.max_history,
                TrainedPolicy::Rule(r) => r.longest_rule(),
                TrainedPolicy::Learned(l) => l.config.max_history,
            })
            .max()
            .unwrap_or(0)
            .max(1)
    }

    /// Each policy's own prediction, most confident first (ties to the higher priority):
    /// the ranking interactive learning offers when the user rejects the next action.
    pub fn predict_each(
        &self,
        domain: &Domain,
        tracker: &DialogueStateTracker,
    ) -> Vec<PolicyPrediction> {
        let (states, total) = tracker_states_tail(domain, tracker, self.history_needed());
        let earlier = total - states.len();
        let mut ranked: Vec<(PolicyPrediction, u8)> = self
            .policies
            .iter()
            .filter_map(|policy| {
                let prediction = match policy {
                    TrainedPolicy::Memoization(m) => m.predict(&states),
                    TrainedPolicy::Rule(r) => Some(r.predict(&states, earlier, tracker)),
                    TrainedPolicy::Learned(l) => l.predict(&states),
                }?;
                Some((prediction, policy.priority()))
            })
            .collect();
        ranked.sort_by(|(a, ap), (b, bp)| {
            b.confidence
                .total_cmp(&a.confidence)
                .then_with(|| bp.cmp(ap))
        });
        ranked.into_iter().map(|(p, _)| p).collect()
    }

    /// The next action: the most confident prediction, ties to the higher priority. With no
    /// prediction at all: `action_listen` with confidence 0.
    ///
    /// At the start of a conversation (no action in effect) the assistant listens, as every
    /// story and rule begins; the prediction is the memoization policy's when there is one
    /// (in Rasa it remembers that from every story), else the rule policy's.
    pub fn predict(&self, domain: &Domain, tracker: &DialogueStateTracker) -> PolicyPrediction {
        if is_conversation_start(tracker)
            && let Some(policy) = self
                .policies
                .iter()
                .filter(|p| !matches!(p, TrainedPolicy::Learned(_)))
                .min_by_key(|p| p.priority())
        {
            return PolicyPrediction::new(ACTION_LISTEN, 1.0, policy.name());
        }
        let (states, total) = tracker_states_tail(domain, tracker, self.history_needed());
        let earlier = total - states.len();
        let mut best: Option<(PolicyPrediction, u8)> = None;
        for policy in &self.policies {
            let prediction = match policy {
                TrainedPolicy::Memoization(m) => m.predict(&states),
                TrainedPolicy::Rule(r) => Some(r.predict(&states, earlier, tracker)),
                TrainedPolicy::Learned(l) => l.predict(&states),
            };
            let Some(prediction) = prediction else {
                continue;
            };
            let priority = policy.priority();
            let better = match &best {
                None => true,
                Some((b, bp)) => {
                    prediction.confidence > b.confidence
                        || (prediction.confidence == b.confidence && priority > *bp)
                }
            };
            if better {
                best = Some((prediction, priority));
            }
        }
        best.map_or_else(
            || PolicyPrediction::new(ACTION_LISTEN, 0.0, "none"),
            |(p, _)| p,
        )
    }
}
