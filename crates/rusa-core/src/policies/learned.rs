//! `LogisticRegressionPolicy`: a learned dialogue policy that generalises beyond the
//! stories.
//!
//! Each prediction point of the stories becomes a sparse binary feature vector of the last
//! `max_history` dialogue states (for each position back in time: previous action, intent
//! or text, entities, slot values, active loop), labelled with the action the story took.
//! A multinomial logistic regression (softmax, L2-regularised, full-batch gradient descent
//! with Adam — deterministic) learns the next action from them. Unlike memoization it also
//! answers for states that no story contains exactly, with a confidence that says how sure
//! it is.

use std::collections::BTreeMap;

use rusa_project::dialogue::{ACTION_LISTEN, DialogueState, story_turns, unfold_stories};
use rusa_project::{Domain, Story};
use serde::{Deserialize, Serialize};

use super::PolicyPrediction;

pub const DEFAULT_MAX_HISTORY: usize = 5;
pub const DEFAULT_EPOCHS: usize = 200;
pub const DEFAULT_LEARNING_RATE: f32 = 0.05;
pub const DEFAULT_L2: f32 = 1e-4;

/// Settings of the learned policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearnedPolicyConfig {
    pub max_history: usize,
    pub epochs: usize,
    pub learning_rate: f32,
    pub l2: f32,
}

impl Default for LearnedPolicyConfig {
    fn default() -> Self {
        Self {
            max_history: DEFAULT_MAX_HISTORY,
            epochs: DEFAULT_EPOCHS,
            learning_rate: DEFAULT_LEARNING_RATE,
            l2: DEFAULT_L2,
        }
    }
}

/// A trained logistic regression over dialogue history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogisticRegressionPolicy {
    pub config: LearnedPolicyConfig,
    features: BTreeMap<String, u32>,
    actions: Vec<String>,
    /// Row-major `actions × (features + 1)`; the last column is the bias.
    weights: Vec<f32>,
}

impl LogisticRegressionPolicy {
    pub const NAME: &'static str = "LogisticRegressionPolicy";

    /// Trains on every prediction point of the stories. A project without stories gets a
    /// policy that predicts nothing.
    pub fn train(domain: &Domain, stories: &[Story], config: LearnedPolicyConfig) -> Self {
        let mut examples: Vec<(Vec<String>, String)> = Vec::new();
        for (_, steps) in unfold_stories(stories) {
            for turn in story_turns(domain, &steps) {
                examples.push((featurize(&turn.states, config.max_history), turn.action));
            }
        }
        let mut features = BTreeMap::new();
        let mut actions: Vec<String> = examples.iter().map(|(_, a)| a.clone()).collect();
        actions.sort();
        actions.dedup();
        for (names, _) in &examples {
            for name in names {
                let next = features.len() as u32;
                features.entry(name.clone()).or_insert(next);
            }
        }
        let mut policy = Self {
            config,
            features,
            actions,
            weights: Vec::new(),
        };
        let encoded: Vec<(Vec<u32>, usize)> = examples
            .iter()
            .map(|(names, action)| {
                (
                    policy.encode(names),
                    policy
                        .actions
                        .binary_search(action)
                        .expect("collected above"),
                )
            })
            .collect();
        policy.fit(&encoded);
        policy
    }

    fn width(&self) -> usize {
        self.features.len() + 1
    }

    fn encode(&self, names: &[String]) -> Vec<u32> {
        let mut idx: Vec<u32> = names
            .iter()
            .filter_map(|n| self.features.get(n).copied())
            .collect();
        idx.sort_unstable();
        idx.dedup();
        idx
    }

    fn fit(&mut self, data: &[(Vec<u32>, usize)]) {
        let (k, d) = (self.actions.len(), self.width());
        self.weights = vec![0.0; k * d];
        if data.is_empty() || k < 2 {
            return;
        }
        let (mut m, mut v) = (vec![0.0f32; k * d], vec![0.0f32; k * d]);
        let (beta1, beta2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let n = data.len() as f32;
        let mut grad = vec![0.0f32; k * d];
        let mut probs = vec![0.0f32; k];
        for epoch in 1..=self.config.epochs {
            grad.iter_mut().for_each(|g| *g = 0.0);
            for (x, y) in data {
                self.scores(x, &mut probs);
                softmax(&mut probs);
                for (a, p) in probs.iter().enumerate() {
                    let err = p - if a == *y { 1.0 } else { 0.0 };
                    let row = a * d;
                    for &f in x {
                        grad[row + f as usize] += err;
                    }
                    grad[row + d - 1] += err;
                }
            }
            let (b1t, b2t) = (
                1.0 - beta1.powi(epoch as i32),
                1.0 - beta2.powi(epoch as i32),
            );
            for i in 0..k * d {
                let g = grad[i] / n + self.config.l2 * self.weights[i];
                m[i] = beta1 * m[i] + (1.0 - beta1) * g;
                v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
                self.weights[i] -=
                    self.config.learning_rate * (m[i] / b1t) / ((v[i] / b2t).sqrt() + eps);
            }
        }
    }

    fn scores(&self, x: &[u32], out: &mut [f32]) {
        let d = self.width();
        for (a, s) in out.iter_mut().enumerate() {
            let row = &self.weights[a * d..(a + 1) * d];
            *s = row[d - 1] + x.iter().map(|&f| row[f as usize]).sum::<f32>();
        }
    }

    /// The most probable next action and its probability; `None` when nothing was learned.
    pub fn predict(&self, states: &[DialogueState]) -> Option<PolicyPrediction> {
        if self.actions.is_empty() || self.weights.is_empty() {
            return None;
        }
        let x = self.encode(&featurize(states, self.config.max_history));
        let mut probs = vec![0.0f32; self.actions.len()];
        self.scores(&x, &mut probs);
        // Right after the user spoke, listening again would leave them unanswered: stories
        // never do that, so it is not a candidate (the others are renormalised).
        let user_just_spoke = states.last().is_some_and(|s| {
            s.prev_action.as_deref() == Some(ACTION_LISTEN)
                && (s.intent.is_some() || s.text.is_some())
        });
        if user_just_spoke && let Some(i) = self.actions.iter().position(|a| a == ACTION_LISTEN) {
            probs[i] = f32::NEG_INFINITY;
        }
        softmax(&mut probs);
        let (best, p) = probs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
        Some(PolicyPrediction::new(
            &self.actions[best],
            f64::from(*p),
            Self::NAME,
        ))
    }

    /// The actions the policy can predict.
    pub fn actions(&self) -> &[String] {
        &self.actions
    }
}

fn softmax(v: &mut [f32]) {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in v.iter_mut() {
        *x /= sum;
    }
}

/// The feature names of the last `max_history` states; position 0 is the current state.
fn featurize(states: &[DialogueState], max_history: usize) -> Vec<String> {
    let mut out = Vec::new();
    for (back, state) in states.iter().rev().take(max_history.max(1)).enumerate() {
        if let Some(a) = &state.prev_action {
            out.push(format!("{back}|prev|{a}"));
        }
        if let Some(i) = &state.intent {
            out.push(format!("{back}|intent|{i}"));
        }
        if let Some(t) = &state.text {
            out.push(format!("{back}|text|{t}"));
        }
        for e in state.entities.iter().flatten() {
            out.push(format!("{back}|entity|{e}"));
        }
        for (k, v) in &state.slots {
            out.push(format!("{back}|slot|{k}={v}"));
        }
        if let Some(Some(l)) = &state.active_loop {
            out.push(format!("{back}|loop|{l}"));
        }
    }
    out
}
