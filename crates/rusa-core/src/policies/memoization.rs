//! `MemoizationPolicy` and `AugmentedMemoizationPolicy`: remember the stories.
//!
//! The policy learns, for every action of every story, the last `max_history` dialogue
//! states before it. When a conversation's last states are exactly such a window, it
//! predicts the story's action with confidence 1. Windows that stories continue with
//! different actions are forgotten (they are ambiguous). The augmented variant also tries
//! the conversation's history cut at earlier user turns, so that a story that starts in the
//! middle of a conversation is still recognised.

use std::collections::HashMap;

use rusa_project::Domain;
use rusa_project::dialogue::{ACTION_LISTEN, DialogueState, story_turns, unfold_stories};
use serde::{Deserialize, Serialize};

use super::PolicyPrediction;

/// `max_history` of the memoization policies when the config does not set it.
pub const DEFAULT_MAX_HISTORY: usize = 5;

/// A trained memoization policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemoizationPolicy {
    pub max_history: usize,
    pub augmented: bool,
    /// Window of states → action. Stored as a list (JSON has no structured map keys).
    lookup: Vec<(Vec<DialogueState>, String)>,
    #[serde(skip)]
    index: HashMap<Vec<DialogueState>, usize>,
}

impl MemoizationPolicy {
    pub fn name(&self) -> &'static str {
        if self.augmented {
            "AugmentedMemoizationPolicy"
        } else {
            "MemoizationPolicy"
        }
    }

    /// Learns the windows of every story.
    pub fn train(
        domain: &Domain,
        stories: &[rusa_project::Story],
        max_history: usize,
        augmented: bool,
    ) -> Self {
        let mut table: HashMap<Vec<DialogueState>, Option<String>> = HashMap::new();
        let mut order: Vec<Vec<DialogueState>> = Vec::new();
        for (_, steps) in unfold_stories(stories) {
            for turn in story_turns(domain, &steps) {
                let key = window(&turn.states, max_history).to_vec();
                match table.get_mut(&key) {
                    Some(existing) => {
                        if existing.as_deref() != Some(turn.action.as_str()) {
                            // Stories disagree: the window predicts nothing.
                            *existing = None;
                        }
                    }
                    None => {
                        order.push(key.clone());
                        table.insert(key, Some(turn.action));
                    }
                }
            }
        }
        let lookup = order
            .into_iter()
            .filter_map(|k| table.remove(&k).flatten().map(|a| (k, a)))
            .collect();
        let mut policy = Self {
            max_history,
            augmented,
            lookup,
            index: HashMap::new(),
        };
        policy.build_index();
        policy
    }

    /// Rebuilds the lookup index (after deserializing).
    pub fn build_index(&mut self) {
        self.index = self
            .lookup
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.clone(), i))
            .collect();
    }

    /// The number of remembered windows.
    pub fn len(&self) -> usize {
        self.lookup.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lookup.is_empty()
    }

    pub fn predict(&self, states: &[DialogueState]) -> Option<PolicyPrediction> {
        if let Some(action) = self.recall(window(states, self.max_history)) {
            return Some(PolicyPrediction::new(action, 1.0, self.name()));
        }
        if !self.augmented {
            return None;
        }
        // Forget the history before each earlier user turn, most recent history kept longest.
        let n = states.len();
        let earliest = n.saturating_sub(self.max_history);
        for start in earliest + 1..n {
            if states[start].prev_action.as_deref() == Some(ACTION_LISTEN)
                && let Some(action) = self.recall(&states[start..])
            {
                return Some(PolicyPrediction::new(action, 1.0, self.name()));
            }
        }
        None
    }

    fn recall(&self, key: &[DialogueState]) -> Option<&str> {
        self.index.get(key).map(|&i| self.lookup[i].1.as_str())
    }
}

fn window(states: &[DialogueState], max_history: usize) -> &[DialogueState] {
    &states[states.len().saturating_sub(max_history.max(1))..]
}
