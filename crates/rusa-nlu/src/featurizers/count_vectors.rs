//! `CountVectorsFeaturizer`: bag of word or character n-grams with a learned vocabulary.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::component::NluComponent;
use crate::error::Result;
use crate::message::{FeatureBlock, Message, Token};
use crate::params::Params;
use crate::training::TrainingView;
use crate::vocab::Vocab;

/// What the n-grams are made of (Rasa's `analyzer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Analyzer {
    /// Word n-grams over the tokens.
    Word,
    /// Character n-grams over the tokens joined by spaces.
    Char,
    /// Character n-grams inside each token padded by spaces (`" word "`).
    CharWb,
}

/// The parameters of a [`CountVectorsFeaturizer`], with Rasa's names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountVectorsConfig {
    /// `analyzer`: `word` (default), `char` or `char_wb`.
    pub analyzer: Analyzer,
    /// `min_ngram`, default 1.
    pub min_ngram: usize,
    /// `max_ngram`, default 1.
    pub max_ngram: usize,
    /// `lowercase`, default true.
    pub lowercase: bool,
    /// `OOV_token`: unknown words are replaced by it at prediction time (word analyzer).
    pub oov_token: Option<String>,
    /// `OOV_words`: words replaced by the OOV token during training.
    pub oov_words: Vec<String>,
    /// `max_features`: keep only the most frequent n-grams.
    pub max_features: Option<usize>,
    /// `min_df`: an n-gram must occur in at least this many examples (default 1).
    pub min_df: usize,
    /// `max_df`: an n-gram in more than this fraction of examples is dropped (default 1.0).
    pub max_df: f64,
}

impl Default for CountVectorsConfig {
    fn default() -> Self {
        Self {
            analyzer: Analyzer::Word,
            min_ngram: 1,
            max_ngram: 1,
            lowercase: true,
            oov_token: None,
            oov_words: Vec::new(),
            max_features: None,
            min_df: 1,
            max_df: 1.0,
        }
    }
}

impl CountVectorsConfig {
    pub(crate) fn from_params(p: &Params<'_>) -> Result<Self> {
        let d = Self::default();
        let analyzer = match p.str("analyzer", "word")?.as_str() {
            "word" => Analyzer::Word,
            "char" => Analyzer::Char,
            "char_wb" => Analyzer::CharWb,
            other => {
                return Err(p.invalid(
                    "analyzer",
                    format!("must be word, char or char_wb, found '{other}'"),
                ));
            }
        };
        let min_ngram = p.usize("min_ngram", d.min_ngram)?.max(1);
        let max_ngram = p.usize("max_ngram", d.max_ngram)?;
        if max_ngram < min_ngram {
            return Err(p.invalid("max_ngram", "must not be smaller than min_ngram"));
        }
        // min_df may be a count or (as in scikit-learn) a fraction; a fraction is applied
        // as a count of 1, which is what it means for the data sizes of assistants.
        let min_df = match p.map.get("min_df") {
            Some(v) if v.is_u64() => v.as_u64().unwrap_or(1) as usize,
            _ => 1,
        };
        let max_df = match p.map.get("max_df") {
            Some(v) if v.is_f64() => p.f64("max_df", 1.0)?,
            _ => 1.0,
        };
        Ok(Self {
            analyzer,
            min_ngram,
            max_ngram,
            lowercase: p.bool("lowercase", d.lowercase)?,
            oov_token: p.opt_str("OOV_token")?,
            oov_words: p.str_list("OOV_words")?,
            max_features: p.opt_u64("max_features")?.map(|n| n as usize),
            min_df: min_df.max(1),
            max_df,
        })
    }
}

/// Counts word or character n-grams of a message against a vocabulary learned in
/// training. Adds one [`FeatureBlock`]: sentence features (counts of all n-grams) and
/// token features (counts of the n-grams inside each token: its word for `word`, its
/// character n-grams for `char_wb` and `char`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CountVectorsFeaturizer {
    pub config: CountVectorsConfig,
    vocab: Vocab,
}

impl CountVectorsFeaturizer {
    pub fn new(config: CountVectorsConfig) -> Self {
        Self {
            config,
            vocab: Vocab::default(),
        }
    }

    /// The learned vocabulary, in feature-index order.
    pub fn vocabulary(&self) -> &[String] {
        self.vocab.terms()
    }

    fn words(&self, tokens: &[Token], training: bool) -> Vec<String> {
        tokens
            .iter()
            .map(|t| {
                let w = if self.config.lowercase {
                    t.text.to_lowercase()
                } else {
                    t.text.clone()
                };
                match &self.config.oov_token {
                    Some(oov) if training && self.config.oov_words.contains(&w) => oov.clone(),
                    Some(oov)
                        if !training
                            && self.config.analyzer == Analyzer::Word
                            && self.vocab.get(&w).is_none() =>
                    {
                        oov.clone()
                    }
                    _ => w,
                }
            })
            .collect()
    }

    /// Calls `f` with each n-gram of the message (repeats included) and, when the n-gram
    /// lies inside one token, that token's index.
    fn for_each_ngram(
        &self,
        tokens: &[Token],
        training: bool,
        mut f: impl FnMut(&str, Option<usize>),
    ) {
        let words = self.words(tokens, training);
        let (lo, hi) = (self.config.min_ngram, self.config.max_ngram);
        let mut buf = String::new();
        let mut chars: Vec<char> = Vec::new();
        match self.config.analyzer {
            Analyzer::Word => {
                for n in lo..=hi {
                    for (start, window) in words.windows(n).enumerate() {
                        buf.clear();
                        for (i, w) in window.iter().enumerate() {
                            if i > 0 {
                                buf.push(' ');
                            }
                            buf.push_str(w);
                        }
                        f(&buf, (n == 1).then_some(start));
                    }
                }
            }
            Analyzer::CharWb => {
                for (t, w) in words.iter().enumerate() {
                    chars.clear();
                    chars.push(' ');
                    chars.extend(w.chars());
                    chars.push(' ');
                    for n in lo..=hi {
                        // As scikit-learn: a word shorter than n gives the padded word once.
                        if chars.len() < n {
                            buf.clear();
                            buf.extend(chars.iter());
                            f(&buf, Some(t));
                            continue;
                        }
                        for window in chars.windows(n) {
                            buf.clear();
                            buf.extend(window.iter());
                            f(&buf, Some(t));
                        }
                    }
                }
            }
            Analyzer::Char => {
                // Character n-grams of the joined text; those inside a token are also
                // that token's features.
                let mut owner: Vec<Option<usize>> = Vec::new();
                for (t, w) in words.iter().enumerate() {
                    if t > 0 {
                        chars.push(' ');
                        owner.push(None);
                    }
                    for c in w.chars() {
                        chars.push(c);
                        owner.push(Some(t));
                    }
                }
                for n in lo..=hi {
                    for (start, window) in chars.windows(n).enumerate() {
                        buf.clear();
                        buf.extend(window.iter());
                        let first = owner[start];
                        let same = first.is_some() && owner[start + n - 1] == first;
                        f(&buf, if same { first } else { None });
                    }
                }
            }
        }
    }
}

impl NluComponent for CountVectorsFeaturizer {
    fn name(&self) -> &'static str {
        "CountVectorsFeaturizer"
    }

    fn train(&mut self, data: &TrainingView, _seed: u64) -> Result<()> {
        // term -> (document frequency, total count, last example seen)
        let mut stats: HashMap<String, (usize, usize, usize)> = HashMap::new();
        for (i, ex) in data.examples.iter().enumerate() {
            self.for_each_ngram(&ex.message.tokens, true, |g, _| {
                if let Some(s) = stats.get_mut(g) {
                    s.1 += 1;
                    if s.2 != i {
                        s.0 += 1;
                        s.2 = i;
                    }
                } else {
                    stats.insert(g.to_owned(), (1, 1, i));
                }
            });
        }
        let n_docs = data.examples.len().max(1) as f64;
        let mut kept: Vec<(String, usize)> = stats
            .into_iter()
            .filter(|(_, (df, _, _))| {
                *df >= self.config.min_df && (*df as f64) / n_docs <= self.config.max_df
            })
            .map(|(t, (_, count, _))| (t, count))
            .collect();
        if let Some(max) = self.config.max_features.filter(|m| kept.len() > *m) {
            kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            kept.truncate(max);
        }
        let mut terms: Vec<String> = kept.into_iter().map(|(t, _)| t).collect();
        if let Some(oov) = &self.config.oov_token {
            let oov = if self.config.lowercase {
                oov.to_lowercase()
            } else {
                oov.clone()
            };
            if !terms.contains(&oov) {
                terms.push(oov);
            }
        }
        terms.sort();
        self.vocab = Vocab::new(terms);
        Ok(())
    }

    fn process(&self, message: &mut Message) {
        let mut pairs = Vec::new();
        let mut per_token: Vec<Vec<(u32, f32)>> = vec![Vec::new(); message.tokens.len()];
        self.for_each_ngram(&message.tokens, false, |g, token| {
            if let Some(i) = self.vocab.get(g) {
                pairs.push((i, 1.0));
                if let Some(t) = token {
                    per_token[t].push((i, 1.0));
                }
            }
        });
        message.features.push(FeatureBlock {
            origin: "CountVectorsFeaturizer",
            dim: self.vocab.len() as u32,
            sentence: super::to_sparse(pairs),
            tokens: per_token.into_iter().map(super::to_sparse).collect(),
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
    use crate::training::TrainingExample;

    fn view(texts: &[&str]) -> TrainingView {
        TrainingView {
            examples: texts
                .iter()
                .map(|t| {
                    let mut message = Message::new(*t);
                    message.tokens = tokenize(t);
                    TrainingExample {
                        intent: "x".into(),
                        entities: Vec::new(),
                        message,
                    }
                })
                .collect(),
            ..TrainingView::default()
        }
    }

    #[test]
    fn word_bigrams_vocabulary() {
        let mut f = CountVectorsFeaturizer::new(CountVectorsConfig {
            max_ngram: 2,
            ..CountVectorsConfig::default()
        });
        f.train(&view(&["Hello there", "hello you"]), 0).unwrap();
        assert_eq!(
            f.vocabulary(),
            ["hello", "hello there", "hello you", "there", "you"]
        );
        let mut m = Message::new("hello hello there");
        m.tokens = tokenize(&m.text);
        f.process(&mut m);
        assert_eq!(m.features[0].sentence, vec![(0, 2.0), (1, 1.0), (3, 1.0)]);
        assert_eq!(m.features[0].dim, 5);
        assert_eq!(
            m.features[0].tokens,
            vec![vec![(0, 1.0)], vec![(0, 1.0)], vec![(3, 1.0)]]
        );
    }

    #[test]
    fn char_wb_ngrams_like_scikit_learn() {
        let mut f = CountVectorsFeaturizer::new(CountVectorsConfig {
            analyzer: Analyzer::CharWb,
            min_ngram: 2,
            max_ngram: 3,
            ..CountVectorsConfig::default()
        });
        f.train(&view(&["ab"]), 0).unwrap();
        assert_eq!(f.vocabulary(), [" a", " ab", "ab", "ab ", "b "]);
        let mut m = Message::new("ab x");
        m.tokens = tokenize(&m.text);
        f.process(&mut m);
        assert_eq!(m.features[0].tokens[0].len(), 5);
        assert!(m.features[0].tokens[1].is_empty());
        let mut f = CountVectorsFeaturizer::new(CountVectorsConfig {
            analyzer: Analyzer::CharWb,
            min_ngram: 4,
            max_ngram: 4,
            ..CountVectorsConfig::default()
        });
        f.train(&view(&["a"]), 0).unwrap();
        assert_eq!(f.vocabulary(), [" a "]);
    }

    #[test]
    fn oov_token_min_df_and_max_features() {
        let mut f = CountVectorsFeaturizer::new(CountVectorsConfig {
            oov_token: Some("oov".into()),
            oov_words: vec!["foo".into()],
            min_df: 2,
            ..CountVectorsConfig::default()
        });
        f.train(&view(&["a foo b", "a foo c", "a b"]), 0).unwrap();
        assert_eq!(f.vocabulary(), ["a", "b", "oov"]);
        let mut m = Message::new("zzz a");
        m.tokens = tokenize(&m.text);
        f.process(&mut m);
        assert_eq!(m.features[0].sentence, vec![(0, 1.0), (2, 1.0)]);

        let mut f = CountVectorsFeaturizer::new(CountVectorsConfig {
            max_features: Some(1),
            ..CountVectorsConfig::default()
        });
        f.train(&view(&["a b b", "b c"]), 0).unwrap();
        assert_eq!(f.vocabulary(), ["b"]);
    }
}
