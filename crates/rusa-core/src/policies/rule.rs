//! `RulePolicy`: rules always win, loops run to their end, and when nothing is confident
//! the assistant falls back.
//!
//! Prediction, in order:
//! 1. An active, not rejected loop: run it when the user has spoken; listen after it ran.
//! 2. The built-in rules: intent `restart` → `action_restart`, `back` → `action_back`,
//!    `session_start` → `action_session_start`.
//! 3. The matching rule with the most states (the most specific).
//! 4. `core_fallback_action_name` with confidence `core_fallback_threshold`, so that any
//!    other policy that is more confident wins (`enable_fallback_prediction`).

use rusa_project::dialogue::{
    ACTION_LISTEN, DialogueState, RuleTurn, rule_turns, story_turns, unfold_stories,
};
use rusa_project::{Domain, Project, StepKind};
use serde::{Deserialize, Serialize};

use super::PolicyPrediction;
use crate::tracker::DialogueStateTracker;

pub const DEFAULT_CORE_FALLBACK_THRESHOLD: f64 = 0.3;
pub const DEFAULT_CORE_FALLBACK_ACTION: &str = "action_default_fallback";

/// Settings of the rule policy, with Rasa's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulePolicyConfig {
    pub core_fallback_threshold: f64,
    pub core_fallback_action_name: String,
    pub enable_fallback_prediction: bool,
    /// Rules may hold at most one user turn.
    pub restrict_rules: bool,
    /// Refuse to train when a rule and a story predict different actions for the same state.
    pub check_for_contradictions: bool,
}

impl Default for RulePolicyConfig {
    fn default() -> Self {
        Self {
            core_fallback_threshold: DEFAULT_CORE_FALLBACK_THRESHOLD,
            core_fallback_action_name: DEFAULT_CORE_FALLBACK_ACTION.to_owned(),
            enable_fallback_prediction: true,
            restrict_rules: true,
            check_for_contradictions: true,
        }
    }
}

/// A trained rule policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RulePolicy {
    pub config: RulePolicyConfig,
    rules: Vec<RuleTurn>,
}

/// A rule broken at training time (`restrict_rules`, contradictions).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleError(pub String);

impl RulePolicy {
    pub fn train(
        domain: &Domain,
        project: &Project,
        config: RulePolicyConfig,
    ) -> Result<Self, RuleError> {
        if config.restrict_rules {
            for rule in &project.rules {
                let user_turns = rule
                    .steps
                    .iter()
                    .filter(|s| matches!(s.kind, StepKind::User { .. }))
                    .count();
                if user_turns > 1 {
                    return Err(RuleError(format!(
                        "{}: rule '{}' has {user_turns} user messages; a rule may hold one (split it into several rules, write it as a story, or set `restrict_rules: false` on RulePolicy)",
                        rule.pos, rule.name
                    )));
                }
            }
        }
        let rules: Vec<RuleTurn> = project
            .rules
            .iter()
            .flat_map(|r| rule_turns(domain, r))
            .collect();
        let policy = Self { config, rules };
        if policy.config.check_for_contradictions {
            policy.check_contradictions(domain, &project.stories)?;
        }
        Ok(policy)
    }

    /// Stories and rules must agree: where a rule matches a story's state, the story must
    /// continue with the rule's action.
    fn check_contradictions(
        &self,
        domain: &Domain,
        stories: &[rusa_project::Story],
    ) -> Result<(), RuleError> {
        let mut problems = Vec::new();
        for (story, steps) in unfold_stories(stories) {
            for turn in story_turns(domain, &steps) {
                if let Some(rule) = self.best_rule(&turn.states, 0)
                    && rule.action != turn.action
                    && !problems.iter().any(|p: &String| p.contains(&rule.rule))
                {
                    problems.push(format!(
                        "  - story '{}' runs '{}' at line {} where rule '{}' runs '{}'",
                        story.name, turn.action, turn.pos.line, rule.rule, rule.action
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(RuleError(format!(
                "rules and stories contradict each other:\n{}\nmake them agree, or turn the check off with `check_for_contradictions: false`",
                problems.join("\n")
            )))
        }
    }

    /// The number of rule predictions learned.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The most states any rule has.
    pub fn longest_rule(&self) -> usize {
        self.rules.iter().map(|r| r.states.len()).max().unwrap_or(0)
    }

    /// The prediction for the latest `states` of a conversation that had `earlier` states
    /// before them (at least [`RulePolicy::longest_rule`] states must be given).
    pub fn predict(
        &self,
        states: &[DialogueState],
        earlier: usize,
        tracker: &DialogueStateTracker,
    ) -> PolicyPrediction {
        let current = states.last();
        if let Some(active) = tracker.active_loop().filter(|l| !l.rejected) {
            let action = if tracker.latest_action_name() == Some(active.name.as_str()) {
                ACTION_LISTEN
            } else {
                &active.name
            };
            return PolicyPrediction::new(action, 1.0, "RulePolicy");
        }
        if let Some(state) = current.filter(|s| s.prev_action.as_deref() == Some(ACTION_LISTEN)) {
            let builtin = match state.intent.as_deref() {
                Some("restart") => Some("action_restart"),
                Some("back") => Some("action_back"),
                Some("session_start") => Some("action_session_start"),
                _ => None,
            };
            if let Some(action) = builtin {
                return PolicyPrediction::new(action, 1.0, "RulePolicy");
            }
        }
        if let Some(rule) = self.best_rule(states, earlier) {
            return PolicyPrediction::new(&rule.action, 1.0, "RulePolicy");
        }
        let confidence = if self.config.enable_fallback_prediction {
            self.config.core_fallback_threshold
        } else {
            0.0
        };
        PolicyPrediction::new(
            &self.config.core_fallback_action_name,
            confidence,
            "RulePolicy",
        )
    }

    /// The most specific matching rule: the most states, then the most features (a rule
    /// with a condition beats the same rule without); the first written wins a tie.
    fn best_rule(&self, states: &[DialogueState], earlier: usize) -> Option<&RuleTurn> {
        let mut best: Option<(&RuleTurn, (usize, usize))> = None;
        for rule in &self.rules {
            if !rule_matches(rule, states, earlier) {
                continue;
            }
            let key = (
                rule.states.len(),
                rule.states.iter().map(feature_count).sum(),
            );
            if best.is_none_or(|(_, b)| key > b) {
                best = Some((rule, key));
            }
        }
        best.map(|(r, _)| r)
    }
}

/// How many features a (partial) rule state fixes.
fn feature_count(state: &DialogueState) -> usize {
    usize::from(state.prev_action.is_some())
        + usize::from(state.intent.is_some())
        + usize::from(state.text.is_some())
        + usize::from(state.entities.is_some())
        + state.slots.len()
        + usize::from(state.active_loop.is_some())
}

/// A rule's states match the end of the conversation's, state by state (and, for a
/// `conversation_start` rule, the whole conversation: no `earlier` states).
fn rule_matches(rule: &RuleTurn, states: &[DialogueState], earlier: usize) -> bool {
    let k = rule.states.len();
    if k == 0 || k > states.len() || (rule.conversation_start && k != states.len() + earlier) {
        return false;
    }
    rule.states
        .iter()
        .zip(&states[states.len() - k..])
        .all(|(r, s)| r.matches(s))
}
