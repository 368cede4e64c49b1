//! `RulePolicy`: rules always win, loops run to their end, and when nothing is confident
//! the assistant falls back.
//!
//! Prediction, in order (Rasa's):
//! 1. The built-in rules: intent `restart` → `action_restart`, `back` → `action_back`,
//!    `session_start` → `action_session_start`.
//! 2. An active, not rejected loop: run it when the user has spoken; listen after it ran.
//! 3. The matching rule with the most states (the most specific). While a loop is active,
//!    a rule that would listen and says nothing about the loop runs the loop instead, so a
//!    form interrupted by a rule asks its question again.
//! 4. `core_fallback_action_name` with confidence `core_fallback_threshold`, so that any
//!    other policy that is more confident wins (`enable_fallback_prediction`).
//!
//! A rule that does not start the conversation may begin with an action: that is what came
//! before (Rasa's `...`), kept in the rule's first state and never predicted by the rule.

use rusa_project::dialogue::{
    ACTION_LISTEN, DialogueState, RuleTurn, rule_turns, story_turns, unfold_stories,
};
use rusa_project::{Domain, Project, Rule, StepKind};
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
    /// Where rules or stories run something other than the active loop after an action
    /// inside it (Rasa's `do_not_predict_loop_action`): there a general rule's listening
    /// does not become the loop.
    #[serde(default)]
    not_the_loop: Vec<LoopException>,
}

/// The states after which a rule or story does not return to the active loop: the previous
/// action of the state before (if any) and the current state.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoopException {
    before: Option<String>,
    state: DialogueState,
}

impl LoopException {
    /// From a prediction of a rule or story: an action other than the active loop, not
    /// right after the user spoke.
    fn of(states: &[DialogueState], action: &str) -> Option<Self> {
        let state = states.last()?;
        let Some(Some(active)) = &state.active_loop else {
            return None;
        };
        if action == active || state.prev_action.as_deref() == Some(ACTION_LISTEN) {
            return None;
        }
        let before = states
            .len()
            .checked_sub(2)
            .and_then(|i| states[i].prev_action.clone());
        Some(Self {
            before,
            state: state.clone(),
        })
    }

    fn applies(&self, states: &[DialogueState]) -> bool {
        let Some(current) = states.last() else {
            return false;
        };
        if !self.state.matches(current) {
            return false;
        }
        match &self.before {
            None => true,
            Some(before) => {
                states.len() >= 2 && states[states.len() - 2].prev_action.as_ref() == Some(before)
            }
        }
    }
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
        let written: Vec<(&Rule, Vec<RuleTurn>)> = project
            .rules
            .iter()
            .map(|r| (r, rule_turns(domain, r)))
            .collect();
        let ambiguous = ambiguous_turns(&written);
        let mut rules: Vec<RuleTurn> = written.iter().flat_map(|(_, t)| t.clone()).collect();
        if config.check_for_contradictions {
            if !ambiguous.is_empty() {
                return Err(contradiction(
                    ambiguous
                        .iter()
                        .map(|(a, b)| {
                            format!(
                                "  - rule '{}' runs '{}' at line {} where rule '{}' runs '{}' (both after {})",
                                b.1.rule,
                                b.1.action,
                                b.0.pos.line,
                                a.1.rule,
                                a.1.action,
                                a.1.states.last().map_or_else(String::new, DialogueState::describe)
                            )
                        })
                        .collect(),
                ));
            }
        } else {
            // As Rasa's lookup does: a state that rules continue differently predicts nothing.
            rules.retain(|t| {
                !ambiguous
                    .iter()
                    .any(|(a, b)| same_key(a.1, t) || same_key(b.1, t))
            });
        }
        let mut not_the_loop: Vec<LoopException> = rules
            .iter()
            .filter_map(|t| LoopException::of(&t.states, &t.action))
            .collect();
        for (_, steps) in unfold_stories(&project.stories) {
            for turn in story_turns(domain, &steps) {
                not_the_loop.extend(LoopException::of(&turn.states, &turn.action));
            }
        }
        let mut policy = Self {
            config,
            rules,
            not_the_loop,
        };
        if policy.config.check_for_contradictions {
            policy.check_contradictions(domain, &project.stories, &written)?;
        }
        Ok(policy)
    }

    /// Stories and rules must agree: where a rule applies in a story's (or another rule's)
    /// state, the story must continue with the rule's action, as Rasa's check does. A rule
    /// that begins with an action and listens after it gives way to a story that continues
    /// that action otherwise, when the rule goes on after the user's message (Rasa drops
    /// that rule's prediction).
    fn check_contradictions(
        &mut self,
        domain: &Domain,
        stories: &[rusa_project::Story],
        written: &[(&Rule, Vec<RuleTurn>)],
    ) -> Result<(), RuleError> {
        let mut problems = Vec::new();
        let mut dropped: Vec<usize> = Vec::new();
        for (rule, turns) in written {
            let earlier = usize::from(!rule.conversation_start);
            for turn in turns {
                let states: Vec<DialogueState> = turn.states.iter().map(as_conversation).collect();
                if let Some((action, other)) =
                    self.checked_prediction(&states, earlier, &turn.action)
                    && action != turn.action
                    && !problems
                        .iter()
                        .any(|p: &String| p.contains(&format!("'{}'", other.rule)))
                {
                    problems.push(format!(
                        "  - rule '{}' runs '{}' at line {} where rule '{}' runs '{action}'",
                        rule.name, turn.action, rule.pos.line, other.rule
                    ));
                }
            }
        }
        for (story, steps) in unfold_stories(stories) {
            for turn in story_turns(domain, &steps) {
                let Some((action, other)) = self.checked_prediction(&turn.states, 0, &turn.action)
                else {
                    continue;
                };
                if action == turn.action {
                    continue;
                }
                if let Some(i) = self.gives_way(other) {
                    if !dropped.contains(&i) {
                        dropped.push(i);
                    }
                    continue;
                }
                if !problems
                    .iter()
                    .any(|p: &String| p.contains(&format!("'{}'", other.rule)))
                {
                    problems.push(format!(
                        "  - story '{}' runs '{}' at line {} where rule '{}' runs '{action}'",
                        story.name, turn.action, turn.pos.line, other.rule
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(contradiction(problems));
        }
        dropped.sort_unstable();
        for i in dropped.into_iter().rev() {
            let turn = self.rules.remove(i);
            tracing::debug!(
                rule = turn.rule.as_str(),
                after = turn.states[0].describe(),
                "a story continues differently after the action this rule begins with; the rule does not listen there"
            );
        }
        Ok(())
    }

    /// What the rules predict for a conversation's states during the contradiction check,
    /// and the rule: an active loop runs unless the story does something else there (then
    /// the loop is taken as rejected, as Rasa's check emulates).
    fn checked_prediction(
        &self,
        states: &[DialogueState],
        earlier: usize,
        gold: &str,
    ) -> Option<(String, &RuleTurn)> {
        let current = states.last()?;
        let active = current.active_loop.clone().flatten();
        if let Some(active) = &active
            && (gold == active || current.prev_action.as_deref() == Some(active.as_str()))
        {
            // The loop's own business (run it, or listen after it).
            return None;
        }
        self.rule_prediction(states, earlier, active.as_deref())
    }

    /// The index of `turn` when it is a rule's "listen after the action it begins with"
    /// and the rule goes on after the user's message: a story may continue otherwise there.
    fn gives_way(&self, turn: &RuleTurn) -> Option<usize> {
        if turn.action != ACTION_LISTEN || turn.states.len() != 1 || turn.conversation_start {
            return None;
        }
        let longer = self
            .rules
            .iter()
            .any(|r| r.states.len() > 1 && r.states[0] == turn.states[0]);
        if !longer {
            return None;
        }
        self.rules.iter().position(|r| std::ptr::eq(r, turn))
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
        if let Some(state) = current.filter(|s| s.prev_action.as_deref() == Some(ACTION_LISTEN)) {
            let builtin = match state.intent.as_deref() {
                Some("restart") => Some("action_restart"),
                Some("back") => Some("action_back"),
                Some("session_start") => Some("action_session_start"),
                _ => None,
            };
            if let Some(action) = builtin {
                tracing::debug!(action, "predicted the default action of the intent");
                return PolicyPrediction::new(action, 1.0, "RulePolicy");
            }
        }
        if let Some(active) = tracker.active_loop().filter(|l| !l.rejected) {
            let action = if tracker.latest_action_name() == Some(active.name.as_str()) {
                ACTION_LISTEN
            } else {
                &active.name
            };
            tracing::debug!(
                action,
                active_loop = active.name.as_str(),
                "predicted by the active loop"
            );
            return PolicyPrediction::new(action, 1.0, "RulePolicy");
        }
        if let Some((action, rule)) =
            self.rule_prediction(states, earlier, tracker.active_loop_name())
        {
            tracing::debug!(
                rule = rule.rule.as_str(),
                action = action.as_str(),
                "a rule applies"
            );
            let mut prediction = PolicyPrediction::new(&action, 1.0, "RulePolicy");
            prediction.rule = Some(rule.rule.clone());
            return prediction;
        }
        tracing::debug!("no rule applies");
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

    /// The action of the most specific matching rule, and the rule. While `active_loop` is
    /// active (and was rejected), a rule that would listen and does not name the loop in its
    /// last state runs the loop instead (Rasa's "listen from a general rule"), unless a rule
    /// or story goes on otherwise in this state (then nothing).
    fn rule_prediction(
        &self,
        states: &[DialogueState],
        earlier: usize,
        active_loop: Option<&str>,
    ) -> Option<(String, &RuleTurn)> {
        let rule = self.best_rule(states, earlier)?;
        if let Some(active) = active_loop
            && rule.action == ACTION_LISTEN
            && !matches!(
                rule.states.last().and_then(|s| s.active_loop.as_ref()),
                Some(Some(_))
            )
        {
            if self.not_the_loop.iter().any(|e| e.applies(states)) {
                // A rule or story goes on otherwise here: the rules predict nothing.
                return None;
            }
            return Some((active.to_owned(), rule));
        }
        Some((rule.action.clone(), rule))
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

fn contradiction(problems: Vec<String>) -> RuleError {
    RuleError(format!(
        "rules and stories contradict each other:\n{}\nmake them agree, or turn the check off with `check_for_contradictions: false`",
        problems.join("\n")
    ))
}

/// Two rule predictions from the same states (the same start) with different actions.
fn same_key(a: &RuleTurn, b: &RuleTurn) -> bool {
    a.states == b.states && a.conversation_start == b.conversation_start
}

type WrittenTurn<'a> = (&'a Rule, &'a RuleTurn);

/// Pairs of rule predictions that rules make from the same states but with different
/// actions (the first written first): Rasa refuses to train them.
fn ambiguous_turns<'a>(
    written: &'a [(&'a Rule, Vec<RuleTurn>)],
) -> Vec<(WrittenTurn<'a>, WrittenTurn<'a>)> {
    let all: Vec<WrittenTurn<'a>> = written
        .iter()
        .flat_map(|(r, turns)| turns.iter().map(move |t| (*r, t)))
        .collect();
    let mut pairs = Vec::new();
    for (i, b) in all.iter().enumerate() {
        if let Some(a) = all[..i]
            .iter()
            .find(|a| same_key(a.1, b.1) && a.1.action != b.1.action)
        {
            pairs.push((*a, *b));
        }
    }
    pairs
}

/// A rule's partial state read as a conversation's state: what it leaves open is not there.
fn as_conversation(state: &DialogueState) -> DialogueState {
    let mut full = state.clone();
    full.slots.retain(|_, v| v != "null");
    if full.entities.is_none() {
        full.entities = Some(Vec::new());
    }
    if full.active_loop.is_none() {
        full.active_loop = Some(None);
    }
    full
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
