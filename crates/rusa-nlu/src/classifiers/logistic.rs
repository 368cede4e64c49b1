//! `LogisticRegressionClassifier`: multinomial logistic regression over sparse features.

use serde::{Deserialize, Serialize};

use crate::component::NluComponent;
use crate::error::Result;
use crate::message::{IntentScore, Message};
use crate::params::Params;
use crate::softmax::{OptimizerConfig, SentenceEncoder, Softmax, ranked};
use crate::training::TrainingView;

/// Rasa's `ranking_length` default: how many intents the ranking lists.
pub const DEFAULT_RANKING_LENGTH: usize = 10;

/// Predicts the intent from the sentence features of all featurizers before it, with a
/// softmax (multinomial logistic) regression trained by mini-batch Adam with L2.
/// Retrieval intents are learned as their base intent (`faq/ask_x` → `faq`).
///
/// Parameters: `epochs` (0 = automatic: 20,000 / examples, within 10..=30), `batch_size`
/// (32), `learning_rate` (0 = automatic: 25 / updates, within 0.01..=0.1), `l2` (1e-5), `ranking_length` (10), `random_seed`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogisticRegressionClassifier {
    pub optimizer: OptimizerConfig,
    pub ranking_length: usize,
    pub random_seed: Option<u64>,
    intents: Vec<String>,
    encoder: SentenceEncoder,
    model: Softmax,
}

impl Default for LogisticRegressionClassifier {
    fn default() -> Self {
        Self {
            optimizer: OptimizerConfig::default(),
            ranking_length: DEFAULT_RANKING_LENGTH,
            random_seed: None,
            intents: Vec::new(),
            encoder: SentenceEncoder::default(),
            model: Softmax::default(),
        }
    }
}

pub(crate) fn optimizer_from_params(p: &Params<'_>) -> Result<OptimizerConfig> {
    let d = OptimizerConfig::default();
    Ok(OptimizerConfig {
        epochs: p.usize("epochs", d.epochs)?,
        batch_size: p.usize("batch_size", d.batch_size)?.max(1),
        learning_rate: p.f64("learning_rate", d.learning_rate as f64)? as f32,
        l2: p.f64("l2", d.l2 as f64)? as f32,
    })
}

pub(crate) fn seed_from_params(p: &Params<'_>) -> Result<Option<u64>> {
    Ok(match p.opt_u64("random_seed")? {
        Some(s) => Some(s),
        None => p.opt_u64("random_state")?,
    })
}

impl LogisticRegressionClassifier {
    pub(crate) fn from_params(p: &Params<'_>) -> Result<Self> {
        Ok(Self {
            optimizer: optimizer_from_params(p)?,
            ranking_length: p.usize("ranking_length", DEFAULT_RANKING_LENGTH)?,
            random_seed: seed_from_params(p)?,
            ..Self::default()
        })
    }

    /// The intents it knows, in class order.
    pub fn intents(&self) -> &[String] {
        &self.intents
    }
}

impl NluComponent for LogisticRegressionClassifier {
    fn name(&self) -> &'static str {
        "LogisticRegressionClassifier"
    }

    fn train(&mut self, data: &TrainingView, seed: u64) -> Result<()> {
        let mut intents: Vec<String> = data
            .examples
            .iter()
            .map(|e| e.base_intent().to_owned())
            .collect();
        intents.sort();
        intents.dedup();
        self.encoder = SentenceEncoder::fit(data.examples.iter().map(|e| &e.message));
        let xs: Vec<_> = data
            .examples
            .iter()
            .map(|e| self.encoder.encode(&e.message))
            .collect();
        let ys: Vec<u32> = data
            .examples
            .iter()
            .map(|e| {
                intents
                    .binary_search_by(|i| i.as_str().cmp(e.base_intent()))
                    .expect("every example's intent is in the sorted list") as u32
            })
            .collect();
        self.model = Softmax::train(
            &xs,
            &ys,
            self.encoder.dim(),
            intents.len(),
            &self.optimizer,
            self.random_seed.unwrap_or(seed),
        );
        self.intents = intents;
        Ok(())
    }

    fn process(&self, message: &mut Message) {
        match self.intents.len() {
            0 => return,
            1 => {
                let only = IntentScore {
                    name: self.intents[0].clone(),
                    confidence: 1.0,
                };
                message.intent = Some(only.clone());
                message.intent_ranking = vec![only];
                return;
            }
            _ => {}
        }
        let probs = self.model.predict(&self.encoder.encode(message));
        let ranking: Vec<IntentScore> = ranked(&probs)
            .into_iter()
            .take(self.ranking_length.max(1))
            .map(|i| IntentScore {
                name: self.intents[i].clone(),
                confidence: probs[i] as f64,
            })
            .collect();
        message.intent = ranking.first().cloned();
        message.intent_ranking = ranking;
    }
}
