//! `ResponseSelector`: picks the response of a retrieval intent (`faq/ask_x` →
//! `utter_faq/ask_x`).

use serde::{Deserialize, Serialize};

use crate::classifiers::logistic::{
    DEFAULT_RANKING_LENGTH, optimizer_from_params, seed_from_params,
};
use crate::component::NluComponent;
use crate::error::Result;
use crate::message::{
    Message, ResponseRanking, ResponseSelectorOutput, SelectedResponse, SelectorResult,
};
use crate::params::Params;
use crate::softmax::{OptimizerConfig, SentenceEncoder, Softmax, ranked};
use crate::training::TrainingView;

/// Learns, from the examples of retrieval intents, which response key (`faq/ask_x`) a
/// message asks for, with the same softmax regression as the intent classifier, over the
/// sentence features. With `retrieval_intent` set it learns only that intent's keys and
/// reports under that name; otherwise it learns all of them and reports under `default`.
/// The `responses` of the output are left `None`: the caller fills them from the domain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponseSelector {
    pub retrieval_intent: Option<String>,
    pub optimizer: OptimizerConfig,
    pub ranking_length: usize,
    pub random_seed: Option<u64>,
    keys: Vec<String>,
    all_retrieval_intents: Vec<String>,
    encoder: SentenceEncoder,
    model: Softmax,
}

impl Default for ResponseSelector {
    fn default() -> Self {
        Self {
            retrieval_intent: None,
            optimizer: OptimizerConfig::default(),
            ranking_length: DEFAULT_RANKING_LENGTH,
            random_seed: None,
            keys: Vec::new(),
            all_retrieval_intents: Vec::new(),
            encoder: SentenceEncoder::default(),
            model: Softmax::default(),
        }
    }
}

/// A stable id for a response key (FNV-1a), for the ranking's `id` field.
fn key_id(key: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

impl ResponseSelector {
    pub(crate) fn from_params(p: &Params<'_>) -> Result<Self> {
        Ok(Self {
            retrieval_intent: p.opt_str("retrieval_intent")?,
            optimizer: optimizer_from_params(p)?,
            ranking_length: p.usize("ranking_length", DEFAULT_RANKING_LENGTH)?,
            random_seed: seed_from_params(p)?,
            ..Self::default()
        })
    }

    /// The response keys it chooses from.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    fn output_key(&self) -> &str {
        self.retrieval_intent.as_deref().unwrap_or("default")
    }
}

impl NluComponent for ResponseSelector {
    fn name(&self) -> &'static str {
        "ResponseSelector"
    }

    fn train(&mut self, data: &TrainingView, seed: u64) -> Result<()> {
        let mut all: Vec<String> = data
            .examples
            .iter()
            .filter(|e| e.response_key().is_some())
            .map(|e| e.base_intent().to_owned())
            .collect();
        all.sort();
        all.dedup();
        self.all_retrieval_intents = all;
        let examples: Vec<_> = data
            .examples
            .iter()
            .filter(|e| {
                e.response_key().is_some()
                    && self
                        .retrieval_intent
                        .as_deref()
                        .is_none_or(|r| r == e.base_intent())
            })
            .collect();
        let mut keys: Vec<String> = examples.iter().map(|e| e.intent.clone()).collect();
        keys.sort();
        keys.dedup();
        self.encoder = SentenceEncoder::fit(examples.iter().map(|e| &e.message));
        let xs: Vec<_> = examples
            .iter()
            .map(|e| self.encoder.encode(&e.message))
            .collect();
        let ys: Vec<u32> = examples
            .iter()
            .map(|e| {
                keys.binary_search(&e.intent)
                    .expect("every example's key is in the sorted list") as u32
            })
            .collect();
        self.model = Softmax::train(
            &xs,
            &ys,
            self.encoder.dim(),
            keys.len(),
            &self.optimizer,
            self.random_seed.unwrap_or(seed),
        );
        self.keys = keys;
        Ok(())
    }

    fn process(&self, message: &mut Message) {
        let result = match self.keys.len() {
            0 => SelectorResult::empty(),
            n => {
                let probs = if n == 1 {
                    vec![1.0]
                } else {
                    self.model.predict(&self.encoder.encode(message))
                };
                let order = ranked(&probs);
                let best = order[0];
                SelectorResult {
                    response: SelectedResponse {
                        responses: None,
                        confidence: probs[best] as f64,
                        intent_response_key: Some(self.keys[best].clone()),
                        utter_action: format!("utter_{}", self.keys[best]),
                    },
                    ranking: order
                        .into_iter()
                        .take(self.ranking_length.max(1))
                        .map(|i| ResponseRanking {
                            id: key_id(&self.keys[i]),
                            confidence: probs[i] as f64,
                            intent_response_key: self.keys[i].clone(),
                        })
                        .collect(),
                }
            }
        };
        let output = message
            .response_selector
            .get_or_insert_with(|| ResponseSelectorOutput {
                all_retrieval_intents: Vec::new(),
                selectors: Default::default(),
            });
        output.all_retrieval_intents = self.all_retrieval_intents.clone();
        output
            .selectors
            .insert(self.output_key().to_owned(), result);
    }
}
