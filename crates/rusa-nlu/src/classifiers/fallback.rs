//! `FallbackClassifier`: `nlu_fallback` when the intent classifier is unsure.

use serde::{Deserialize, Serialize};

use crate::component::NluComponent;
use crate::error::Result;
use crate::message::{IntentScore, Message};
use crate::params::Params;
use crate::training::TrainingView;

/// The intent the fallback classifier predicts.
pub const FALLBACK_INTENT: &str = "nlu_fallback";

/// Replaces the intent by `nlu_fallback` (with confidence `threshold`) when the top
/// confidence is below `threshold` (default 0.3) or the top two are closer than
/// `ambiguity_threshold` (default 0.1). As in Rasa, `nlu_fallback` is put first in the
/// ranking and the classifier's ranking is kept after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FallbackClassifier {
    pub threshold: f64,
    pub ambiguity_threshold: f64,
}

impl Default for FallbackClassifier {
    fn default() -> Self {
        Self {
            threshold: 0.3,
            ambiguity_threshold: 0.1,
        }
    }
}

impl FallbackClassifier {
    pub(crate) fn from_params(p: &Params<'_>) -> Result<Self> {
        let d = Self::default();
        Ok(Self {
            threshold: p.f64("threshold", d.threshold)?,
            ambiguity_threshold: p.f64("ambiguity_threshold", d.ambiguity_threshold)?,
        })
    }

    /// Whether this message should fall back.
    pub fn should_fallback(&self, message: &Message) -> bool {
        let Some(intent) = &message.intent else {
            return false;
        };
        if intent.confidence < self.threshold {
            return true;
        }
        match message.intent_ranking.get(1) {
            Some(second) => intent.confidence - second.confidence < self.ambiguity_threshold,
            None => false,
        }
    }
}

impl NluComponent for FallbackClassifier {
    fn name(&self) -> &'static str {
        "FallbackClassifier"
    }

    fn train(&mut self, _data: &TrainingView, _seed: u64) -> Result<()> {
        Ok(())
    }

    fn process(&self, message: &mut Message) {
        if self.should_fallback(message) {
            let fallback = IntentScore {
                name: FALLBACK_INTENT.to_owned(),
                confidence: self.threshold,
            };
            message.intent = Some(fallback.clone());
            message.intent_ranking.insert(0, fallback);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(scores: &[(&str, f64)]) -> Message {
        let ranking: Vec<IntentScore> = scores
            .iter()
            .map(|(n, c)| IntentScore {
                name: (*n).into(),
                confidence: *c,
            })
            .collect();
        Message {
            intent: ranking.first().cloned(),
            intent_ranking: ranking,
            ..Message::new("x")
        }
    }

    #[test]
    fn thresholds() {
        let f = FallbackClassifier::default();
        let mut m = msg(&[("greet", 0.9), ("bye", 0.05)]);
        f.process(&mut m);
        assert_eq!(m.intent.as_ref().unwrap().name, "greet");

        let mut m = msg(&[("greet", 0.25), ("bye", 0.05)]);
        f.process(&mut m);
        assert_eq!(m.intent.as_ref().unwrap().name, FALLBACK_INTENT);
        assert_eq!(m.intent.as_ref().unwrap().confidence, 0.3);
        assert_eq!(m.intent_ranking.len(), 3);
        assert_eq!(m.intent_ranking[1].name, "greet");

        let mut m = msg(&[("greet", 0.5), ("bye", 0.45)]);
        f.process(&mut m);
        assert_eq!(m.intent.unwrap().name, FALLBACK_INTENT, "ambiguous");

        let mut m = msg(&[("greet", 0.5), ("bye", 0.35)]);
        f.process(&mut m);
        assert_eq!(m.intent.unwrap().name, "greet");
    }
}
