//! `LexicalSyntacticFeaturizer`: per-token features over a window of neighbouring tokens.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::component::NluComponent;
use crate::error::Result;
use crate::message::{FeatureBlock, Message, Token};
use crate::params::Params;
use crate::training::TrainingView;
use crate::vocab::Vocab;

/// The feature names this featurizer knows (Rasa's, without the spaCy `pos` features).
pub const LEXICAL_FEATURES: &[&str] = &[
    "BOS", "EOS", "low", "upper", "title", "digit", "prefix5", "prefix2", "suffix5", "suffix3",
    "suffix2",
];

/// Rasa's default `features`: for the token before, the token itself and the token after.
pub fn default_lexical_features() -> Vec<Vec<String>> {
    let owned = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    vec![
        owned(&["low", "title", "upper"]),
        owned(&["BOS", "EOS", "low", "upper", "title", "digit"]),
        owned(&["low", "title", "upper"]),
    ]
}

/// The value of a lexical feature of one token, as text.
pub(crate) fn lexical_value(name: &str, tokens: &[Token], i: usize) -> Option<String> {
    let text = &tokens[i].text;
    let low = || text.to_lowercase();
    let prefix = |n: usize| low().chars().take(n).collect::<String>();
    let suffix = |n: usize| {
        let l: Vec<char> = low().chars().collect();
        l[l.len().saturating_sub(n)..].iter().collect::<String>()
    };
    let flag = |b: bool| Some(if b { "1" } else { "0" }.to_owned());
    match name {
        "BOS" => flag(i == 0),
        "EOS" => flag(i + 1 == tokens.len()),
        "low" => Some(low()),
        "upper" => {
            flag(text.chars().any(char::is_alphabetic) && !text.chars().any(char::is_lowercase))
        }
        "title" => {
            let mut cs = text.chars();
            flag(cs.next().is_some_and(char::is_uppercase) && !cs.any(char::is_uppercase))
        }
        "digit" => flag(!text.is_empty() && text.chars().all(char::is_numeric)),
        "prefix5" => Some(prefix(5)),
        "prefix2" => Some(prefix(2)),
        "suffix5" => Some(suffix(5)),
        "suffix3" => Some(suffix(3)),
        "suffix2" => Some(suffix(2)),
        _ => None,
    }
}

/// One-hot lexical and syntactic features of each token and its neighbours (`features`,
/// a list of windows centred on the token). Like Rasa's, it produces token (sequence)
/// features only; its block's sentence features are empty, so the intent classifier is
/// not affected by it (pooling them into sentence features lowered BANKING77 accuracy).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LexicalSyntacticFeaturizer {
    /// `features`: per window position (before … after), the feature names.
    pub features: Vec<Vec<String>>,
    vocab: Vocab,
}

impl Default for LexicalSyntacticFeaturizer {
    fn default() -> Self {
        Self::new(default_lexical_features())
    }
}

impl LexicalSyntacticFeaturizer {
    pub fn new(features: Vec<Vec<String>>) -> Self {
        Self {
            features,
            vocab: Vocab::default(),
        }
    }

    pub(crate) fn from_params(p: &Params<'_>) -> Result<Self> {
        let Some(value) = p.map.get("features").filter(|v| !v.is_null()) else {
            return Ok(Self::default());
        };
        let windows: Vec<Vec<String>> = serde_json::from_value(value.clone())
            .map_err(|_| p.invalid("features", "must be a list of lists of feature names"))?;
        for name in windows.iter().flatten() {
            if !LEXICAL_FEATURES.contains(&name.as_str()) {
                if name.starts_with("pos") {
                    tracing::warn!(feature = %name, "LexicalSyntacticFeaturizer: part-of-speech features need spaCy; rusa skips them");
                    continue;
                }
                return Err(p.invalid(
                    "features",
                    format!(
                        "unknown feature '{name}' (known: {})",
                        LEXICAL_FEATURES.join(", ")
                    ),
                ));
            }
        }
        Ok(Self::new(windows))
    }

    /// Calls `f` with the feature keys of token `i`.
    fn for_each_key(&self, tokens: &[Token], i: usize, mut f: impl FnMut(String)) {
        let half = self.features.len() as isize / 2;
        for (w, names) in self.features.iter().enumerate() {
            let pos = w as isize - half;
            let j = i as isize + pos;
            if j < 0 || j as usize >= tokens.len() {
                continue;
            }
            for name in names {
                if let Some(value) = lexical_value(name, tokens, j as usize) {
                    f(format!("{pos}:{name}:{value}"));
                }
            }
        }
    }
}

impl NluComponent for LexicalSyntacticFeaturizer {
    fn name(&self) -> &'static str {
        "LexicalSyntacticFeaturizer"
    }

    fn train(&mut self, data: &TrainingView, _seed: u64) -> Result<()> {
        let mut keys = BTreeSet::new();
        for ex in &data.examples {
            for i in 0..ex.message.tokens.len() {
                self.for_each_key(&ex.message.tokens, i, |k| {
                    keys.insert(k);
                });
            }
        }
        self.vocab = Vocab::new(keys.into_iter().collect());
        Ok(())
    }

    fn process(&self, message: &mut Message) {
        let mut token_features = Vec::with_capacity(message.tokens.len());
        for i in 0..message.tokens.len() {
            let mut pairs = Vec::new();
            self.for_each_key(&message.tokens, i, |k| {
                if let Some(idx) = self.vocab.get(&k) {
                    pairs.push((idx, 1.0));
                }
            });
            token_features.push(super::to_sparse(pairs));
        }
        message.features.push(FeatureBlock {
            origin: "LexicalSyntacticFeaturizer",
            dim: self.vocab.len() as u32,
            sentence: Vec::new(),
            tokens: token_features,
        });
    }

    fn annotates_training_data(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::tokenize;

    #[test]
    fn token_features_use_the_window() {
        let tokens = tokenize("Hello NEW york 42");
        assert_eq!(lexical_value("title", &tokens, 0).as_deref(), Some("1"));
        assert_eq!(lexical_value("upper", &tokens, 1).as_deref(), Some("1"));
        assert_eq!(lexical_value("digit", &tokens, 3).as_deref(), Some("1"));
        assert_eq!(lexical_value("suffix3", &tokens, 0).as_deref(), Some("llo"));
        let f = LexicalSyntacticFeaturizer::default();
        let mut keys = Vec::new();
        f.for_each_key(&tokens, 0, |k| keys.push(k));
        assert!(keys.contains(&"0:BOS:1".to_owned()));
        assert!(keys.contains(&"1:low:new".to_owned()));
        assert!(!keys.iter().any(|k| k.starts_with("-1:")));
    }
}
